package authz

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mutate applies one random change to cfg (which it owns) and returns its ref.
func (g *gen) mutate(cfg *Config) Ref {
	switch g.r.IntN(6) {
	case 0, 1:
		n := g.pick(slices.Concat(genRoleNames, []string{"r5", "r6", "a0", "zz9"}))
		if g.chance(0.25) {
			delete(cfg.Roles, n)
		} else {
			cfg.Roles[n] = g.role()
		}
		return Ref{KindRoles, n}
	case 2, 3:
		n := g.pick(slices.Concat(genRoleNames, []string{"r5", "m0", "a1"}))
		if g.chance(0.25) {
			delete(cfg.RolesMapping, n)
		} else {
			cfg.RolesMapping[n] = g.mapping()
		}
		return Ref{KindRolesMapping, n}
	case 4:
		n := g.pick(genGroupNames)
		if g.chance(0.3) {
			delete(cfg.ActionGroups, n)
		} else {
			cfg.ActionGroups[n] = g.group()
		}
		return Ref{KindActionGroups, n}
	default:
		if g.chance(0.5) {
			n := g.pick(genTenants)
			if _, ok := cfg.Tenants[n]; ok {
				delete(cfg.Tenants, n)
			} else {
				cfg.Tenants[n] = Tenant{}
			}
			return Ref{KindTenants, n}
		}
		n := g.pick(genUsers)
		if g.chance(0.3) {
			delete(cfg.InternalUsers, n)
		} else {
			cfg.InternalUsers[n] = InternalUser{SecurityRoles: g.some(genRoleNames, 2)}
		}
		return Ref{KindInternalUsers, n}
	}
}

// checkEquivalent compares a (from Update) with a fresh Compile of cfg on
// random requests, Warnings, EffectivePrivileges and WhoCan.
func checkEquivalent(t *testing.T, g *gen, a *Evaluator, cfg *Config, s Settings, reqs int, where string) bool {
	t.Helper()
	b, err := Compile(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Warnings(), b.Warnings()) {
		t.Errorf("%s: warnings differ:\n%q\n%q", where, a.Warnings(), b.Warnings())
		return false
	}
	for range reqs {
		req := g.request()
		da, db := a.Evaluate(&req), b.Evaluate(&req)
		if diff := sameDecision(&da, &db); diff != "" {
			t.Errorf("%s: Update and Compile differ:%s\nrequest: %s\nconfig: %s", where, diff, describe(&req), describeConfig(cfg))
			return false
		}
		// reflect.DeepEqual first: cmp.Diff is slow, and only needed to explain.
		if pa, pb := a.EffectivePrivileges(&req.Subject), b.EffectivePrivileges(&req.Subject); !reflect.DeepEqual(pa, pb) {
			t.Errorf("%s: EffectivePrivileges differ (-update +compile):\n%s", where, cmp.Diff(pa, pb))
			return false
		}
		idx := g.pick(genIndices)
		if wa, wb := a.WhoCan(req.Action, idx), b.WhoCan(req.Action, idx); !reflect.DeepEqual(wa, wb) {
			t.Errorf("%s: WhoCan(%q, %q) differs (-update +compile):\n%s", where, req.Action, idx, cmp.Diff(wa, wb))
			return false
		}
	}
	return true
}

