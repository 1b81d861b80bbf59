package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/nodetest"
)

func revisionOf(t *testing.T, r nodetest.Response) string {
	t.Helper()
	rev := r.Header.Get("X-Authz-Revision")
	if _, err := strconv.ParseUint(rev, 10, 64); err != nil {
		t.Fatalf("X-Authz-Revision = %q in %s", rev, r)
	}
	return rev
}

// hashesEqual waits until every running node has applied the same revision and
// has the same state hash.
func hashesEqual(t *testing.T, c *nodetest.Cluster) {
	t.Helper()
	nodetest.Eventually(t, 10*time.Second, func() error {
		var rev uint64
		var hash string
		for i, n := range c.Nodes {
			if n == nil {
				continue
			}
			v := n.Machine().View()
			if i == 0 || hash == "" {
				rev, hash = v.Rev, v.Hash()
				continue
			}
			if v.Rev != rev || v.Hash() != hash {
				return fmt.Errorf("node %s at rev %d hash %s, other at rev %d hash %s", n.ID(), v.Rev, v.Hash()[:8], rev, hash[:8])
			}
		}
		return nil
	})
}

func TestWriteOnOneNodeReadOnAnother(t *testing.T) {
	c := nodetest.Start(t)
	put := c.Admin(0, http.MethodPut, "/_plugins/_security/api/roles/logs_reader",
		`{"cluster_permissions":["cluster_composite_ops_ro"],"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["read"]}]}`)
	if put.Status != http.StatusCreated || string(put.Body) != `{"status":"CREATED","message":"'logs_reader' created."}` {
		t.Fatalf("PUT = %s", put)
	}
	rev := revisionOf(t, put)
	for i := range c.Nodes {
		got := c.Admin(i, http.MethodGet, "/_plugins/_security/api/roles/logs_reader?min_revision="+rev, "")
		if got.Status != http.StatusOK {
			t.Fatalf("node %d GET = %s", i, got)
		}
		want := `{"logs_reader":{"reserved":false,"hidden":false,"cluster_permissions":["cluster_composite_ops_ro"],"index_permissions":[{"index_patterns":["logs-*"],"fls":[],"masked_fields":[],"allowed_actions":["read"]}],"tenant_permissions":[],"static":false}}`
		if string(got.Body) != want {
			t.Errorf("node %d GET =\n%s\nwant\n%s", i, got.Body, want)
		}
	}
	// The legacy prefix serves the same resource, and the header form of min_revision works.
	legacy := c.Admin(2, http.MethodGet, "/_opendistro/_security/api/roles/logs_reader", "")
	if legacy.Status != http.StatusOK {
		t.Fatalf("legacy GET = %s", legacy)
	}
	hashesEqual(t, c)
}

func TestMinRevisionWaitIsBounded(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodes(1))
	start := time.Now()
	r := c.Admin(0, http.MethodGet, "/_plugins/_security/api/roles?min_revision=999999", "")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("GET with unreachable min_revision = %s", r)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("wait not bounded: %s", time.Since(start))
	}
	if r := c.Admin(0, http.MethodGet, "/_plugins/_security/api/roles?min_revision=abc", ""); r.Status != http.StatusBadRequest {
		t.Fatalf("bad min_revision = %s", r)
	}
}

func TestLeaderLossAndCatchUp(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodeConfig(func(cfg *node.Config) {
		cfg.SnapshotThreshold = 20
		cfg.TrailingLogs = 5
	}))
	leader := c.Leader()
	c.Stop(leader)
	var survivors []int
	for i := range c.Nodes {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	nodetest.Eventually(t, 15*time.Second, func() error {
		if c.Leader() < 0 {
			return fmt.Errorf("no new leader")
		}
		return nil
	})
	// Enough writes through both survivors to force snapshots and log compaction,
	// so the restarted node must catch up from a snapshot.
	for k := 0; k < 60; k++ {
		i := survivors[k%2]
		r := c.Admin(i, http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/t%d", k), `{"description":"tenant"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("write %d via node %d: %s", k, i, r)
		}
	}
	for _, i := range survivors {
		if err := c.Nodes[i].Raft().Snapshot().Error(); err != nil {
			t.Logf("snapshot on node %d: %v", i, err)
		}
	}
	c.Restart(leader)
	hashesEqual(t, c)
	r := c.Admin(leader, http.MethodGet, "/_plugins/_security/api/tenants/t59", "")
	if r.Status != http.StatusOK {
		t.Fatalf("restarted node misses the last write: %s", r)
	}
}

