package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
)

const pw = "Tq7#vLm9!pXz2$Kd-w8"

// ownershipCluster starts a demo cluster with the users of the seed pages.
func ownershipCluster(t *testing.T, opts ...nodetest.Option) *nodetest.Cluster {
	t.Helper()
	c := nodetest.Start(t, append([]nodetest.Option{nodetest.WithDemo()}, opts...)...)
	users := map[string][]string{
		"judy": {"IT"}, "elon": {"admin"}, "nobody1": nil, "nobody2": nil,
		"alice": {"analyst"}, "bob": {"human-resources"}, "noperm": {"IT", "admin"},
	}
	for _, name := range slices.Sorted(mapsKeys(users)) {
		roles, _ := json.Marshal(users[name])
		if roles == nil || string(roles) == "null" {
			roles = []byte("[]")
		}
		mustStatus(t, c.Admin(0, http.MethodPut, "/_plugins/_security/api/internalusers/"+name,
			fmt.Sprintf(`{"password":%q,"backend_roles":%s}`, pw, roles)), http.StatusCreated)
	}
	// The demo maps the backend role "admin" to all_access, which would make
	// elon (backend role admin, as on the seed page) an admin; map the admin
	// user by name only.
	for role, us := range map[string]string{
		"all_access":                      `["admin"]`,
		"asynchronous_search_full_access": `["judy","elon","nobody1","nobody2"]`,
		"anomaly_full_access":             `["alice","bob"]`,
	} {
		r := c.DoWith(c.AdminClient, 0, http.MethodPut, "/_plugins/_security/api/rolesmapping/"+role, "", "", `{"users":`+us+`}`)
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Fatalf("map %s: %s", role, r)
		}
		waitRevision(t, c, r)
	}
	return c
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustStatus(t *testing.T, r nodetest.Response, want int) nodetest.Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// waitRevision waits until every node applied the revision of a write.
func waitRevision(t *testing.T, c *nodetest.Cluster, r nodetest.Response) {
	t.Helper()
	rev := revisionOf(t, r)
	for i, n := range c.Nodes {
		if n != nil {
			mustStatus(t, c.Admin(i, http.MethodGet, "/_plugins/_security/api/roles/all_access?min_revision="+rev, ""), http.StatusOK)
		}
	}
}

func register(t *testing.T, c *nodetest.Cluster, node int, user, kind, id string) string {
	t.Helper()
	r := mustStatus(t, c.Do(node, http.MethodPut, "/_plugins/_authz/resources/"+kind+"/"+id, user, pw, ""), http.StatusCreated)
	return r.Header.Get("X-Authz-Owners-Seq")
}

type checkResult struct {
	Allowed bool   `json:"allowed"`
	Rule    string `json:"rule"`
	Status  int    `json:"status"`
	Reason  string `json:"reason"`
	StaleMS int64  `json:"stale_ms"`
}