// TestUpdateMatchesCompile applies random sequences of changes through
// Update and checks every intermediate Evaluator against a fresh Compile,
// and that the previous Evaluator is left unchanged.
func TestUpdateMatchesCompile(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	runs, steps := 40, 25
	if raceEnabled || testing.Short() {
		runs = 8
	}
	incremental := 0
	for run := range runs {
		c := g.config()
		cfg := c.cfg
		e, err := Compile(cfg, c.s)
		if err != nil {
			t.Fatal(err)
		}
		for step := range steps {
			next := cfg.Clone()
			var refs []Ref
			for range 1 + g.r.IntN(3) {
				refs = append(refs, g.mutate(next))
			}
			probe := g.request()
			before := e.Evaluate(&probe)
			ne, err := Update(e, next, c.s, refs)
			if err != nil {
				t.Fatal(err)
			}
			if !ne.compiled {
				incremental++
			}
			where := fmt.Sprintf("seed %d run %d step %d refs %v", seed, run, step, refs)
			if !checkEquivalent(t, g, ne, next, c.s, 30, where) {
				return
			}
			if after := e.Evaluate(&probe); sameDecision(&before, &after) != "" {
				t.Fatalf("%s: Update changed the previous Evaluator:%s", where, sameDecision(&before, &after))
			}
			e, cfg = ne, next
		}
	}
	if incremental == 0 {
		t.Fatal("no Update took the incremental path")
	}
	t.Logf("%d of %d updates incremental", incremental, runs*steps)
}

// TestUpdateVectors reaches every vector's configuration through Update from
// an unrelated one and checks the vector's expectation.
func TestUpdateVectors(t *testing.T) {
	vectors := loadVectors(t)
	g := newGen(1)
	for i := range vectors {
		v := &vectors[i]
		t.Run(v.ID, func(t *testing.T) {
			cfg, s := v.config(t)
			base := g.config().cfg
			base.SecurityConfig = cfg.SecurityConfig
			prev, err := Compile(base, s)
			if err != nil {
				t.Fatal(err)
			}
			var refs []Ref
			for _, k := range Kinds {
				for n := range union(namesOf(base, k), namesOf(cfg, k)) {
					refs = append(refs, Ref{k, n})
				}
			}
			e, err := Update(prev, cfg, s, refs)
			if err != nil {
				t.Fatal(err)
			}
			if e.compiled {
				t.Fatalf("Update fell back to Compile (%d refs)", len(refs))
			}
			checkVector(t, v, e)
		})
	}
}

func namesOf(c *Config, k Kind) map[string]bool {
	out := map[string]bool{}
	var keys func(func(string) bool)
	switch k {
	case KindInternalUsers:
		keys = maps.Keys(c.InternalUsers)
	case KindRoles:
		keys = maps.Keys(c.Roles)
	case KindRolesMapping:
		keys = maps.Keys(c.RolesMapping)
	case KindActionGroups:
		keys = maps.Keys(c.ActionGroups)
	case KindTenants:
		keys = maps.Keys(c.Tenants)
	}
	for n := range keys {
		out[n] = true
	}
	return out
}

