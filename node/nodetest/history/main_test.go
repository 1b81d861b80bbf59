package history

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind (the
// porcupine checker starts one per key and must have stopped them all).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
