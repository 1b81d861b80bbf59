# authzd — run `make help` for the targets.
GO          ?= go
STATICCHECK_VERSION ?= v0.8.2
GOBIN       ?= $(shell $(GO) env GOPATH)/bin
COUNT       ?= 6
FUZZTIME    ?= 30s

IMAGE       ?= authzd:dev
COMPOSE     ?= docker-compose -f deploy/docker-compose.yml

.PHONY: help run build test bench bench-workloads pgo lint fmt fuzz e2e image compose-up compose-down

help: ## show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/authzd and bin/authzctl
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authzd ./cmd/authzd
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authzctl ./cmd/authzctl

run: build ## start a three-node dev cluster with the demo config (Ctrl-C stops it)
	./bin/authzd dev

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

e2e: ## container fault tests (needs Docker): image, three containers, seeded nemesis; E2E_SEED replays
	$(GO) test -tags e2e -count=1 -timeout 20m -v ./test/e2e/...

SHARED      ?= ../shared

# The binaries are built with profile-guided optimization from
# cmd/*/default.pgo (go build's -pgo=auto); the benchmarks use the same
# profile, so that they measure what ships.
PGO         ?= $(CURDIR)/cmd/authzd/default.pgo

bench: bench-workloads ## run the benchmarks (benchstat-ready) and the bench workloads
	$(GO) test -pgo=$(PGO) -run='^$$' -bench=. -benchmem -count=$(COUNT) -timeout 60m ./...

bench-workloads: ## authzctl bench on $(SHARED)/bench/{small,medium,large}: 0 mismatches, latency percentiles
	@if [ -d $(SHARED)/bench ]; then \
	  $(GO) run ./cmd/authzctl bench -w $(SHARED)/bench/small -w $(SHARED)/bench/medium -w $(SHARED)/bench/large; \
	else echo "SKIP bench-workloads: $(SHARED)/bench not found"; fi

pgo: ## refresh the PGO profile (cmd/authzd, cmd/authzctl default.pgo) from the decision benchmarks; needs $(SHARED)/bench
	@[ -d $(SHARED)/bench ] || { echo "pgo: $(SHARED)/bench not found"; exit 1; }
	@tmp=$$(mktemp -d) && \
	$(GO) test -run='^$$' -bench='BenchmarkEvaluate$$' -benchtime=3s -cpuprofile=$$tmp/engine.pprof -o $$tmp/authz.test ./authz/ >/dev/null && \
	$(GO) test -run='^$$' -bench='BenchmarkEvaluateHandler' -benchtime=3s -cpuprofile=$$tmp/handler.pprof -o $$tmp/api.test ./node/api/ >/dev/null && \
	$(GO) tool pprof -proto $$tmp/engine.pprof $$tmp/handler.pprof > cmd/authzd/default.pgo && \
	cp cmd/authzd/default.pgo cmd/authzctl/default.pgo && rm -rf $$tmp && \
	echo "wrote cmd/authzd/default.pgo and cmd/authzctl/default.pgo"

fuzz: ## run each fuzz test for FUZZTIME
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./events/
	$(GO) test -run='^$$' -fuzz=FuzzDecisionRequestScan -fuzztime=$(FUZZTIME) ./node/api/
	$(GO) test -run='^$$' -fuzz=FuzzAppendJSONString -fuzztime=$(FUZZTIME) ./node/api/

lint: $(GOBIN)/staticcheck ## gofmt check, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(GOBIN)/staticcheck ./...

$(GOBIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

image: build ## build the authzd:dev image (FROM scratch, static binary)
	rm -rf bin/image && mkdir -p bin/image/data && cp bin/authzd bin/image/
	docker build -q -t $(IMAGE) -f deploy/Dockerfile bin/image

compose-up: image ## start three containers (deploy/docker-compose.yml) and print how to reach them
	@./bin/authzd certs --dir deploy/data/certs --nodes n1,n2,n3 >/dev/null
	@mkdir -p deploy/data/n1 deploy/data/n2 deploy/data/n3
	@[ -s deploy/data/admin-password ] || (umask 077; ./bin/authzd password > deploy/data/admin-password)
	@if [ "$$(id -u)" = 0 ]; then chown -R 65532:65532 deploy/data/n1 deploy/data/n2 deploy/data/n3 deploy/data/certs; fi
	@uid=$$(id -u); gid=$$(id -g); [ "$$uid" = 0 ] && uid=65532 gid=65532; \
	  AUTHZD_UID=$$uid AUTHZD_GID=$$gid AUTHZD_INITIAL_ADMIN_PASSWORD="$$(cat deploy/data/admin-password)" $(COMPOSE) up -d
	@echo "authzd on https://127.0.0.1:9200 (and :9201, :9202); admin password in deploy/data/admin-password"
	@echo "  curl --cacert deploy/data/certs/ca.pem -u \"admin:$$(cat deploy/data/admin-password)\" https://127.0.0.1:9200/_plugins/_authz/cluster"

compose-down: ## stop the containers of compose-up (data stays in deploy/data)
	$(COMPOSE) down
