package node_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
	"github.com/authzd/authzd/transport"
	"github.com/authzd/authzd/transport/bus"
	"github.com/authzd/authzd/transport/pep"
)

// TestChangeStream: a change committed through node 1 reaches a subscriber
// on node 3's NATS once per revision, in order, and a subscriber can resume
// from any revision the stream holds.
func TestChangeStream(t *testing.T) {
	c := nodetest.Start(t)
	sub, err := c.Nodes[2].Bus().Changes(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var revs []uint64
	for k := range 5 {
		r := c.Admin(0, http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/t%d", k), `{"description":"x"}`)
		mustStatus(t, r, http.StatusCreated)
		rev, _ := strconv.ParseUint(revisionOf(t, r), 10, 64)
		revs = append(revs, rev)
	}
	for k, want := range revs {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		ch, err := sub.Next(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ch.Revision != want || ch.Type != "tenant.put" || !slices.Equal(ch.Keys, []string{fmt.Sprintf("tenants/t%d", k)}) || ch.Actor != "admin" || ch.At == 0 {
			t.Fatalf("change %d = %+v, want revision %d", k, ch, want)
		}
	}
	// Every node published; the stream holds each revision once.
	last, err := c.Nodes[1].Bus().LastRevision(t.Context())
	if err != nil || last != revs[len(revs)-1] {
		t.Fatalf("LastRevision = %d, %v", last, err)
	}
	resumed, err := c.Nodes[1].Bus().Changes(t.Context(), revs[2])
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	for _, want := range revs[2:] {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		ch, err := resumed.Next(ctx)
		cancel()
		if err != nil || ch.Revision != want {
			t.Fatalf("resumed change = %+v %v, want %d", ch, err, want)
		}
	}
}

// TestChangeStreamKeepsUp: under concurrent writes on every node, and while
// a node (with its NATS server, a replica of the stream) is stopped and
// restarted, the change stream ends up holding every acknowledged change
// exactly once and in revision order, and no node dropped a change.
func TestChangeStreamKeepsUp(t *testing.T) {
	c := nodetest.Start(t)
	var (
		mu   sync.Mutex
		revs []uint64
	)
	write := func(nodes []int, from, to int) {
		var wg sync.WaitGroup
		var next atomic.Int64
		next.Store(int64(from))
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1)) - 1; k < to; k = int(next.Add(1)) - 1 {
					path := fmt.Sprintf("/_plugins/_security/api/tenants/s%d", k%50)
					// A write during the stop may meet an election: retry (bounded).
					for try := 0; ; try++ {
						r := c.Admin(nodes[(k+try)%len(nodes)], http.MethodPut, path, fmt.Sprintf(`{"description":"w%d"}`, k))
						if r.Status == http.StatusOK || r.Status == http.StatusCreated {
							rev, _ := strconv.ParseUint(r.Header.Get("X-Authz-Revision"), 10, 64)
							mu.Lock()
							revs = append(revs, rev)
							mu.Unlock()
							break
						}
						if try == 50 {
							t.Errorf("write %d: %d %s", k, r.Status, r.Body)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
	}
	write([]int{0, 1, 2}, 0, 300)
	c.Stop(2)
	write([]int{0, 1}, 300, 500)
	c.Restart(2)
	c.WaitReady()
	write([]int{0, 1, 2}, 500, 800)
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(revs)
	sub, err := c.Nodes[2].Bus().Changes(t.Context(), revs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []uint64
	for len(got) == 0 || got[len(got)-1] < revs[len(revs)-1] {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		ch, err := sub.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d changes (last %v): %v", len(got), got[max(0, len(got)-1):], err)
		}
		if len(got) > 0 && ch.Revision <= got[len(got)-1] {
			t.Fatalf("revision %d after %d on the stream", ch.Revision, got[len(got)-1])
		}
		got = append(got, ch.Revision)
	}
	// The stream may hold more (a write committed but not acknowledged);
	// it must hold every acknowledged one.
	for _, r := range revs {
		if _, found := slices.BinarySearch(got, r); !found {
			t.Errorf("acknowledged revision %d is not on the change stream", r)
		}
	}
	for i := range c.Nodes {
		if d := scrape(t, c.AdminClient, c.Peers[i].HTTPAddr).must(t, i, "authzd_changes_dropped_total"); d != 0 {
			t.Errorf("node %d dropped %v changes", i, d)
		}
	}
}

// TestCacheFlushReachesEveryNode: DELETE /api/cache/user/{name} on one node
// and a change to the user on another drop cached credentials everywhere.
func TestCacheFlushReachesEveryNode(t *testing.T) {
	c := ownershipCluster(t)
	authAll := func(user string) {
		t.Helper()
		for i := range c.Nodes {
			mustStatus(t, c.Do(i, http.MethodGet, "/_plugins/_security/authinfo", user, pw, ""), http.StatusOK)
			if !c.Nodes[i].API().HasCachedCredentials(user) {
				t.Fatalf("node %d did not cache %s", i, user)
			}
		}
	}
	goneEverywhere := func(user string) {
		t.Helper()
		nodetest.Eventually(t, 10*time.Second, func() error {
			for i, n := range c.Nodes {
				if n.API().HasCachedCredentials(user) {
					return fmt.Errorf("node %d still caches %s", i, user)
				}
			}
			return nil
		})
	}
	authAll("judy")
	authAll("elon")
	mustStatus(t, c.Admin(0, http.MethodDelete, "/_plugins/_security/api/cache/user/judy", ""), http.StatusOK)
	goneEverywhere("judy")
	if !c.Nodes[2].API().HasCachedCredentials("elon") {
		t.Fatal("a per-user flush dropped another user")
	}
	// A committed change to an internal user drops its credentials on every node.
	mustStatus(t, c.Admin(1, http.MethodPut, "/_plugins/_security/api/internalusers/elon", fmt.Sprintf(`{"password":%q,"backend_roles":["ops"]}`, pw)), http.StatusOK)
	goneEverywhere("elon")
	authAll("judy")
	mustStatus(t, c.Admin(2, http.MethodDelete, "/_plugins/_security/api/cache", ""), http.StatusOK)
	goneEverywhere("judy")
}

// TestPEPCacheInvalidation: a PEP connected to node 3's NATS caches a
// decision; a change made on node 1 evicts it.
func TestPEPCacheInvalidation(t *testing.T) {
	c := ownershipCluster(t)
	register(t, c, 0, "judy", "async_search", "s-judy")
	tm, err := transport.LoadTLS(c.PKI.CAFile, c.PKI.AdminCertFile(), c.PKI.AdminKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pep.New(pep.Config{
		Bus: bus.Config{URLs: []string{c.Nodes[2].NATSClientURL()}, Name: "pep", TLS: tm.ClientConfig()},
		URL: "https://" + c.Peers[2].HTTPAddr, HTTP: c.Client, Username: "admin", Password: nodetest.AdminPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	nodetest.Eventually(t, 10*time.Second, func() error {
		_, err := p.Check(ctx, "async_search", "s-judy", "elon", asGet)
		return err
	})
	d, err := p.Check(ctx, "async_search", "s-judy", "elon", asGet)
	if err != nil || d.Allowed {
		t.Fatalf("elon on judy's = %+v %v", d, err)
	}
	if hits, _ := p.Stats(); hits == 0 || p.Len() != 1 {
		t.Fatalf("decision not cached: hits %d, len %d", hits, p.Len())
	}
	// elon gains judy's backend role on node 1: the cached "denied" must go.
	mustStatus(t, c.Admin(0, http.MethodPut, "/_plugins/_security/api/internalusers/elon", fmt.Sprintf(`{"password":%q,"backend_roles":["admin","IT"]}`, pw)), http.StatusOK)
	nodetest.Eventually(t, 10*time.Second, func() error {
		if p.Len() != 0 {
			return fmt.Errorf("decision still cached")
		}
		return nil
	})
	if d, err := p.Check(ctx, "async_search", "s-judy", "elon", asGet); err != nil || !d.Allowed {
		t.Fatalf("after the change: %+v %v", d, err)
	}
	// Deleting the record evicts its decisions too.
	mustStatus(t, c.Admin(1, http.MethodDelete, "/_plugins/_authz/resources/async_search/s-judy", ""), http.StatusOK)
	nodetest.Eventually(t, 10*time.Second, func() error {
		if p.Len() != 0 {
			return fmt.Errorf("decision of a deleted record still cached")
		}
		return nil
	})
}