func check(t *testing.T, c *nodetest.Cluster, node int, kind, id, user, action, seq string) checkResult {
	t.Helper()
	r := mustStatus(t, c.Admin(node, http.MethodPost, "/_plugins/_authz/resources/"+kind+"/"+id+"/_check?min_seq="+seq,
		fmt.Sprintf(`{"user":%q,"action":%q}`, user, action)), http.StatusOK)
	var res checkResult
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func visible(t *testing.T, c *nodetest.Cluster, node int, user, kind, seq string) []string {
	t.Helper()
	r := mustStatus(t, c.Do(node, http.MethodPost, "/_plugins/_authz/resources/"+kind+"/_visible?min_seq="+seq, user, pw, `{"size":1000}`), http.StatusOK)
	var res struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	return res.IDs
}

const (
	asGet    = "cluster:admin/opendistro/asynchronous_search/get"
	asDelete = "cluster:admin/opendistro/asynchronous_search/delete"
	adGet    = "cluster:admin/opendistro/ad/detectors/get"
)

// TestAsyncSearchOwnershipDocs is the judy/elon example of the async search
// security page (O1, O2), registered on node 1 and checked on node 3.
func TestAsyncSearchOwnershipDocs(t *testing.T) {
	c := ownershipCluster(t)
	register(t, c, 0, "judy", "async_search", "s-judy")
	seq := register(t, c, 0, "elon", "async_search", "s-elon")

	// Disjoint backend roles: neither sees the other's search.
	if r := check(t, c, 2, "async_search", "s-elon", "judy", asGet, seq); r.Allowed || r.Rule != "O2" || r.Status != 404 {
		t.Fatalf("judy on elon's (disjoint) = %+v", r)
	}
	if r := check(t, c, 2, "async_search", "s-judy", "elon", asGet, seq); r.Allowed {
		t.Fatalf("elon on judy's (disjoint) = %+v", r)
	}
	g := mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/async_search/s-elon?min_seq="+seq, "judy", pw, ""), http.StatusNotFound)
	if !strings.Contains(string(g.Body), "Either the resource [s-elon] does not exist or you do not have access") {
		t.Fatalf("refusal body = %s", g.Body)
	}
	if got := visible(t, c, 2, "judy", "async_search", seq); !slices.Equal(got, []string{"s-judy"}) {
		t.Fatalf("judy sees %v", got)
	}

	// judy ⊇ elon: judy gets and deletes elon's, elon neither of judy's.
	waitRevision(t, c, mustStatus(t, c.Admin(0, http.MethodPut, "/_plugins/_security/api/internalusers/judy",
		fmt.Sprintf(`{"password":%q,"backend_roles":["IT","admin","ops","hr","dev"]}`, pw)), http.StatusOK))
	register(t, c, 0, "judy", "async_search", "s-judy2") // owned with judy's five roles
	seq = register(t, c, 0, "elon", "async_search", "s-elon2")
	mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/async_search/s-elon?min_seq="+seq, "judy", pw, ""), http.StatusOK)
	mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/async_search/s-judy2", "elon", pw, ""), http.StatusNotFound)
	mustStatus(t, c.Do(1, http.MethodDelete, "/_plugins/_authz/resources/async_search/s-judy2", "elon", pw, ""), http.StatusNotFound)
	if r := check(t, c, 2, "async_search", "s-judy2", "elon", asDelete, seq); r.Allowed {
		t.Fatalf("elon may delete judy's: %+v", r)
	}
	d := mustStatus(t, c.Do(1, http.MethodDelete, "/_plugins/_authz/resources/async_search/s-elon", "judy", pw, ""), http.StatusOK)
	mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/async_search/s-elon?min_seq="+d.Header.Get("X-Authz-Owners-Seq"), "judy", pw, ""), http.StatusNotFound)

	// Nobody with backend roles: everybody sees everybody's searches.
	register(t, c, 0, "nobody1", "async_search", "s-n1")
	seq = register(t, c, 1, "nobody2", "async_search", "s-n2")
	if r := check(t, c, 2, "async_search", "s-n1", "nobody2", asGet, seq); !r.Allowed {
		t.Fatalf("nobody2 on nobody1's = %+v", r)
	}
	if got := visible(t, c, 0, "nobody1", "async_search", seq); !slices.Equal(got, []string{"s-n1", "s-n2"}) {
		t.Fatalf("nobody1 sees %v", got)
	}

	// O1: no action permission means 403 whatever the ownership.
	if r := check(t, c, 2, "async_search", "s-elon2", "noperm", asGet, seq); r.Allowed || r.Rule != "O1" || r.Status != 403 {
		t.Fatalf("unmapped user = %+v", r)
	}
	mustStatus(t, c.Do(0, http.MethodGet, "/_plugins/_authz/resources/async_search/s-elon2", "noperm", pw, ""), http.StatusForbidden)
	mustStatus(t, c.Do(0, http.MethodPut, "/_plugins/_authz/resources/async_search/s-noperm", "noperm", pw, ""), http.StatusForbidden)

	// all_access sees everything.
	all := mustStatus(t, c.Admin(2, http.MethodPost, "/_plugins/_authz/resources/async_search/_visible?min_seq="+seq, `{"size":2}`), http.StatusOK)
	var page struct {
		IDs  []string `json:"ids"`
		Next *string  `json:"next"`
	}
	if err := json.Unmarshal(all.Body, &page); err != nil || len(page.IDs) != 2 || page.Next == nil {
		t.Fatalf("admin first page = %s", all.Body)
	}
	rest := mustStatus(t, c.Admin(2, http.MethodPost, "/_plugins/_authz/resources/async_search/_visible", fmt.Sprintf(`{"size":100,"after":%q}`, *page.Next)), http.StatusOK)
	var page2 struct{ IDs []string }
	_ = json.Unmarshal(rest.Body, &page2)
	if got := append(page.IDs, page2.IDs...); !slices.Equal(got, []string{"s-elon2", "s-judy", "s-judy2", "s-n1", "s-n2"}) {
		t.Fatalf("admin sees %v", got)
	}
}

// TestDetectorOwnershipDocs is the alice/bob example of the anomaly
// detection security page (O3) with the filter off, then on.
func TestDetectorOwnershipDocs(t *testing.T) {
	c := ownershipCluster(t, nodetest.WithNodes(3))
	register(t, c, 0, "alice", "detector", "d-alice")
	seq := register(t, c, 1, "bob", "detector", "d-bob")
	if got := visible(t, c, 2, "alice", "detector", seq); !slices.Equal(got, []string{"d-alice", "d-bob"}) {
		t.Fatalf("filter off: alice sees %v", got)
	}
	mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/detector/d-bob", "alice", pw, ""), http.StatusOK)

	s := mustStatus(t, c.Admin(1, http.MethodPut, "/_cluster/settings", `{"transient":{"plugins.anomaly_detection.filter_by_backend_roles":"true"}}`), http.StatusOK)
	if string(s.Body) != `{"acknowledged":true,"persistent":{},"transient":{"plugins":{"anomaly_detection":{"filter_by_backend_roles":"true"}}}}` {
		t.Fatalf("PUT settings = %s", s.Body)
	}
	waitRevision(t, c, s)
	if got := visible(t, c, 2, "alice", "detector", seq); !slices.Equal(got, []string{"d-alice"}) {
		t.Fatalf("filter on: alice sees %v", got)
	}
	if got := visible(t, c, 0, "bob", "detector", seq); !slices.Equal(got, []string{"d-bob"}) {
		t.Fatalf("filter on: bob sees %v", got)
	}
	r := mustStatus(t, c.Do(2, http.MethodGet, "/_plugins/_authz/resources/detector/d-bob", "alice", pw, ""), http.StatusForbidden)
	if !strings.Contains(string(r.Body), "User does not have permissions to access detector: d-bob") {
		t.Fatalf("refusal = %s", r.Body)
	}
	if res := check(t, c, 1, "detector", "d-alice", "admin", adGet, seq); !res.Allowed || res.Rule != "O4" {
		t.Fatalf("all_access = %+v", res)
	}
	g := mustStatus(t, c.Admin(2, http.MethodGet, "/_cluster/settings?flat_settings=true", ""), http.StatusOK)
	if string(g.Body) != `{"persistent":{},"transient":{"plugins.anomaly_detection.filter_by_backend_roles":"true"}}` {
		t.Fatalf("GET settings = %s", g.Body)
	}
	mustStatus(t, c.Admin(0, http.MethodPut, "/_cluster/settings", `{"persistent":{"cluster.routing.allocation.enable":"all"}}`), http.StatusBadRequest)
	mustStatus(t, c.Admin(0, http.MethodPut, "/_cluster/settings", `{"transient":{"plugins.anomaly_detection.filter_by_backend_roles":"yes"}}`), http.StatusBadRequest)
	mustStatus(t, c.Do(0, http.MethodPut, "/_cluster/settings", "alice", pw, `{"transient":{"plugins.anomaly_detection.filter_by_backend_roles":null}}`), http.StatusForbidden)
	hashesEqual(t, c)
}

// TestOwnershipBadInput: clear errors, nothing written.
func TestOwnershipBadInput(t *testing.T) {
	c := ownershipCluster(t, nodetest.WithNodes(1))
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPut, "/_plugins/_authz/resources/pipeline/x", "", 400},
		{http.MethodPut, "/_plugins/_authz/resources/async_search/x", `{"owner":`, 400},
		{http.MethodPut, "/_plugins/_authz/resources/async_search/x", `{"bogus":1}`, 400},
		{http.MethodPut, "/_plugins/_authz/resources/async_search/" + strings.Repeat("x", 600), "", 400},
		{http.MethodPost, "/_plugins/_authz/resources/async_search/x/_check", `{"user":"judy"}`, 400},
		{http.MethodPost, "/_plugins/_authz/resources/async_search/nope/_check", `{"user":"judy","action":"` + asGet + `"}`, 404},
		{http.MethodPost, "/_plugins/_authz/resources/async_search/_visible", `{"size":0}`, 400},
		{http.MethodPost, "/_plugins/_authz/resources/async_search/_visible", `{"size":"ten"}`, 400},
		{http.MethodPost, "/_plugins/_authz/resources/async_search/_visible?min_seq=abc", `{}`, 400},
		{http.MethodPatch, "/_plugins/_authz/resources/async_search/x", `{}`, 405},
		{http.MethodGet, "/_plugins/_authz/resources/async_search/unknown", "", 404},
	} {
		if r := c.Admin(0, tc.method, tc.path, tc.body); r.Status != tc.want || !json.Valid(r.Body) {
			t.Errorf("%s %s %s = %s, want %d", tc.method, tc.path, tc.body, r, tc.want)
		}
	}
	// Registering for someone else needs register_as.
	mustStatus(t, c.Do(0, http.MethodPut, "/_plugins/_authz/resources/async_search/y", "judy", pw, `{"owner":{"name":"elon","backend_roles":["admin"]}}`), http.StatusForbidden)
	mustStatus(t, c.Admin(0, http.MethodPut, "/_plugins/_authz/resources/async_search/y", `{"owner":{"name":"elon","backend_roles":["admin"]}}`), http.StatusCreated)
	mustStatus(t, c.Do(0, http.MethodPut, "/_plugins/_authz/resources/async_search/y", "judy", pw, ""), http.StatusConflict)
	mustStatus(t, c.Do(0, http.MethodPut, "/_plugins/_authz/resources/async_search/y", "elon", pw, ""), http.StatusOK)
	// Asking for another user needs check_as.
	mustStatus(t, c.Do(0, http.MethodPost, "/_plugins/_authz/resources/async_search/y/_check", "judy", pw, `{"user":"elon","action":"`+asGet+`"}`), http.StatusForbidden)
}

