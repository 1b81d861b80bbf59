package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every node
// a test starts must stop everything it started when it closes.
//
// Two nats-server internals are exempt. Once, after every test had passed, a
// JetStream file store's flush loop was still running, and so was the
// access-time goroutine that lives as long as any file store does (make
// test, 2026-12-01, nats-server v2.15.2). The cause is not known; a store
// created while its server shuts down is the suspect. Goroutines of ours,
// and every other nats-server goroutine, are still checked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}