func union(a, b map[string]bool) map[string]bool {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func TestUpdateFallbacks(t *testing.T) {
	g := newGen(7)
	c := g.config()
	e, err := Compile(c.cfg, c.s)
	if err != nil {
		t.Fatal(err)
	}
	otherSettings := c.s
	otherSettings.DfmEmptyOverridesAll = !otherSettings.DfmEmptyOverridesAll
	otherConfig := c.cfg.Clone()
	otherConfig.SecurityConfig = []byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`)
	many := make([]Ref, 200)
	for i := range many {
		many[i] = Ref{KindRoles, fmt.Sprintf("x%d", i)}
	}
	tests := []struct {
		name     string
		prev     *Evaluator
		cfg      *Config
		s        Settings
		refs     []Ref
		compiled bool
	}{
		{"nil prev", nil, c.cfg, c.s, nil, true},
		{"settings changed", e, c.cfg, otherSettings, nil, true},
		{"config.yml changed", e, otherConfig, c.s, nil, true},
		{"unknown kind", e, c.cfg, c.s, []Ref{{Kind("config"), "config"}}, true},
		{"too many roles", e, c.cfg, c.s, many, true},
		{"nothing changed", e, c.cfg, c.s, nil, false},
		{"users only", e, c.cfg, c.s, []Ref{{KindInternalUsers, "u0"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ne, err := Update(tc.prev, tc.cfg, tc.s, tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			if ne.compiled != tc.compiled {
				t.Errorf("compiled = %v, want %v", ne.compiled, tc.compiled)
			}
			checkEquivalent(t, g, ne, tc.cfg, tc.s, 50, tc.name)
		})
	}
}

// TestUpdateRankExhaustion inserts names into the same gap until no rank is
// left: Update must then compile, and stay equivalent throughout.
func TestUpdateRankExhaustion(t *testing.T) {
	g := newGen(3)
	cfg := NewConfig()
	cfg.Roles["a"] = Role{ClusterPermissions: []string{"cluster:*"}}
	cfg.Roles["b"] = Role{ClusterPermissions: []string{"cluster:monitor/*"}}
	e, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	compiled := false
	name := "a"
	for i := range 40 {
		name += "a" // each new name sorts right after the previous one, before "b"
		next := cfg.Clone()
		next.Roles[name] = Role{ClusterPermissions: []string{fmt.Sprintf("cluster:x%d", i)}}
		next.RolesMapping[name] = RoleMapping{Users: []string{"u1"}}
		ne, err := Update(e, next, Settings{}, []Ref{{KindRoles, name}, {KindRolesMapping, name}})
		if err != nil {
			t.Fatal(err)
		}
		compiled = compiled || ne.compiled
		if !checkEquivalent(t, g, ne, next, Settings{}, 20, name) {
			return
		}
		u := Subject{Name: "u1"}
		if got, want := ne.MappedRoles(&u), namesSorted(next.RolesMapping); !slices.Equal(got, want) {
			t.Fatalf("step %d: MappedRoles = %q, want %q", i, got, want)
		}
		e, cfg = ne, next
	}
	if !compiled {
		t.Error("40 insertions into one gap never fell back to Compile")
	}
}

func namesSorted(m map[string]RoleMapping) []string {
	return slices.Sorted(maps.Keys(m))
}

// updateCase is one change applied by BenchmarkUpdate.
type updateCase struct {
	name   string
	change func(c *Config) []Ref
}

// benchUpdateCases change one entity of the large workload each.
var benchUpdateCases = []updateCase{
	{"one-role", func(c *Config) []Ref {
		// An auditor role: its backend role maps ~900 roles, the largest grant.
		r := c.Roles["auditor-1002"]
		r.ClusterPermissions = append(slices.Clone(r.ClusterPermissions), "cluster:monitor/state")
		c.Roles["auditor-1002"] = r
		return []Ref{{KindRoles, "auditor-1002"}}
	}},
	{"new-role", func(c *Config) []Ref {
		c.Roles["team1-new"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"team1-new-*"}, AllowedActions: []string{"read"}}}}
		c.RolesMapping["team1-new"] = RoleMapping{BackendRoles: []string{"team1-readers"}, Users: []string{"user1"}}
		return []Ref{{KindRoles, "team1-new"}, {KindRolesMapping, "team1-new"}}
	}},
	{"one-mapping", func(c *Config) []Ref {
		m := c.RolesMapping["all_search"]
		m.Users = append(slices.Clone(m.Users), "user77")
		m.BackendRoles = append(slices.Clone(m.BackendRoles), "team5-devs")
		c.RolesMapping["all_search"] = m
		return []Ref{{KindRolesMapping, "all_search"}}
	}},
	{"one-user", func(c *Config) []Ref {
		u := c.InternalUsers["user1"]
		u.SecurityRoles = []string{"all_search"}
		c.InternalUsers["user1"] = u
		return []Ref{{KindInternalUsers, "user1"}}
	}},
	{"one-actiongroup", func(c *Config) []Ref {
		g := c.ActionGroups["ag-150"]
		g.AllowedActions = append(slices.Clone(g.AllowedActions), "indices:admin/refresh*")
		c.ActionGroups["ag-150"] = g
		return []Ref{{KindActionGroups, "ag-150"}}
	}},
}

// BenchmarkUpdate measures Update applying one change to the large
// workload (from the same previous Evaluator every iteration).
func BenchmarkUpdate(b *testing.B) {
	cfg := loadBenchConfig(b, "large")
	prev, err := Compile(cfg, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	for _, uc := range benchUpdateCases {
		b.Run("large-"+uc.name, func(b *testing.B) {
			next := cfg.Clone()
			refs := uc.change(next)
			b.ReportAllocs()
			for b.Loop() {
				e, err := Update(prev, next, Settings{}, refs)
				if err != nil || e.compiled {
					b.Fatalf("Update = %v, compiled %v", err, e != nil && e.compiled)
				}
			}
		})
	}
}

// TestUpdateLarge applies each BenchmarkUpdate change to the large workload
// and checks that the result decides the workload as a fresh Compile does.
func TestUpdateLarge(t *testing.T) {
	if testing.Short() || raceEnabled {
		// Under -race the compiles take minutes; TestUpdateMatchesCompile
		// runs the same code paths there.
		t.Skip("large workload: skipped with -short and -race")
	}
	cfg := loadBenchConfig(t, "large")
	reqs, _ := loadBenchRequests(t, "large")
	prev, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, uc := range benchUpdateCases {
		t.Run(uc.name, func(t *testing.T) {
			next := cfg.Clone()
			refs := uc.change(next)
			e, err := Update(prev, next, Settings{}, refs)
			if err != nil {
				t.Fatal(err)
			}
			if e.compiled {
				t.Fatal("Update fell back to Compile")
			}
			want, err := Compile(next, Settings{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range reqs {
				a, b := e.Evaluate(&reqs[i]), want.Evaluate(&reqs[i])
				if diff := sameDecision(&a, &b); diff != "" {
					t.Fatalf("request %d: %s", i, diff)
				}
			}
		})
	}
}

// TestUpdateFoldsInternTables churns one role through many Updates, each with
// an index pattern never seen before, so the intern tables' top layer passes
// layeredTopMax and gets folded into a new base. Every step must decide as a
// compile would, the previous Evaluator must keep its own answer, and the top
// layer must stay bounded.
func TestUpdateFoldsInternTables(t *testing.T) {
	cfg := NewConfig()
	cfg.AddStatics()
	e, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(e *Evaluator, idx string) bool {
		req := Request{Subject: Subject{Name: "u", SecurityRoles: []string{"churn"}}, Action: "indices:data/read/search", Indices: []string{idx}}
		return e.Evaluate(&req).Allowed
	}
	steps := 3*layeredTopMax + 17
	for k := range steps {
		next := cfg.Clone()
		next.Roles["churn"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{fmt.Sprintf("churn-%d-*", k)}, AllowedActions: []string{"read"}}}}
		ne, err := Update(e, next, Settings{}, []Ref{{KindRoles, "churn"}})
		if err != nil {
			t.Fatal(err)
		}
		if ne.compiled {
			t.Fatalf("step %d: Update compiled from scratch; this test needs the incremental path", k)
		}
		if !decide(ne, fmt.Sprintf("churn-%d-x", k)) || decide(ne, fmt.Sprintf("churn-%d-x", k-1)) {
			t.Fatalf("step %d: the new evaluator does not decide by the new pattern only", k)
		}
		if k > 0 && !decide(e, fmt.Sprintf("churn-%d-x", k-1)) {
			t.Fatalf("step %d: Update changed the previous evaluator", k)
		}
		if n := len(ne.tab.entryByKey.top); n > layeredTopMax {
			t.Fatalf("step %d: top layer holds %d entries, more than %d", k, n, layeredTopMax)
		}
		e, cfg = ne, next
	}
	want, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []string{fmt.Sprintf("churn-%d-a", steps-1), "churn-0-a", "other"} {
		if got, exp := decide(e, idx), decide(want, idx); got != exp {
			t.Errorf("%s: after %d updates %v, compiled %v", idx, steps, got, exp)
		}
	}
}
