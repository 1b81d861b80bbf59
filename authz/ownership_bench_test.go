package authz

import (
	"fmt"
	"testing"
)

// BenchmarkCheckAccess is one local ownership check: O1 through the
// evaluator, the index lookup and O2.
func BenchmarkCheckAccess(b *testing.B) {
	ev := ownershipEvaluator(b)
	x := NewOwnerIndex().With(rec(KindAsyncSearch, "s-elon", "elon", "admin"), 1)
	who := user("judy", "IT", "admin")
	action := KindAsyncSearch.Actions().Get
	b.ReportAllocs()
	for b.Loop() {
		r, _ := x.Get(KindAsyncSearch, "s-elon")
		if !CheckAccess(ev, who, action, r, false).Allowed {
			b.Fatal("denied")
		}
	}
}

// bigIndex holds n records per kind owned by 1,000 users with 50 backend
// roles, one to three roles each.
func bigIndex(b *testing.B, n int) *OwnerIndex {
	b.Helper()
	x := NewOwnerIndex()
	for i := range n {
		u := i % 1000
		roles := []string{fmt.Sprintf("r%d", u%50)}
		if u%3 == 0 {
			roles = append(roles, fmt.Sprintf("r%d", (u+7)%50))
		}
		for _, k := range []OwnerKind{KindAsyncSearch, KindDetector} {
			x = x.With(&OwnerRecord{Kind: k, ID: fmt.Sprintf("%08x", i*2654435761%(1<<32)), Owner: Owner{Name: fmt.Sprintf("u%d", u), BackendRoles: roles}}, uint64(i))
		}
	}
	return x
}

// BenchmarkVisible pages through _visible over 100k records per kind.
func BenchmarkVisible(b *testing.B) {
	x := bigIndex(b, 100_000)
	for _, tc := range []struct {
		name string
		q    VisibleQuery
	}{
		{"async_search/superset_page100", VisibleQuery{Kind: KindAsyncSearch, Subject: &Subject{Name: "x", BackendRoles: []string{"r1", "r2", "r3", "r8", "r9", "r10"}}, Size: 100}},
		{"async_search/few_visible_page100", VisibleQuery{Kind: KindAsyncSearch, Subject: &Subject{Name: "u1", BackendRoles: []string{"r1"}}, Size: 100}},
		{"detector/filter_on_page100", VisibleQuery{Kind: KindDetector, Subject: &Subject{Name: "x", BackendRoles: []string{"r1", "r2"}}, FilterOn: true, Size: 100}},
		{"detector/filter_off_page1000", VisibleQuery{Kind: KindDetector, Subject: &Subject{Name: "x"}, Size: 1000}},
		{"async_search/all_pages_superset", VisibleQuery{Kind: KindAsyncSearch, Subject: &Subject{Name: "x", BackendRoles: []string{"r1", "r2", "r3", "r8", "r9", "r10"}}, Size: 1 << 30}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q := tc.q
				q.After = "4"
				if ids, _ := x.Visible(q); len(ids) == 0 {
					b.Fatal("nothing visible")
				}
			}
		})
	}
}

// BenchmarkOwnerIndexWith is the cost of one record added to an index of
// 100k records per kind (what the KV watch pays per entry).
func BenchmarkOwnerIndexWith(b *testing.B) {
	x := bigIndex(b, 100_000)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		x = x.With(&OwnerRecord{Kind: KindDetector, ID: fmt.Sprintf("new-%d", i), Owner: Owner{Name: "u1", BackendRoles: []string{"r1"}}}, uint64(i))
	}
}
