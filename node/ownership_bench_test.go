package node_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/nodetest"
)

// reportLatencies adds p50 and p99 of ds (in milliseconds) to b's output.
func reportLatencies(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkRegister is PUT /_plugins/_authz/resources/async_search/{id} over
// HTTPS on a three-node cluster: returns after the R3 KV put is acknowledged
// (and the local index has it).
func BenchmarkRegister(b *testing.B) {
	c := nodetest.Start(b, nodetest.WithDemo())
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		r := c.Admin(i%3, http.MethodPut, fmt.Sprintf("/_plugins/_authz/resources/async_search/bench-%d", i), "")
		ds = append(ds, time.Since(start))
		if r.Status != http.StatusCreated {
			b.Fatalf("register: %s", r)
		}
	}
	reportLatencies(b, ds)
}

// BenchmarkCheckLocal is the work of one _check on a node without HTTP: the
// index lookup and the rules with the node's evaluator.
func BenchmarkCheckLocal(b *testing.B) {
	c := nodetest.Start(b, nodetest.WithDemo(), nodetest.WithNodes(1))
	r := c.Admin(0, http.MethodPut, "/_plugins/_authz/resources/async_search/s1", "")
	if r.Status != http.StatusCreated {
		b.Fatalf("register: %s", r)
	}
	n := c.Nodes[0]
	who := &authz.Requester{Subject: authz.Subject{Name: "judy", BackendRoles: []string{"admin"}}}
	action := authz.KindAsyncSearch.Actions().Get
	b.ReportAllocs()
	for b.Loop() {
		rec, ok := n.OwnerIndex().Get(authz.KindAsyncSearch, "s1")
		if !ok {
			b.Fatal("not indexed")
		}
		_ = authz.CheckAccess(n.View().Eval, who, action, rec, false)
	}
}

// BenchmarkChangeLag is the time from a committed write (its HTTP response
// on node 1) to a subscriber on node 3's NATS receiving the change.
func BenchmarkChangeLag(b *testing.B) {
	c := nodetest.Start(b)
	sub, err := c.Nodes[2].Bus().Changes(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var lag, total []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		r := c.Admin(0, http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/lag%d", i%50), fmt.Sprintf(`{"description":"%d"}`, i))
		committed := time.Now()
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			b.Fatalf("write: %s", r)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ch, err := sub.Next(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		got := time.Now()
		if fmt.Sprint(ch.Revision) != r.Header.Get("X-Authz-Revision") {
			b.Fatalf("change %d for write at %s", ch.Revision, r.Header.Get("X-Authz-Revision"))
		}
		lag = append(lag, max(0, got.Sub(committed)))
		total = append(total, got.Sub(start))
	}
	reportLatencies(b, lag)
	slices.Sort(total)
	b.ReportMetric(float64(total[len(total)*99/100].Microseconds())/1000, "write+deliver-p99-ms")
}
