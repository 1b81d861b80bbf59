package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: Close
// must stop HTTP, NATS (server, connection, bus goroutines) and Raft.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
