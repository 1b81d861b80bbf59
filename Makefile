# authzd — run `make help` for the targets.
GO          ?= go
STATICCHECK_VERSION ?= v0.8.2
GOBIN       ?= $(shell $(GO) env GOPATH)/bin
COUNT       ?= 6
FUZZTIME    ?= 30s

.PHONY: help run build test bench lint fmt fuzz e2e

help: ## show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/authzd and bin/authzctl
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authzd ./cmd/authzd
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authzctl ./cmd/authzctl

run: build ## start a three-node dev cluster with the demo config (Ctrl-C stops it)
	./bin/authzd dev

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

bench: ## run the benchmarks (benchstat-ready)
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(COUNT) -timeout 60m ./...

fuzz: ## run each fuzz test for FUZZTIME
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./events/

lint: $(GOBIN)/staticcheck ## gofmt check, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

$(GOBIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
