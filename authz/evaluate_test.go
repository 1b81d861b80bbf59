package authz

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	if !IsClusterAction(req.Action) || len(req.Indices) == 0 {
		return e.Evaluate(req).Allowed, true
	}
	return e.HasIndexPrivilege(req), false
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

// allocConfig is a small configuration exercising the common decision
// paths; dnfof turns do_not_fail_on_forbidden on.
func allocConfig(t testing.TB, dnfof bool) *Evaluator {
	t.Helper()
	cfg := NewConfig()
	cfg.AddStatics()
	cfg.Roles["logs_reader"] = Role{
		ClusterPermissions: []string{"cluster_composite_ops_ro", "cluster_monitor"},
		IndexPermissions: []IndexPermission{
			{IndexPatterns: []string{"logs-*", "metrics-2024.??"}, AllowedActions: []string{"read", "indices_monitor"}},
			{IndexPatterns: []string{"/audit-[0-9]+/"}, AllowedActions: []string{"search"}},
		},
	}
	cfg.Roles["writer"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/write/bulk*", "index"}}}}
	cfg.Roles["own"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"home-${user.name}"}, AllowedActions: []string{"crud"}}}}
	cfg.RolesMapping["logs_reader"] = RoleMapping{BackendRoles: []string{"analyst", "team-*"}}
	cfg.RolesMapping["writer"] = RoleMapping{Users: []string{"ann"}}
	cfg.RolesMapping["own"] = RoleMapping{Users: []string{"*"}}
	if dnfof {
		cfg.SecurityConfig = []byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`)
	}
	e, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEvaluateAllocs pins the allocation-free paths of EvaluateInto with a
// reused Decision: allowed and denied cluster and index requests (also when
// RoleNames and IndexDetails are asked for), bulk shard requests with their
// item actions, dnfof reductions, and
// HasIndexPrivilege and HasClusterPrivilege allocate nothing, and so do templates of the form
// prefix${user.name}suffix. Rendering any other templated index pattern
// allocates its render cache and the rendered string; the engine tries
// templated entries last, so a request the other entries decide never
// renders.
func TestEvaluateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	e, dnfof := allocConfig(t, false), allocConfig(t, true)
	subject := Subject{Name: "ann", BackendRoles: []string{"analyst", "dev"}}
	tests := []struct {
		name      string
		e         *Evaluator
		req       Request
		allowed   bool
		maxAllocs float64
	}{
		{"cluster allowed", e, Request{Subject: subject, Action: "cluster:monitor/health"}, true, 0},
		{"cluster allowed via group", e, Request{Subject: subject, Action: "indices:data/read/mget"}, true, 0},
		{"cluster denied", e, Request{Subject: subject, Action: "cluster:admin/settings/update"}, false, 0},
		{"index allowed", e, Request{Subject: subject, Action: "indices:monitor/stats", Indices: []string{"logs-1", "metrics-2024.01"}}, true, 0},
		{"index allowed regex", e, Request{Subject: subject, Action: "indices:data/read/search", Indices: []string{"audit-7"}}, true, 0},
		{"index denied", e, Request{Subject: subject, Action: "indices:admin/delete", Indices: []string{"logs-1", "metrics-2024.01"}}, false, 0},
		{"bulk shard allowed", e, Request{Subject: subject, Action: "indices:data/write/bulk[s]", Indices: []string{"logs-1"}, BulkItems: []string{"index", "create"}}, true, 0},
		{"bulk shard denied", e, Request{Subject: subject, Action: "indices:data/write/bulk[s]", Indices: []string{"logs-1"}, BulkItems: []string{"index", "delete"}}, false, 0},
		{"dnfof reduced", dnfof, Request{Subject: subject, Action: "indices:data/read/search", Indices: []string{"logs-1", "secret", "audit-7"}}, true, 0},
		{"dnfof denied", dnfof, Request{Subject: subject, Action: "indices:data/read/search", Indices: []string{"secret"}}, false, 0},
		// "home-${user.name}" is matched without rendering.
		{"index allowed with template", e, Request{Subject: subject, Action: "indices:data/write/delete", Indices: []string{"home-ann"}}, true, 0},
		{"index denied with template", e, Request{Subject: subject, Action: "indices:data/write/delete", Indices: []string{"logs-1"}}, false, 0},
		// A name with '*' widens the pattern (R-PAT-7): rendered, allocating
		// the render cache, the string and the mapped role names.
		{"index allowed with widening template", e, Request{Subject: Subject{Name: "a*"}, Action: "indices:data/write/delete", Indices: []string{"home-ann"}}, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decision
			tc.e.EvaluateInto(&tc.req, &d)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, tc.allowed, d.ReasonText())
			}
			n := testing.AllocsPerRun(200, func() { tc.e.EvaluateInto(&tc.req, &d) })
			if n > tc.maxAllocs {
				t.Errorf("EvaluateInto: %v allocs per run, want ≤ %v", n, tc.maxAllocs)
			}
			if tc.maxAllocs == 0 {
				if n := testing.AllocsPerRun(200, func() { tc.e.HasIndexPrivilege(&tc.req) }); n != 0 {
					t.Errorf("HasIndexPrivilege: %v allocs per run, want 0", n)
				}
				if n := testing.AllocsPerRun(200, func() { tc.e.HasClusterPrivilege(&tc.req.Subject, tc.req.Action) }); n != 0 {
					t.Errorf("HasClusterPrivilege: %v allocs per run, want 0", n)
				}
			}
			if tc.maxAllocs == 0 {
				full := func() { tc.e.EvaluateInto(&tc.req, &d); d.RoleNames(); d.IndexDetails() }
				if n := testing.AllocsPerRun(200, full); n != 0 {
					t.Errorf("EvaluateInto with RoleNames and IndexDetails: %v allocs per run, want 0", n)
				}
			}
			if !d.Allowed {
				buf := make([]byte, 0, 256)
				if n := testing.AllocsPerRun(200, func() { buf = d.AppendReason(buf[:0]) }); n != 0 {
					t.Errorf("AppendReason: %v allocs per run, want 0", n)
				}
				if string(buf) != d.ReasonText() || d.ReasonText() != tc.e.Evaluate(&tc.req).Reason {
					t.Errorf("reason texts differ: %q, %q, %q", buf, d.ReasonText(), tc.e.Evaluate(&tc.req).Reason)
				}
			}
		})
	}
}

// sameDecision compares two engine decisions field by field ("" when equal).
func sameDecision(a, b *Decision) string {
	var out string
	add := func(format string, args ...any) { out += fmt.Sprintf("\n  "+format, args...) }
	if a.Allowed != b.Allowed {
		add("allowed %v vs %v", a.Allowed, b.Allowed)
	}
	if a.ReasonText() != b.ReasonText() {
		add("reason %q vs %q", a.ReasonText(), b.ReasonText())
	}
	if ra, rb := a.RoleNames(), b.RoleNames(); !slices.Equal(ra, rb) && !(len(ra) == 0 && len(rb) == 0) {
		add("roles %q vs %q", ra, rb)
	}
	if !slices.Equal(a.Missing, b.Missing) {
		add("missing %q vs %q", a.Missing, b.Missing)
	}
	if (a.EffectiveIndices == nil) != (b.EffectiveIndices == nil) || !slices.Equal(a.EffectiveIndices, b.EffectiveIndices) {
		add("effective %q vs %q", a.EffectiveIndices, b.EffectiveIndices)
	}
	if !maps.EqualFunc(a.IndexDetails(), b.IndexDetails(), func(x, y IndexDecision) bool {
		return x.Allowed == y.Allowed && x.SystemIndex == y.SystemIndex && slices.Equal(x.Missing, y.Missing) &&
			slices.Equal(x.DLS, y.DLS) && slices.Equal(x.FLS, y.FLS) && slices.Equal(x.MaskedFields, y.MaskedFields)
	}) {
		add("indices %+v vs %+v", a.Indices, b.Indices)
	}
	if !maps.Equal(a.Tenants, b.Tenants) || a.TenantAccess != b.TenantAccess {
		add("tenants %v %s vs %v %s", a.Tenants, a.TenantAccess, b.Tenants, b.TenantAccess)
	}
	return out
}
