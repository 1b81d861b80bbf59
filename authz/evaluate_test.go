package authz

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

type benchRequest struct {
	User         string   `json:"user"`
	BackendRoles []string `json:"backend_roles"`
	Action       string   `json:"action"`
	Indices      []string `json:"indices"`
	Expect       bool     `json:"expect"`
}

// loadBenchConfig reads shared/bench/<size>/ with the test-only node-by-node
// YAML loader (the product loader lives elsewhere).
func loadBenchConfig(tb testing.TB, size string) *Config {
	tb.Helper()
	dir := filepath.Join(sharedDir, "bench", size)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("%s not found", dir)
	}
	cfg := NewConfig()
	for _, f := range []struct {
		name string
		load func(string) error
	}{
		{"action_groups.yml", func(p string) error { return loadYAMLMap(p, cfg.ActionGroups) }},
		{"roles.yml", func(p string) error { return loadYAMLMap(p, cfg.Roles) }},
		{"roles_mapping.yml", func(p string) error { return loadYAMLMap(p, cfg.RolesMapping) }},
		{"internal_users.yml", func(p string) error { return loadYAMLMap(p, cfg.InternalUsers) }},
	} {
		if err := f.load(filepath.Join(dir, f.name)); err != nil {
			tb.Fatalf("%s: %v", f.name, err)
		}
	}
	return cfg
}

