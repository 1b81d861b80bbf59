//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest/history"
)

// TestFaults runs the fault scenario of package history against three
// containers while a seeded nemesis injects E2E_FAULTS faults (default 24),
// equally many of each kind: the leader disconnected from the Raft network,
// a node killed with SIGKILL and started again, every node restarted one by
// one (SIGTERM), a node paused and unpaused. A tenth of the operations
// register ownership records. The checker must find no lost acknowledged write
// or ownership record, no stale read and a linearizable register history.
//
// E2E_SEED=<seed> replays a run's choices, E2E_FAULT_KINDS=<kind,...>
// narrows the mix, E2E_IMAGE=<image> skips the build, FAULTS_ARTIFACTS=<dir>
// writes the report and the history there (docs/testing.md).
func TestFaults(t *testing.T) {
	if _, err := docker(t.Context(), nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("no Docker engine to run the container tests: %v", err)
	}
	seed := envInt(t, "E2E_SEED", time.Now().UnixNano())
	faults := int(envInt(t, "E2E_FAULTS", 24))
	kinds := []history.FaultKind{history.IsolateLeader, history.KillAny, history.RestartAll, history.PauseAny}
	if s := os.Getenv("E2E_FAULT_KINDS"); s != "" {
		var err error
		if kinds, err = history.ParseFaultKinds(s); err != nil {
			t.Fatalf("E2E_FAULT_KINDS: %v", err)
		}
	}
	t.Logf("seed %d (replay: E2E_SEED=%d make e2e)", seed, seed)

	// Leave the cleanup time to remove the containers before go test's
	// -timeout panics, which would skip it.
	ctx := t.Context()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-3*time.Minute))
		defer cancel()
	}
	c := startContainers(ctx, t)
	rep, err := history.Run(ctx, c, c, history.Config{
		Seed:    seed,
		Clients: 8,
		Faults:  faults,
		Kinds:   kinds,
		// Above the server's 10s write timeout, so that a write forwarded to a
		// frozen leader gets the server's answer rather than a client timeout.
		OpTimeout:      12 * time.Second,
		Hold:           30,
		RecoverTimeout: 90 * time.Second,
		Logf:           t.Logf,
		// A tenth of the operations register ownership records (async
		// searches, detectors) on random nodes: every acknowledged one must
		// be on every node at the end (issue 7 item 4).
		Extensions:     []history.Extension{&history.Ownership{Prefix: fmt.Sprintf("own%d", seed)}},
		ExtensionShare: 0.1,
	})
	history.Require(t, rep, err, seed)
	seen := map[history.FaultKind]int{}
	for _, f := range rep.Faults {
		seen[f.Kind]++
	}
	for _, k := range kinds {
		if seen[k] == 0 && faults >= len(kinds) {
			t.Errorf("seed %d: no %s fault was injected", seed, k)
		}
	}
}

// envInt reads an integer environment variable, def when unset.
func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}
