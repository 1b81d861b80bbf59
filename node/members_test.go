package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/node/nodetest"
)

const peersPath = "/_plugins/_authz/cluster/peers"

// suffrages is node i's view of the Raft configuration: id → suffrage.
func suffrages(t *testing.T, c *nodetest.Cluster, i int) map[string]string {
	t.Helper()
	r := c.Admin(i, http.MethodGet, "/_plugins/_authz/cluster", "")
	if r.Status != http.StatusOK {
		t.Fatalf("cluster status on %d: %s", i, r)
	}
	var st api.ClusterStatus
	if err := json.Unmarshal(r.Body, &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range st.Peers {
		out[p.ID] = p.Suffrage
	}
	return out
}

// caughtUp waits until node i has the leader's revision and state hash, and
// the same member directory.
func caughtUp(t *testing.T, c *nodetest.Cluster, i int) {
	t.Helper()
	nodetest.Eventually(t, 15*time.Second, func() error {
		l := c.Leader()
		if l < 0 {
			return fmt.Errorf("no leader")
		}
		lv, v := c.Nodes[l].Machine().View(), c.Nodes[i].Machine().View()
		if v.Rev != lv.Rev || v.Hash() != lv.Hash() || !slices.Equal(v.Members, lv.Members) {
			return fmt.Errorf("%s at rev %d, leader at %d (hash equal %v, directory %v vs %v)", c.Nodes[i].ID(), v.Rev, lv.Rev, v.Hash() == lv.Hash(), v.Members, lv.Members)
		}
		return nil
	})
}

// natsReady waits until node i's NATS is ready: its embedded server joined
// the others' cluster by the seed routes, JetStream answers and the ownership
// index is loaded.
func natsReady(t *testing.T, c *nodetest.Cluster, i int) {
	t.Helper()
	nodetest.Eventually(t, 15*time.Second, func() error {
		if st := c.Nodes[i].Status().NATS; st == nil || !st.Ready || !st.OwnersLoaded {
			return fmt.Errorf("%s nats: %+v", c.Nodes[i].ID(), st)
		}
		return nil
	})
}

func follower(c *nodetest.Cluster, not ...int) int {
	l := c.Leader()
	for i, n := range c.Nodes {
		if n != nil && i != l && !slices.Contains(not, i) {
			return i
		}
	}
	return -1
}

func putTenant(t *testing.T, c *nodetest.Cluster, i int, name string) string {
	t.Helper()
	r := c.Admin(i, http.MethodPut, "/_plugins/_security/api/tenants/"+name, `{"description":"x"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT tenant %s on %s: %s", name, c.Peers[i].ID, r)
	}
	return revisionOf(t, r)
}

// TestMembership grows a three-node cluster by a non-voter (REST on a
// follower) and a voter (join), moves leadership to the joined voter, then
// removes a voter and the leader itself.
func TestMembership(t *testing.T) {
	c := nodetest.Start(t)

	// n4, a read replica, added through a follower.
	n4 := c.AddNode(nil)
	f := follower(c, n4)
	r := c.Admin(f, http.MethodPost, peersPath, c.PeerBody(n4, false))
	if r.Status != http.StatusOK {
		t.Fatalf("add n4 on follower %s: %s", c.Peers[f].ID, r)
	}
	var added struct{ Peers []api.Peer }
	if err := json.Unmarshal(r.Body, &added); err != nil || len(added.Peers) != 4 {
		t.Fatalf("answer %s: %v", r, err)
	}
	rev := putTenant(t, c, f, "after_n4")
	caughtUp(t, c, n4)
	natsReady(t, c, n4)
	if g := c.Admin(n4, http.MethodGet, "/_plugins/_security/api/tenants/after_n4?min_revision="+rev, ""); g.Status != http.StatusOK {
		t.Fatalf("read on n4: %s", g)
	}
	ask := `{"user":{"name":"admin"},"action":"cluster:monitor/health"}`
	if d := c.Admin(n4, http.MethodPost, evaluatePath+"?min_revision="+rev, ask); d.Status != http.StatusOK || decodeJSON(t, d)["allowed"] != true {
		t.Fatalf("decision on n4: %s", d)
	}
	if s := suffrages(t, c, n4); s["n4"] != "Nonvoter" || s["n1"] != "Voter" || len(s) != 4 {
		t.Fatalf("n4's view of the configuration: %v", s)
	}
	// A non-voter does not count for quorum: with n4 and one of the three
	// voters down, two of three voters still commit.
	c.Stop(n4)
	other := follower(c, n4, f)
	c.Stop(other)
	putTenant(t, c, f, "without_n4")
	c.Restart(other)
	caughtUp(t, c, other)

	// n5 joins as a voter through a follower, like authzd serve --join.
	f = follower(c, n4)
	n5 := c.AddNode(func(cfg *node.Config) { cfg.Join = []string{"https://" + c.Peers[f].HTTPAddr} })
	nodetest.Eventually(t, 15*time.Second, func() error {
		if s := suffrages(t, c, f); s["n5"] != "Voter" {
			return fmt.Errorf("configuration %v", s)
		}
		return nil
	})
	caughtUp(t, c, n5)
	natsReady(t, c, n5)

	// Leadership moves to n5, which the static peers do not know: followers
	// must find its HTTP address in the replicated directory to forward.
	l := c.Leader()
	if err := c.Nodes[l].Raft().LeadershipTransferToServer(raft.ServerID("n5"), raft.ServerAddress(c.Peers[n5].RaftAddr)).Error(); err != nil {
		t.Fatalf("transfer leadership to n5: %v", err)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if c.Leader() != n5 {
			return fmt.Errorf("leader is %d", c.Leader())
		}
		return nil
	})
	old := follower(c, n4, n5)
	putTenant(t, c, old, "via_n5")

	// A restarted joined node neither joins again nor bootstraps.
	c.Restart(n5)
	nodetest.Eventually(t, 15*time.Second, func() error {
		if c.Leader() < 0 {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	caughtUp(t, c, n5)
	if s := suffrages(t, c, n5); len(s) != 5 || s["n5"] != "Voter" {
		t.Fatalf("configuration after restarting n5: %v", s)
	}

	// Remove a voter (and the stopped read replica): writes go on, and the
	// removed node no longer counts.
	victim := follower(c, n4, n5)
	if r := c.Admin(n5, http.MethodDelete, peersPath+"/"+c.Peers[victim].ID, ""); r.Status != http.StatusOK {
		t.Fatalf("remove %s: %s", c.Peers[victim].ID, r)
	}
	c.Stop(victim)
	if r := c.Admin(follower(c, n4), http.MethodDelete, peersPath+"/n4", ""); r.Status != http.StatusOK {
		t.Fatalf("remove n4: %s", r)
	}
	putTenant(t, c, follower(c, n4, victim), "after_remove")
	s := suffrages(t, c, n5)
	if _, ok := s[c.Peers[victim].ID]; ok || len(s) != 3 {
		t.Fatalf("configuration after removals: %v", s)
	}
	if _, ok := c.Nodes[n5].Machine().View().Member("n4"); ok {
		t.Fatal("n4 is still in the member directory")
	}
	// The removed members left JetStream's meta group too: five servers
	// joined it, three are left, so JetStream may still lose one.
	metaSize(t, c, n5, 3)

	// Removing the leader hands leadership over first.
	l = c.Leader()
	via := follower(c, n4, victim)
	if r := c.Admin(via, http.MethodDelete, peersPath+"/"+c.Peers[l].ID, ""); r.Status != http.StatusOK {
		t.Fatalf("remove the leader %s: %s", c.Peers[l].ID, r)
	}
	c.Stop(l)
	putTenant(t, c, via, "after_leader_removed")
	if s := suffrages(t, c, via); len(s) != 2 {
		t.Fatalf("configuration after removing the leader: %v", s)
	}
	metaSize(t, c, via, 2)
}

// metaSize waits until node i's embedded server sees a JetStream meta group
// of want servers. The leader removes JetStream peers in the background,
// after answering, and a lost meta leader must be replaced first: the wait
// is long for a loaded machine.
func metaSize(t *testing.T, c *nodetest.Cluster, i, want int) {
	t.Helper()
	nodetest.Eventually(t, 45*time.Second, func() error {
		if got := c.Nodes[i].JetStreamMetaSize(); got != want {
			return fmt.Errorf("%s sees a jetstream meta group of %d, want %d", c.Peers[i].ID, got, want)
		}
		return nil
	})
}

// TestPeersBadInput is the refusal table of the membership endpoints, on a
// one-node cluster.
func TestPeersBadInput(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodes(1))
	if r := c.Admin(0, http.MethodPut, "/_plugins/_security/api/internalusers/rita", `{"password":"Quartz-Lamp-Harbor-58"}`); r.Status != http.StatusCreated {
		t.Fatalf("create rita: %s", r)
	}
	if r := c.Admin(0, http.MethodPut, "/_plugins/_security/api/internalusers/bob", `{"password":"Quartz-Lamp-Harbor-58"}`); r.Status != http.StatusCreated {
		t.Fatalf("create bob: %s", r)
	}
	// bob may use the REST API, but no role grants him cluster:admin/authz/cluster/peers.
	if r := c.DoWith(c.AdminClient, 0, http.MethodPut, "/_plugins/_security/api/rolesmapping/security_rest_api_access", "", "", `{"users":["bob"]}`); r.Status/100 != 2 {
		t.Fatalf("map bob: %s", r)
	}
	self := c.Peers[0]
	body := func(id, raftAddr, httpAddr string) string {
		return fmt.Sprintf(`{"id":%q,"raft_address":%q,"http_address":%q}`, id, raftAddr, httpAddr)
	}
	cases := []struct {
		name         string
		user         string
		method, path string
		body         string
		status       int
		message      string
	}{
		{"not json", "admin", http.MethodPost, peersPath, `{`, 400, "Could not parse content of request"},
		{"unknown field", "admin", http.MethodPost, peersPath, `{"id":"n2","raft_address":"127.0.0.1:1","http_address":"127.0.0.1:2","colour":"red"}`, 400, "Could not parse content of request"},
		{"voter not a boolean", "admin", http.MethodPost, peersPath, `{"id":"n2","raft_address":"127.0.0.1:1","http_address":"127.0.0.1:2","voter":"yes"}`, 400, "Could not parse content of request"},
		{"empty body", "admin", http.MethodPost, peersPath, ``, 400, "id must be"},
		{"missing id", "admin", http.MethodPost, peersPath, `{"raft_address":"127.0.0.1:1","http_address":"127.0.0.1:2"}`, 400, "id must be"},
		{"bad id", "admin", http.MethodPost, peersPath, body("../n2", "127.0.0.1:1", "127.0.0.1:2"), 400, "id must be"},
		{"missing http address", "admin", http.MethodPost, peersPath, `{"id":"n2","raft_address":"127.0.0.1:1"}`, 400, "http_address is required"},
		{"raft address without port", "admin", http.MethodPost, peersPath, body("n2", "127.0.0.1", "127.0.0.1:2"), 400, "raft_address must be host:port"},
		{"port out of range", "admin", http.MethodPost, peersPath, body("n2", "127.0.0.1:70000", "127.0.0.1:2"), 400, "port from 1 to 65535"},
		{"bad nats route", "admin", http.MethodPost, peersPath, `{"id":"n2","raft_address":"127.0.0.1:1","http_address":"127.0.0.1:2","nats_route":"x"}`, 400, "nats_route must be host:port"},
		{"id in use", "admin", http.MethodPost, peersPath, body("n1", "127.0.0.1:1", "127.0.0.1:2"), 409, "peer id 'n1' is already a member"},
		{"raft address in use", "admin", http.MethodPost, peersPath, body("n2", self.RaftAddr, "127.0.0.1:2"), 409, "raft address '" + self.RaftAddr + "' is already used by peer 'n1'"},
		{"http address in use", "admin", http.MethodPost, peersPath, body("n2", "127.0.0.1:1", self.HTTPAddr), 409, "http address '" + self.HTTPAddr + "' is already used by peer 'n1'"},
		{"same member again is a no-op", "admin", http.MethodPost, peersPath, c.PeerBody(0, true), 200, `"suffrage":"Voter"`},
		{"unknown peer", "admin", http.MethodDelete, peersPath + "/n9", "", 404, "peer 'n9' is not a member"},
		{"last voter", "admin", http.MethodDelete, peersPath + "/n1", "", 409, "cannot remove 'n1': it is the last voter"},
		{"bad id in path", "admin", http.MethodDelete, peersPath + "/-x", "", 400, "id must be"},
		{"wrong method", "admin", http.MethodGet, peersPath, "", 405, "Incorrect HTTP method"},
		{"unauthenticated", "", http.MethodPost, peersPath, body("n2", "127.0.0.1:1", "127.0.0.1:2"), 401, "Unauthorized"},
		{"REST API access without the permission", "bob", http.MethodPost, peersPath, body("n2", "127.0.0.1:1", "127.0.0.1:2"), 403, "needs cluster:admin/authz/cluster/peers"},
		{"no REST API access", "rita", http.MethodPost, peersPath, body("n2", "127.0.0.1:1", "127.0.0.1:2"), 403, "No permission"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pw := nodetest.AdminPassword
			if tc.user == "rita" || tc.user == "bob" {
				pw = "Quartz-Lamp-Harbor-58"
			}
			r := c.Do(0, tc.method, tc.path, tc.user, pw, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.message) {
				t.Fatalf("%s %s = %s, want %d containing %q", tc.method, tc.path, r, tc.status, tc.message)
			}
			if !json.Valid(r.Body) {
				t.Fatalf("body is not JSON: %s", r)
			}
		})
	}
	if s := suffrages(t, c, 0); len(s) != 1 {
		t.Fatalf("the refused changes changed the configuration: %v", s)
	}
}
