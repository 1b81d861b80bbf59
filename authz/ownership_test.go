package authz

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
)

// ownershipEvaluator is the demo configuration with the users of the
// ownership seed pages mapped as the pages describe (spec/ownership.md O1:
// the async page's async_full_access is asynchronous_search_full_access).
func ownershipEvaluator(t testing.TB) *Evaluator {
	t.Helper()
	c := Demo("")
	c.RolesMapping["asynchronous_search_full_access"] = RoleMapping{Users: []string{"judy", "elon", "nobody1", "nobody2"}}
	c.RolesMapping["asynchronous_search_read_access"] = RoleMapping{Users: []string{"reader"}}
	c.RolesMapping["anomaly_full_access"] = RoleMapping{Users: []string{"alice", "bob", "carol", "rolesless"}}
	c.RolesMapping["all_access"] = RoleMapping{Users: []string{"admin"}}
	c.Normalize()
	ev, err := Compile(c, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func user(name string, backendRoles ...string) *Requester {
	return &Requester{Subject: Subject{Name: name, BackendRoles: backendRoles}}
}

func rec(kind OwnerKind, id, owner string, backendRoles ...string) *OwnerRecord {
	return &OwnerRecord{Kind: kind, ID: id, Owner: Owner{Name: owner, BackendRoles: backendRoles}}
}

func TestCheckAccess(t *testing.T) {
	ev := ownershipEvaluator(t)
	asGet, asDel := KindAsyncSearch.Actions().Get, KindAsyncSearch.Actions().Delete
	adGet := KindDetector.Actions().Get
	cases := []struct {
		name     string
		who      *Requester
		action   string
		rec      *OwnerRecord
		filterOn bool
		allowed  bool
		rule     string
		status   int
		reason   string
	}{
		// O2, the judy/elon example: disjoint backend roles.
		{"judy IT cannot see elon admin", user("judy", "IT"), asGet, rec(KindAsyncSearch, "s-elon", "elon", "admin"), false, false, "O2", 404, "Either the resource [s-elon] does not exist or you do not have access"},
		{"elon admin cannot see judy IT", user("elon", "admin"), asGet, rec(KindAsyncSearch, "s-judy", "judy", "IT"), false, false, "O2", 404, ""},
		// judy ⊇ elon.
		{"judy superset gets elon's", user("judy", "IT", "admin", "ops", "hr", "dev"), asGet, rec(KindAsyncSearch, "s-elon", "elon", "admin"), false, true, "O2", 200, ""},
		{"judy superset deletes elon's", user("judy", "IT", "admin", "ops", "hr", "dev"), asDel, rec(KindAsyncSearch, "s-elon", "elon", "admin"), false, true, "O2", 200, ""},
		{"elon cannot get judy's", user("elon", "admin"), asGet, rec(KindAsyncSearch, "s-judy", "judy", "IT", "admin", "ops", "hr", "dev"), false, false, "O2", 404, ""},
		{"elon cannot delete judy's", user("elon", "admin"), asDel, rec(KindAsyncSearch, "s-judy", "judy", "IT", "admin", "ops", "hr", "dev"), false, false, "O2", 404, ""},
		{"owner always sees own", user("judy"), asGet, rec(KindAsyncSearch, "s-judy", "judy", "IT"), false, true, "O2", 200, ""},
		{"nobody has backend roles: all see all", user("nobody1"), asGet, rec(KindAsyncSearch, "s-n2", "nobody2"), false, true, "O2", 200, ""},
		// O1 first: no action permission is 403 whatever the ownership.
		{"read access cannot delete even own", user("reader"), asDel, rec(KindAsyncSearch, "s-r", "reader"), false, false, "O1", 403,
			"no permissions for [cluster:admin/opendistro/asynchronous_search/delete] and User [name=reader, backend_roles=[], requestedTenant=null]"},
		{"opensearch/ spelling is not granted", user("judy"), "cluster:admin/opensearch/asynchronous_search/delete", rec(KindAsyncSearch, "s-judy", "judy"), false, false, "O1", 403, ""},
		{"unmapped user denied on own detector", user("mallory", "analyst"), adGet, rec(KindDetector, "d1", "mallory", "analyst"), true, false, "O1", 403, ""},
		// O3, the alice/bob example.
		{"filter off: alice sees bob's", user("alice", "analyst"), adGet, rec(KindDetector, "d-bob", "bob", "human-resources"), false, true, "none", 200, ""},
		{"filter on: alice does not see bob's", user("alice", "analyst"), adGet, rec(KindDetector, "d-bob", "bob", "human-resources"), true, false, "O3", 403, "User does not have permissions to access detector: d-bob"},
		{"filter on: bob does not see alice's", user("bob", "human-resources"), adGet, rec(KindDetector, "d-alice", "alice", "analyst"), true, false, "O3", 403, ""},
		{"filter on: shared role", user("carol", "analyst", "ops"), adGet, rec(KindDetector, "d-alice", "alice", "analyst"), true, true, "O3", 200, ""},
		{"filter on: no backend roles refused", user("rolesless"), adGet, rec(KindDetector, "d-alice", "alice", "analyst"), true, false, "O3", 403,
			"Filter by backend roles is enabled and User rolesless does not have backend roles configured"},
		// O4: admins bypass.
		{"all_access sees detector", user("admin"), adGet, rec(KindDetector, "d-bob", "bob", "human-resources"), true, true, "O4", 200, ""},
		{"all_access sees search", user("admin"), asGet, rec(KindAsyncSearch, "s-judy", "judy", "IT"), false, true, "O4", 200, ""},
		{"admin certificate", &Requester{Subject: Subject{Name: "CN=kirk"}, AdminCert: true}, asDel, rec(KindAsyncSearch, "s-judy", "judy", "IT"), false, true, "O4", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckAccess(ev, tc.who, tc.action, tc.rec, tc.filterOn)
			if got.Allowed != tc.allowed || got.Rule != tc.rule || got.Status != tc.status || (tc.reason != "" && got.Reason != tc.reason) {
				t.Fatalf("got %+v, want allowed=%v rule=%s status=%d reason=%q", got, tc.allowed, tc.rule, tc.status, tc.reason)
			}
			if !got.Allowed && got.Error() == nil {
				t.Fatal("a refusal must have an error body")
			}
		})
	}
}

func TestCheckRegister(t *testing.T) {
	ev := ownershipEvaluator(t)
	if a := CheckRegister(ev, user("judy", "IT"), KindAsyncSearch, false); !a.Allowed {
		t.Fatalf("judy may submit: %+v", a)
	}
	if a := CheckRegister(ev, user("reader"), KindAsyncSearch, false); a.Allowed || a.Status != http.StatusForbidden || a.Rule != "O1" {
		t.Fatalf("reader may not submit: %+v", a)
	}
	if a := CheckRegister(ev, user("rolesless"), KindDetector, true); a.Allowed || a.Rule != "O3" {
		t.Fatalf("no backend roles with the filter on: %+v", a)
	}
	if a := CheckRegister(ev, user("rolesless"), KindDetector, false); !a.Allowed {
		t.Fatalf("no backend roles with the filter off: %+v", a)
	}
}

func TestCheckAccessAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items on purpose, so the pooled Decision is reallocated")
	}
	ev := ownershipEvaluator(t)
	who := user("judy", "IT", "admin")
	r := rec(KindAsyncSearch, "s-elon", "elon", "admin")
	action := KindAsyncSearch.Actions().Get
	if n := testing.AllocsPerRun(200, func() { _ = CheckAccess(ev, who, action, r, false) }); n != 0 {
		t.Fatalf("CheckAccess allocates %.0f times per allowed check, want 0", n)
	}
}

