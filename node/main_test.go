package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every node
// a test starts must stop everything it started when it closes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