func TestConcurrentPatchesAllSurvive(t *testing.T) {
	c := nodetest.Start(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			body := fmt.Sprintf(`[{"op":"add","path":"/p%d","value":{"description":"patched %d"}}]`, k, k)
			r := retryUnavailable(func() nodetest.Response {
				return c.Admin(k%3, http.MethodPatch, "/_plugins/_security/api/tenants", body)
			})
			if r.Status != http.StatusOK {
				errs <- r.String()
			}
		}(k)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("patch failed: %s", e)
	}
	hashesEqual(t, c)
	r := c.Admin(2, http.MethodGet, "/_plugins/_security/api/tenants", "")
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n; k++ {
		if _, ok := got[fmt.Sprintf("p%d", k)]; !ok {
			t.Errorf("tenant p%d lost", k)
		}
	}
}

// retryUnavailable does what a client must on 503 (no leader, or leadership
// lost before the write was confirmed): try again, a few times. The writes it
// is used with are idempotent, so a retry of a write that did commit is harmless.
func retryUnavailable(do func() nodetest.Response) nodetest.Response {
	var r nodetest.Response
	for range 5 {
		if r = do(); r.Status != http.StatusServiceUnavailable {
			return r
		}
	}
	return r
}

func TestConflictingWritesOneWins(t *testing.T) {
	c := nodetest.Start(t)
	if r := c.Admin(0, http.MethodPut, "/_plugins/_security/api/tenants/contested", `{"description":"x"}`); r.Status != http.StatusCreated {
		t.Fatalf("setup: %s", r)
	}
	var wg sync.WaitGroup
	results := make([]nodetest.Response, 2)
	for k := range results {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			results[k] = c.Admin(k+1, http.MethodPatch, "/_plugins/_security/api/tenants", `[{"op":"remove","path":"/contested"}]`)
		}(k)
	}
	wg.Wait()
	ok, bad := 0, 0
	for _, r := range results {
		switch r.Status {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
			bad++
			var body map[string]string
			if err := json.Unmarshal(r.Body, &body); err != nil || body["status"] != "BAD_REQUEST" || body["message"] == "" {
				t.Errorf("losing write's body is not a clear error: %s", r)
			}
		default:
			t.Errorf("unexpected response %s", r)
		}
	}
	if ok != 1 || bad != 1 {
		t.Fatalf("want one success and one error, got %d/%d: %v", ok, bad, results)
	}
}

// TestNoLeaderAnswers503 stops two of three nodes: the survivor cannot commit,
// so a write answers the 503 body (within LeaderWait, not the client timeout)
// and changes nothing, while reads keep being served from its last state.
func TestNoLeaderAnswers503(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodeConfig(func(cfg *node.Config) { cfg.LeaderWait = 2 * time.Second }))
	survivor := (c.Leader() + 1) % 3
	for i := range c.Nodes {
		if i != survivor {
			c.Stop(i)
		}
	}
	// A leader that stops hands leadership over, possibly to the survivor,
	// which keeps it until its lease runs out without a quorum.
	nodetest.Eventually(t, 10*time.Second, func() error {
		if c.Nodes[survivor].IsLeader() {
			return fmt.Errorf("the survivor still leads without a quorum")
		}
		return nil
	})
	before := c.Nodes[survivor].Machine().View().Hash()
	r := c.Admin(survivor, http.MethodPut, "/_plugins/_security/api/tenants/lost", `{"description":"x"}`)
	want := `{"status":"UNAVAILABLE","message":"No leader is available to accept writes, try again later"}`
	if r.Status != http.StatusServiceUnavailable || string(r.Body) != want {
		t.Fatalf("write without a quorum = %s, want 503 %s", r, want)
	}
	if got := c.Admin(survivor, http.MethodGet, "/_plugins/_security/api/tenants/global_tenant", ""); got.Status != http.StatusOK {
		t.Fatalf("read without a quorum = %s", got)
	}
	if c.Nodes[survivor].Machine().View().Hash() != before {
		t.Fatal("a refused write changed the state")
	}
}

