package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: Close
// must stop HTTP, NATS (server, connection, bus goroutines) and Raft. The
// official OpenSearch client used by osclient_test.go runs refresh loops it
// offers no way to stop; those are ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/opensearch-project/opensearch-go/v4/opensearchtransport.(*Client).scheduleClusterHealthRefresh.func1"),
		goleak.IgnoreTopFunction("github.com/opensearch-project/opensearch-go/v4/opensearchtransport.(*Client).scheduleNodeStats.func1"),
	)
}
