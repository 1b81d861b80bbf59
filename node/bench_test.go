package node_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
)

// BenchmarkCommit measures committed configuration changes through the REST API
// of a three-node cluster on loopback: 32 concurrent clients spread over the
// nodes (two thirds of the writes are forwarded by followers), b.N writes in all.
// It reports committed writes/s and the p50/p99 latency of one write.
func BenchmarkCommit(b *testing.B) {
	benchCommit(b, nodetest.Start(b), 32)
}

func benchCommit(b *testing.B, c *nodetest.Cluster, clients int) {
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		failures  atomic.Int64
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					break
				}
				t0 := time.Now()
				r := c.Admin(int(k)%len(c.Nodes), http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/bench-%d", k), `{"description":"bench"}`)
				local = append(local, time.Since(t0))
				if r.Status != http.StatusCreated {
					failures.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d writes failed", f)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
