package node

import (
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRaftBridge: a metric emitted the way hashicorp/raft emits (the
// go-metrics compat global) reaches every registry the bridge is in.
func TestRaftBridge(t *testing.T) {
	c, err := raftBridge()
	if err != nil {
		t.Fatal(err)
	}
	again, err := raftBridge()
	if err != nil || again != c {
		t.Fatalf("second raftBridge() = %v, %v; want the same collector", again, err)
	}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()} // two nodes of one process
	for _, r := range regs {
		r.MustRegister(c)
	}
	gometrics.IncrCounter([]string{"raft", "bridge_test"}, 2)
	gometrics.MeasureSince([]string{"raft", "bridge_test_time"}, time.Now().Add(-time.Millisecond))
	for i, r := range regs {
		mfs, err := r.Gather()
		if err != nil {
			t.Fatalf("gather %d: %v", i, err)
		}
		var counter, samples float64
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "raft_bridge_test":
					counter = m.GetCounter().GetValue()
				case "raft_bridge_test_time":
					samples = float64(m.GetSummary().GetSampleCount())
				}
			}
		}
		if counter != 2 || samples != 1 {
			t.Errorf("registry %d: raft_bridge_test = %v (want 2), raft_bridge_test_time samples = %v (want 1)", i, counter, samples)
		}
	}
}
