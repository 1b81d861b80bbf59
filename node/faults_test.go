package node_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/nodetest"
	"github.com/authzd/authzd/node/nodetest/history"
)

// TestFaults runs the fault scenario of package history against an
// in-process cluster: a seeded workload of ten sessions while the leader or a
// follower is cut off and healed, the leader is stopped and started again, and
// a follower is restarted; a tenth of the operations register ownership
// records. The checker must find no lost acknowledged write or record,
// no stale read and a linearizable register history; the cut-off side must
// answer writes with 503 JSON and serve reads from its last state; and no
// request may hang past the client timeout (in process no node is frozen).
//
// The seed is random and logged; FAULTS_SEED=<seed> replays its choices, and
// FAULTS_ARTIFACTS=<dir> writes the report and the history there (docs/testing.md).
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenario skipped in -short mode")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("FAULTS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("FAULTS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay: FAULTS_SEED=%d go test -race -run TestFaults ./node/)", seed, seed)
	c := nodetest.Start(t, nodetest.WithNodeConfig(func(cfg *node.Config) {
		cfg.LeaderWait = time.Second
		cfg.WriteTimeout = 5 * time.Second
	}))
	rep, err := history.Run(t.Context(), c.Faults(), c.Faults(), history.Config{
		Seed:    seed,
		Clients: 10,
		Faults:  8,
		Kinds: []history.FaultKind{
			history.IsolateLeader, history.IsolateFollower, history.KillLeader, history.KillFollower,
		},
		// Above LeaderWait and the 5s min_revision wait: every answer the
		// cluster gives comes before this, so a client timeout is a hang.
		OpTimeout:      8 * time.Second,
		Hold:           10,
		RecoverTimeout: 30 * time.Second,
		Logf:           t.Logf,
		// Ownership records registered and acknowledged before a fault must
		// all be on every node after it.
		Extensions:     []history.Extension{&history.Ownership{}},
		ExtensionShare: 0.1,
	})
	history.Require(t, rep, err, seed)
	if n := rep.Counts()[""].TimedOut; n > 0 {
		t.Errorf("seed %d: %d requests hung past the client timeout", seed, n)
	}
	isolations := 0
	for _, f := range rep.Faults {
		if f.Kind == history.IsolateLeader || f.Kind == history.IsolateFollower {
			isolations++
		}
	}
	if isolations == 0 {
		t.Errorf("seed %d: no isolation in the schedule, the minority side went unchecked", seed)
	}
}
