package authz

import "testing"

// TestOwnerIndexKindLen: KindLen counts each kind's records through adds,
// replacements and removals (authzd_ownership_records reads it).
func TestOwnerIndexKindLen(t *testing.T) {
	rec := func(kind OwnerKind, id string) *OwnerRecord {
		return &OwnerRecord{Kind: kind, ID: id, Owner: Owner{Name: "u"}}
	}
	x := NewOwnerIndex()
	x = x.With(rec(KindAsyncSearch, "a"), 1)
	x = x.With(rec(KindAsyncSearch, "b"), 2)
	x = x.With(rec(KindAsyncSearch, "b"), 3) // replaces
	x = x.With(rec(KindDetector, "d"), 4)
	x = x.Without(KindAsyncSearch, "a", 5)
	for _, tc := range []struct {
		kind OwnerKind
		want int
	}{{KindAsyncSearch, 1}, {KindDetector, 1}, {KindMonitor, 0}} {
		if got := x.KindLen(tc.kind); got != tc.want {
			t.Errorf("KindLen(%s) = %d, want %d", tc.kind, got, tc.want)
		}
	}
	if x.Len() != 2 {
		t.Errorf("Len = %d, want 2", x.Len())
	}
}
