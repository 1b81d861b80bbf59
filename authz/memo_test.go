package authz

import (
	"fmt"
	"sync"
	"testing"
)

// TestEvaluateConcurrent decides the same random requests from several
// goroutines on one Evaluator whose memo starts cold, so first uses of an
// action race with each other, and compares every decision with a
// sequential run on a separate Evaluator. Under -race it also proves the
// memo's lock-free inserts and bit updates race-free.
func TestEvaluateConcurrent(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	c := g.config()
	shared, err := Compile(c.cfg, c.s)
	if err != nil {
		t.Fatal(err)
	}
	sequential, err := Compile(c.cfg, c.s)
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]Request, 400)
	want := make([]Decision, len(reqs))
	for i := range reqs {
		reqs[i] = g.request()
		want[i] = sequential.Evaluate(&reqs[i])
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d Decision
			for k := range reqs {
				i := (k + w*len(reqs)/workers) % len(reqs) // each worker starts elsewhere
				shared.EvaluateInto(&reqs[i], &d)
				if diff := sameDecision(&d, &want[i]); diff != "" {
					errs <- fmt.Sprintf("worker %d request %d:%s", w, i, diff)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("seed %d: %s", seed, e)
	}
}

// TestActionMemoFull fills the memo beyond its capacity: actions without a
// slot are decided without memo bits, identically.
func TestActionMemoFull(t *testing.T) {
	cfg := NewConfig()
	cfg.Roles["r"] = Role{
		ClusterPermissions: []string{"cluster:monitor/*"},
		IndexPermissions:   []IndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/read/*"}}},
	}
	cfg.RolesMapping["r"] = RoleMapping{Users: []string{"ann"}}
	e, err := Compile(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	subject := Subject{Name: "ann"}
	for i := range 2 * memoSlots {
		for _, tc := range []struct {
			action  string
			indices []string
			allowed bool
		}{
			{fmt.Sprintf("indices:data/read/x%d", i), []string{"logs-1"}, true},
			{fmt.Sprintf("indices:data/write/x%d", i), []string{"logs-1"}, false},
			{fmt.Sprintf("cluster:monitor/x%d", i), nil, true},
		} {
			d := e.Evaluate(&Request{Subject: subject, Action: tc.action, Indices: tc.indices})
			if d.Allowed != tc.allowed {
				t.Fatalf("%s: allowed = %v, want %v", tc.action, d.Allowed, tc.allowed)
			}
		}
	}
	used := 0
	for i := range e.memo.slots {
		if e.memo.slots[i].Load() != nil {
			used++
		}
	}
	if used == 0 || used > memoSlots {
		t.Errorf("%d memo slots used of %d", used, memoSlots)
	}
	if ai := e.memo.lookup(e, "indices:data/read/never-seen-before"); ai.bits != nil && used == memoSlots {
		t.Errorf("a full memo handed out memo bits")
	}
}