// TestVisibleMatchesRules compares the index's Visible with CheckAccess's
// ownership rule applied to every record, on random data, across pages.
func TestVisibleMatchesRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	roles := []string{"a", "b", "c", "d", "e"}
	pick := func() []string {
		var out []string
		for _, r := range roles {
			if rng.IntN(3) == 0 {
				out = append(out, r)
			}
		}
		return out
	}
	x := NewOwnerIndex()
	var all []*OwnerRecord
	for i := range 3000 {
		kind := []OwnerKind{KindAsyncSearch, KindDetector}[rng.IntN(2)]
		r := &OwnerRecord{Kind: kind, ID: fmt.Sprintf("id-%05d", rng.IntN(5000)), Owner: Owner{Name: fmt.Sprintf("u%d", rng.IntN(20)), BackendRoles: pick()}}
		x = x.With(r, uint64(i+1))
		all = slices.DeleteFunc(all, func(o *OwnerRecord) bool { return o.Kind == r.Kind && o.ID == r.ID })
		all = append(all, normalizedRecord(r))
		if rng.IntN(5) == 0 { // delete a random one
			d := all[rng.IntN(len(all))]
			x = x.Without(d.Kind, d.ID, uint64(i+1))
			all = slices.DeleteFunc(all, func(o *OwnerRecord) bool { return o == d })
		}
	}
	if x.Len() != len(all) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(all))
	}
	for _, r := range all {
		if got, ok := x.Get(r.Kind, r.ID); !ok || got.Owner.Name != r.Owner.Name {
			t.Fatalf("Get %s/%s = %+v %v", r.Kind, r.ID, got, ok)
		}
	}
	for q := range 200 {
		s := &Subject{Name: fmt.Sprintf("u%d", rng.IntN(20)), BackendRoles: pick()}
		kind := []OwnerKind{KindAsyncSearch, KindDetector}[q%2]
		filterOn := q%4 == 1
		var want []string
		for _, r := range all {
			if r.Kind == kind && ownerRule(s, r, filterOn).Allowed {
				want = append(want, r.ID)
			}
		}
		slices.Sort(want)
		var got []string
		after := ""
		for {
			page, more := x.Visible(VisibleQuery{Kind: kind, Subject: s, FilterOn: filterOn, After: after, Size: 37})
			got = append(got, page...)
			if !more {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d (%s filter=%v %+v): got %d ids, want %d", q, kind, filterOn, s, len(got), len(want))
		}
	}
}
