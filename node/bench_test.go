package node_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/authz/workload"
	"github.com/authzd/authzd/node/decisionload"
	"github.com/authzd/authzd/node/nodetest"
)

// BenchmarkCommit measures committed configuration changes through the REST API
// of a three-node cluster on loopback: 1, 8, 32 and 128 concurrent clients
// spread over the nodes (two thirds of the writes are forwarded by followers),
// b.N writes in all.
// Each write replaces one of 256 roles (configuration churn: the number of
// roles stays bounded, so the numbers do not drift with b.N). It reports
// committed writes/s and the p50/p99 latency of one write.
func BenchmarkCommit(b *testing.B) {
	for _, clients := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchCommit(b, nodetest.Start(b), clients)
		})
	}
}

func benchCommit(b *testing.B, c *nodetest.Cluster, clients int) {
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		failures  atomic.Int64
	)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU(b)
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
				body := fmt.Sprintf(`{"cluster_permissions":["cluster_monitor"],"index_permissions":[{"index_patterns":["bench-%d-*"],"allowed_actions":["read"]}]}`, k)
				r := c.Admin(int(k)%len(c.Nodes), http.MethodPut, fmt.Sprintf("/_plugins/_security/api/roles/bench-%d", k%256), body)
				local = append(local, time.Since(t0))
				if r.Status != http.StatusCreated && r.Status != http.StatusOK {
					failures.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
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
	// The whole process's CPU (clients, three nodes, their NATS servers) per
	// write: on two cores, 1 ms per write caps the cluster at 2,000 writes/s.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/write")
	var dropped float64
	for i := range c.Nodes {
		dropped += scrape(b, c.AdminClient, c.Peers[i].HTTPAddr).must(b, i, "authzd_changes_dropped_total")
	}
	b.ReportMetric(dropped, "changes-dropped")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluatorSwap measures how long after a configuration change every
// node decides with the new evaluator, on the medium workload's configuration
// (1,000 roles, 10,000 users): each iteration changes one role through the
// REST API and waits on all three nodes' revision waiters, which fire when a
// node has published the view (configuration + compiled evaluator) of that
// revision. It reports the p50/p99 of the slowest follower's lag behind the
// leader's swap, and of the time from sending the change to the last node's
// swap.
func BenchmarkEvaluatorSwap(b *testing.B) {
	dir := filepath.Join("..", "..", "shared", "bench", "medium")
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("%s not found", dir)
	}
	cfg, err := authz.LoadDir(os.DirFS(dir))
	if err != nil {
		b.Fatal(err)
	}
	c := nodetest.Start(b, nodetest.WithConfig(cfg))
	var lags, totals []time.Duration
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		leader := c.Leader()
		if leader < 0 {
			b.Fatal("no leader")
		}
		rev := c.Nodes[leader].Raft().LastIndex() + 1
		swapped := make([]time.Time, len(c.Nodes))
		var wg sync.WaitGroup
		for i, n := range c.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n.Machine().WaitFor(b.Context(), rev) == nil {
					swapped[i] = time.Now()
				}
			}()
		}
		start := time.Now()
		body := fmt.Sprintf(`{"cluster_permissions":["cluster:monitor/health"],"index_permissions":[{"index_patterns":["swap-%d-*"],"allowed_actions":["read"]}]}`, k)
		r := c.Admin(k%3, http.MethodPut, "/_plugins/_security/api/roles/swap-bench", body)
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			b.Fatalf("change %d: %s", k, r)
		}
		if got := r.Header.Get("X-Authz-Revision"); got != fmt.Sprint(rev) {
			b.Fatalf("change %d committed at revision %s, expected %d", k, got, rev)
		}
		wg.Wait()
		last := slices.MaxFunc(swapped, func(a, b time.Time) int { return a.Compare(b) })
		lags = append(lags, last.Sub(swapped[leader]))
		totals = append(totals, last.Sub(start))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lags, 0.50), "lag-p50-ms")
	b.ReportMetric(pct(lags, 0.99), "lag-p99-ms")
	b.ReportMetric(pct(totals, 0.50), "all-swapped-p50-ms")
	b.ReportMetric(pct(totals, 0.99), "all-swapped-p99-ms")
}

// BenchmarkDecisionHTTP drives one node holding the medium workload's
// configuration through its REST decision API over loopback HTTPS (the
// package decisionload, as `authzctl bench --http` does): single decisions at
// full speed, single decisions at half that rate (latency), and _batch calls
// of 100. Each iteration is one run of 20,000 single decisions.
func BenchmarkDecisionHTTP(b *testing.B) {
	dir := filepath.Join("..", "..", "shared", "bench", "medium")
	w, err := workload.Load(dir)
	if err != nil {
		b.Skipf("%s: %v", dir, err)
	}
	c := nodetest.Start(b, nodetest.WithNodes(1), nodetest.WithConfig(w.Config))
	reqs := make([]decisionload.Request, len(w.Requests))
	for i, r := range w.Requests {
		reqs[i] = decisionload.Request{User: r.User, BackendRoles: r.BackendRoles, Action: r.Action, Indices: r.Indices}
	}
	client := c.AdminClient
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	for _, netHTTP := range []bool{false, true} {
		name := "client=conns"
		if netHTTP {
			name = "client=net-http"
		}
		b.Run(name, func(b *testing.B) {
			var rep decisionload.Report
			var err error
			for b.Loop() {
				if rep, err = decisionload.Run(b.Context(), decisionload.Config{
					URL: "https://" + c.Peers[0].HTTPAddr, Client: client, NetHTTP: netHTTP, Requests: reqs, Count: 20_000,
				}); err != nil {
					b.Fatal(err)
				}
			}
			reportDecisionHTTP(b, rep)
		})
	}
}

// reportDecisionHTTP reports a decisionload run as benchmark metrics.
func reportDecisionHTTP(b *testing.B, rep decisionload.Report) {
	if e := rep.Single.Errors + rep.SingleHalfLoad.Errors + rep.Batch.Errors; e > 0 {
		b.Fatalf("%d calls failed", e)
	}
	b.ReportMetric(rep.Single.PerSec, "single/s")
	b.ReportMetric(rep.Single.P99, "single-p99-us")
	b.ReportMetric(rep.SingleHalfLoad.P50, "half-load-p50-us")
	b.ReportMetric(rep.SingleHalfLoad.P99, "half-load-p99-us")
	b.ReportMetric(rep.Batch.PerSec, "batch-decisions/s")
	b.ReportMetric(float64(rep.Single.NewConns+rep.SingleHalfLoad.NewConns+rep.Batch.NewConns), "new-conns")
}