func loadBenchRequests(tb testing.TB, size string) ([]Request, []bool) {
	tb.Helper()
	f, err := os.Open(filepath.Join(sharedDir, "bench", size, "requests.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var reqs []Request
	var want []bool
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var br benchRequest
		if err := json.Unmarshal(sc.Bytes(), &br); err != nil {
			tb.Fatal(err)
		}
		reqs = append(reqs, Request{
			Subject: Subject{Name: br.User, BackendRoles: br.BackendRoles},
			Action:  br.Action,
			Indices: br.Indices,
		})
		want = append(want, br.Expect)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return reqs, want
}

var benchSizes = []string{"small", "medium", "large"}

func BenchmarkEvaluate(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size, func(b *testing.B) {
			e, err := Compile(loadBenchConfig(b, size), Settings{})
			if err != nil {
				b.Fatal(err)
			}
			reqs, want := loadBenchRequests(b, size)
			checkBenchDecisions(b, e, reqs, want)
			var d Decision
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.EvaluateInto(&reqs[i], &d)
				i++
				if i == len(reqs) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size, func(b *testing.B) {
			cfg := loadBenchConfig(b, size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(cfg, Settings{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchDecision is the decision the bench's reference evaluator makes
// (shared/bench/README.md "Semantics"): it judges every request with indices
// as an index request. The plugin classifies indices:data/read/mget and
// indices:data/read/scroll as cluster actions even when indices are given
// (R-EVAL-4; the per-index work is authorized on the shard-level
// sub-actions), so for those requests the bench expectation is checked
// against the index-level evaluation alone. All other requests are checked
// against the product decision.
func benchDecision(e *Evaluator, req *Request) (allowed bool, product bool) {
	action := rewriteAction(req.Action)
	if !isClusterAction(action) || len(req.Indices) == 0 {
		return e.Evaluate(req).Allowed, true
	}
	var d Decision
	var rs roleSet
	e.resolveRoles(&req.Subject, &rs)
	c := evalCtx{e: e, req: req, rs: rs}
	c.indexCheck(&d, req.Indices, []string{action}, false, nil)
	return d.Allowed, false
}

// checkBenchDecisions verifies every expected decision of a workload.
func checkBenchDecisions(tb testing.TB, e *Evaluator, reqs []Request, want []bool) {
	tb.Helper()
	bad, indexOnly := 0, 0
	for i := range reqs {
		got, product := benchDecision(e, &reqs[i])
		if !product {
			indexOnly++
		}
		if got != want[i] {
			bad++
			if bad <= 10 {
				tb.Errorf("request %d (%s %v %s %v): allowed = %v, want %v", i, reqs[i].Subject.Name, reqs[i].Subject.BackendRoles, reqs[i].Action, reqs[i].Indices, got, want[i])
			}
		}
	}
	if bad > 0 {
		tb.Fatalf("%d of %d decisions differ", bad, len(reqs))
	}
	tb.Logf("%d decisions match (%d cluster-classified requests with indices checked index-only)", len(reqs), indexOnly)
}

// TestBenchDecisions checks the bench workloads' expected decisions without
// running the benchmark (large only without -short).
func TestBenchDecisions(t *testing.T) {
	for _, size := range benchSizes {
		t.Run(size, func(t *testing.T) {
			if size == "large" && testing.Short() {
				t.Skip("short")
			}
			e, err := Compile(loadBenchConfig(t, size), Settings{})
			if err != nil {
				t.Fatal(err)
			}
			reqs, want := loadBenchRequests(t, size)
			checkBenchDecisions(t, e, reqs, want)
		})
	}
}

// allocConfig is a small configuration exercising the common decision paths.
func allocConfig(t testing.TB) *Evaluator {
	t.Helper()
	cfg := NewConfig()
	loadStatics(t, cfg)
	cfg.Roles["logs_reader"] = Role{
		ClusterPermissions: []string{"cluster_composite_ops_ro", "cluster_monitor"},
		IndexPermissions: []IndexPermission{
			{IndexPatterns: []string{"logs-*", "metrics-2024.??"}, AllowedActions: []string{"read", "indices_monitor"}},
			{IndexPatterns: []string{"/audit-[0-9]+/"}, AllowedActions: []string{"search"}},
		},
	}
	cfg.Roles["own"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"home-${user.name}"}, AllowedActions: []string{"crud"}}}}
	cfg.RolesMapping["logs_reader"] = RoleMapping{BackendRoles: []string{"analyst", "team-*"}}
	cfg.RolesMapping["own"] = RoleMapping{Users: []string{"*"}}
	e, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEvaluateAllocs pins the allocation-free paths of EvaluateInto (with a
// reused Decision): allowed cluster and index requests allocate nothing.
// Denials allocate the reason text and the per-index details; a templated
// index pattern allocates when rendered, which only happens when its entry's
// actions match the request.
func TestEvaluateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	e := allocConfig(t)
	subject := Subject{Name: "ann", BackendRoles: []string{"analyst", "dev"}}
	tests := []struct {
		name      string
		req       Request
		allowed   bool
		maxAllocs float64
	}{
		{"cluster allowed", Request{Subject: subject, Action: "cluster:monitor/health"}, true, 0},
		{"cluster allowed via group", Request{Subject: subject, Action: "indices:data/read/mget"}, true, 0},
		{"index allowed", Request{Subject: subject, Action: "indices:monitor/stats", Indices: []string{"logs-1", "metrics-2024.01"}}, true, 0},
		{"index allowed regex", Request{Subject: subject, Action: "indices:data/read/search", Indices: []string{"audit-7"}}, true, 0},
		{"cluster denied", Request{Subject: subject, Action: "cluster:admin/settings/update"}, false, 2},
		// Denied: the reason text, the per-index map and its Missing lists.
		{"index denied", Request{Subject: subject, Action: "indices:admin/delete", Indices: []string{"logs-1", "metrics-2024.01"}}, false, 5},
		// The "own" role's crud grants the action, so its ${user.name}
		// pattern is rendered: render cache, string and pattern on top.
		{"index denied with template", Request{Subject: subject, Action: "indices:data/write/index", Indices: []string{"logs-1"}}, false, 8},
		{"index allowed with template", Request{Subject: subject, Action: "indices:data/write/index", Indices: []string{"home-ann"}}, true, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decision
			e.EvaluateInto(&tc.req, &d)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, tc.allowed, d.Reason)
			}
			n := testing.AllocsPerRun(200, func() { e.EvaluateInto(&tc.req, &d) })
			if n > tc.maxAllocs {
				t.Errorf("%v allocs per run, want ≤ %v", n, tc.maxAllocs)
			}
			t.Logf("%v allocs", n)
		})
	}
}
