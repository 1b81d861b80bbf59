package authz

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// diffDecision compares an engine decision with the reference's and returns
// the differences ("" when none).
func diffDecision(got *Decision, want *refDecision, tenantQuestion bool) string {
	var out string
	add := func(format string, args ...any) { out += fmt.Sprintf("\n  "+format, args...) }
	if got.Allowed != want.allowed {
		add("allowed = %v, want %v", got.Allowed, want.allowed)
	}
	if r := got.RoleNames(); !slices.Equal(r, want.roles) && !(len(r) == 0 && len(want.roles) == 0) {
		add("roles = %q, want %q", r, want.roles)
	}
	if !want.allowed {
		if !slices.Equal(got.Missing, want.missing) && !(len(got.Missing) == 0 && len(want.missing) == 0) {
			add("missing = %q, want %q", got.Missing, want.missing)
		}
		if r := got.ReasonText(); r != want.reason {
			add("reason = %q, want %q", r, want.reason)
		}
	}
	if (got.EffectiveIndices == nil) != (want.effective == nil) || !slices.Equal(got.EffectiveIndices, want.effective) {
		add("effective = %q (nil %v), want %q (nil %v)", got.EffectiveIndices, got.EffectiveIndices == nil, want.effective, want.effective == nil)
	}
	if want.allowed {
		if r := restrictions(got); !dlsEqual(r, want.restrictions) && !(len(r) == 0 && len(want.restrictions) == 0) {
			add("restrictions = %+v, want %+v", r, want.restrictions)
		}
	}
	if tenantQuestion {
		if !maps.Equal(got.Tenants, want.tenants) {
			add("tenants = %v, want %v", got.Tenants, want.tenants)
		}
		if got.TenantAccess != want.access {
			add("tenant access = %q, want %q", got.TenantAccess, want.access)
		}
	}
	return out
}

// TestEvaluatorMatchesReference checks the compiled Evaluator against the
// naive reference over random configurations and requests, on the fast
// path, the role-by-role path, with explain and through EvaluateInto with a
// reused Decision. Failures print the seed (AUTHZ_SEED replays them).
func TestEvaluatorMatchesReference(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	configs, perConfig := 400, 60
	if raceEnabled || testing.Short() {
		configs = 120
	}
	var reused Decision
	failures := 0
	var allowed, restricted, reduced, tenantQs, total int
	for i := range configs {
		c := g.config()
		e, err := Compile(c.cfg, c.s)
		if err != nil {
			t.Fatal(err)
		}
		slow := *e
		slow.slowPath = true
		ref := refEvaluator(c)
		for j := range perConfig {
			req := g.request()
			want := ref.decide(&req)
			tq := req.Action == "" && req.Tenant != ""
			check := func(path string, d *Decision) {
				if diff := diffDecision(d, &want, tq); diff != "" {
					failures++
					if failures <= 5 {
						t.Errorf("seed %d config %d request %d, %s path:%s\nrequest: %s\nconfig: %s\nsettings: %+v dynamic: %+v",
							seed, i, j, path, diff, describe(&req), describeConfig(c.cfg), c.s, c.dyn)
					}
				}
			}
			d := e.Evaluate(&req)
			check("fast", &d)
			total++
			switch {
			case tq:
				tenantQs++
			case d.Allowed:
				allowed++
			}
			if len(want.restrictions) > 0 {
				restricted++
			}
			if want.effective != nil {
				reduced++
			}
			ds := slow.Evaluate(&req)
			check("slow", &ds)
			e.EvaluateInto(&req, &reused)
			check("reused", &reused)
			if j%4 == 0 {
				rx := req
				rx.Explain = true
				dx := e.Evaluate(&rx)
				check("explain", &dx)
			}
			if !tq && !req.AdminCert {
				if mr := e.MappedRoles(&req.Subject); !slices.Equal(mr, want.roles) && !(len(mr) == 0 && len(want.roles) == 0) {
					t.Errorf("seed %d config %d request %d: MappedRoles = %q, want %q", seed, i, j, mr, want.roles)
				}
			}
		}
		if failures > 5 {
			t.Fatalf("seed %d: %d differences (first 5 shown)", seed, failures)
		}
	}
	t.Logf("%d requests: %d allowed, %d tenant questions, %d with DLS/FLS, %d reduced", total, allowed, tenantQs, restricted, reduced)
}