// TestPartitionedLeader cuts the leader off: the majority elects a new leader and
// takes writes, the old leader's side answers 503, and after healing every node
// converges on the majority's state.
func TestPartitionedLeader(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodeConfig(func(cfg *node.Config) { cfg.LeaderWait = 2 * time.Second }))
	old := c.Leader()
	c.Isolate(old)
	other := (old + 1) % 3
	nodetest.Eventually(t, 15*time.Second, func() error {
		if l := c.Leader(); l < 0 || l == old {
			return fmt.Errorf("no new leader on the majority side (leader %d)", l)
		}
		return nil
	})
	if r := c.Admin(other, http.MethodPut, "/_plugins/_security/api/tenants/majority", `{"description":"x"}`); r.Status != http.StatusCreated {
		t.Fatalf("write on the majority side = %s", r)
	}
	if r := c.Admin(old, http.MethodPut, "/_plugins/_security/api/tenants/minority", `{"description":"x"}`); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("write on the minority side = %s, want 503", r)
	}
	c.Heal()
	hashesEqual(t, c)
	if r := c.Admin(old, http.MethodGet, "/_plugins/_security/api/tenants/majority", ""); r.Status != http.StatusOK {
		t.Fatalf("healed old leader misses the majority's write: %s", r)
	}
	if r := c.Admin(old, http.MethodGet, "/_plugins/_security/api/tenants/minority", ""); r.Status != http.StatusNotFound {
		t.Fatalf("the minority's refused write appeared: %s", r)
	}
}

// TestFollowerCatchesUpFromLog restarts a follower that missed writes while no
// snapshot was taken: it must replay them from the leader's log.
func TestFollowerCatchesUpFromLog(t *testing.T) {
	c := nodetest.Start(t)
	follower := (c.Leader() + 1) % 3
	c.Stop(follower)
	writer := (follower + 1) % 3
	var rev string
	for k := range 10 {
		r := c.Admin(writer, http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/missed%d", k), `{"description":"x"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("write %d: %s", k, r)
		}
		rev = revisionOf(t, r)
	}
	c.Restart(follower)
	if r := c.Admin(follower, http.MethodGet, "/_plugins/_security/api/tenants/missed9?min_revision="+rev, ""); r.Status != http.StatusOK {
		t.Fatalf("restarted follower misses the last write: %s", r)
	}
	hashesEqual(t, c)
}

// TestLeaderCloseHandsOverFirst: a leader closed gracefully hands leadership
// to another node before it drains its HTTP server, so the cluster takes
// writes while the old leader still drains. The container fault tests found
// the opposite (make e2e, seed 1796114422619176977, fault 10, restart-all:
// failover 15.5s): the draining leader still led Raft but no longer accepted
// the followers' forwards, so no write could commit until its drain had
// ended, Raft had shut down and the others had noticed and elected.
//
// Here a write whose body the test holds back keeps the leader's drain busy
// (the server asked for the body with 100 Continue, so the handler runs);
// a write on a survivor must be acknowledged before the test lets it finish.
func TestLeaderCloseHandsOverFirst(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodeConfig(func(cfg *node.Config) { cfg.ShutdownTimeout = time.Minute }))
	leader := c.Leader()
	old := c.Nodes[leader]
	survivor := (leader + 1) % 3

	body, hold := io.Pipe()
	t.Cleanup(func() { hold.Close() }) // before the cluster's cleanup, which waits for the drain
	req, err := http.NewRequest(http.MethodPut, "https://"+c.Peers[leader].HTTPAddr+"/_plugins/_security/api/tenants/draining", body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", nodetest.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	inHandler, held := make(chan struct{}), make(chan error, 1)
	req = req.WithContext(httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { close(inHandler) },
	}))
	go func() {
		resp, err := c.Client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	<-inHandler
	closed := make(chan error, 1)
	go func() { closed <- old.Close() }()

	k := 0
	nodetest.Eventually(t, 20*time.Second, func() error {
		k++
		r := c.Admin(survivor, http.MethodPut, fmt.Sprintf("/_plugins/_security/api/tenants/handover%d", k), `{"description":"x"}`)
		if r.Status != http.StatusCreated {
			return fmt.Errorf("no write acknowledged while the old leader drains: %s", r)
		}
		return nil
	})
	select {
	case err := <-closed:
		t.Fatalf("the old leader closed before the held request ended (%v)", err)
	default:
	}
	if _, err := hold.Write([]byte(`{"description":"x"}`)); err != nil {
		t.Errorf("finish the held request: %v", err)
	}
	hold.Close()
	if err := <-held; err != nil {
		t.Errorf("held request: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	c.Stop(leader)
}