// TestOwnershipSurvivesNodeLoss: with one node of three down, registration
// and checks keep working; the restarted node rebuilds an equal index.
func TestOwnershipSurvivesNodeLoss(t *testing.T) {
	c := ownershipCluster(t)
	register(t, c, 0, "judy", "async_search", "before")
	c.Stop(1)
	seq := register(t, c, 0, "judy", "async_search", "during")
	if r := check(t, c, 2, "async_search", "during", "judy", asGet, seq); !r.Allowed {
		t.Fatalf("check with a node down = %+v", r)
	}
	c.Restart(1)
	c.WaitReady()
	nodetest.Eventually(t, 10*time.Second, func() error {
		want := c.Nodes[0].OwnerIndex()
		for i, n := range c.Nodes {
			x := n.OwnerIndex()
			if x.Len() != want.Len() || x.Seq() != want.Seq() {
				return fmt.Errorf("node %d index: %d records at seq %d, node 0: %d at %d", i, x.Len(), x.Seq(), want.Len(), want.Seq())
			}
		}
		return nil
	})
	if got := visible(t, c, 1, "judy", "async_search", seq); !slices.Equal(got, []string{"before", "during"}) {
		t.Fatalf("restarted node: judy sees %v", got)
	}
}

// TestOwnershipNATSDown: registration answers 503 with a clear message;
// checks answer from the last index and report their age.
func TestOwnershipNATSDown(t *testing.T) {
	c := ownershipCluster(t, nodetest.WithNodes(1), nodetest.WithExternalNATS())
	seq := register(t, c, 0, "judy", "async_search", "s1")
	c.StopExternalNATS()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if c.Nodes[0].Bus().IsConnected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	r := mustStatus(t, c.Do(0, http.MethodPut, "/_plugins/_authz/resources/async_search/s2", "judy", pw, ""), http.StatusServiceUnavailable)
	var body map[string]string
	if err := json.Unmarshal(r.Body, &body); err != nil || body["status"] != "UNAVAILABLE" || !strings.Contains(body["message"], "NATS") {
		t.Fatalf("503 body = %s", r.Body)
	}
	nodetest.Eventually(t, 5*time.Second, func() error {
		if res := check(t, c, 0, "async_search", "s1", "judy", asGet, seq); !res.Allowed || res.StaleMS <= 0 {
			return fmt.Errorf("check while NATS is down = %+v", res)
		}
		return nil
	})
	mustStatus(t, c.Do(0, http.MethodPost, "/_plugins/_authz/resources/async_search/s2/_check", "judy", pw, `{"action":"`+asGet+`"}`), http.StatusNotFound)
	// Health stays UP: decisions and checks still answer (documented).
	mustStatus(t, c.Do(0, http.MethodGet, "/_plugins/_security/health", "", "", ""), http.StatusOK)
}
