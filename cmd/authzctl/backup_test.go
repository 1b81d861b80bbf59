package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
)

// ctlOn runs authzctl against node i of c with the super admin certificate.
func ctlOn(t *testing.T, c *nodetest.Cluster, i int, args ...string) result {
	t.Helper()
	return ctlEnv(t, map[string]string{
		"AUTHZD_URL":       "https://" + c.Peers[i].HTTPAddr,
		"AUTHZD_CA_FILE":   c.PKI.CAFile,
		"AUTHZD_CERT_FILE": c.PKI.AdminCertFile(),
		"AUTHZD_KEY_FILE":  c.PKI.AdminKeyFile(),
	}, args...)
}

// admin sends a request to node i with the super admin certificate.
func admin(t *testing.T, c *nodetest.Cluster, i int, method, path, body string) nodetest.Response {
	t.Helper()
	return c.DoWith(c.AdminClient, i, method, path, "", "", body)
}

// status is node i's GET /_plugins/_authz/cluster.
func status(t *testing.T, c *nodetest.Cluster, i int) clusterStatus {
	t.Helper()
	return statusAt(t, c, i, 0)
}

// statusAt is status once node i has applied rev.
func statusAt(t *testing.T, c *nodetest.Cluster, i int, rev uint64) clusterStatus {
	t.Helper()
	r := admin(t, c, i, http.MethodGet, "/_plugins/_authz/cluster?min_revision="+strconv.FormatUint(rev, 10), "")
	var st clusterStatus
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &st) != nil {
		t.Fatalf("cluster status of node %d: %s", i, r)
	}
	return st
}

// maxRevision is the highest applied revision over c's nodes.
func maxRevision(t *testing.T, c *nodetest.Cluster) uint64 {
	t.Helper()
	var rev uint64
	for i := range c.Nodes {
		rev = max(rev, status(t, c, i).Revision)
	}
	return rev
}

// waitHash waits until every node of c has state hash want, at a revision of
// at least rev.
func waitHash(t *testing.T, c *nodetest.Cluster, want string, rev uint64) {
	t.Helper()
	nodetest.Eventually(t, 10*time.Second, func() error {
		for i := range c.Nodes {
			st := status(t, c, i)
			if st.StateHash != want || st.Revision < rev {
				return fmt.Errorf("node %d at revision %d hash %.12s, want hash %.12s at %d or later", i, st.Revision, st.StateHash, want, rev)
			}
		}
		return nil
	})
}

// decisionAsks are evaluate requests whose answers must agree between the
// backed-up and the restored cluster.
var decisionAsks = []string{
	`{"user":{"name":"rita","backend_roles":["readers"]},"action":"indices:data/read/search","indices":["logs-1"]}`,
	`{"user":{"name":"rita","backend_roles":["readers"]},"action":"indices:data/write/index","indices":["logs-1"]}`,
	`{"user":{"name":"wes"},"action":"indices:data/write/index","indices":["metrics-7"]}`,
	`{"user":{"name":"wes"},"action":"cluster:monitor/health"}`,
	`{"user":{"name":"kibanaserver"},"action":"cluster:monitor/health"}`,
	`{"user":{"name":"nobody"},"action":"indices:data/read/search","indices":["logs-1"]}`,
}

// decisions evaluates decisionAsks on node i, without the revision.
func decisions(t *testing.T, c *nodetest.Cluster, i int) []string {
	t.Helper()
	var out []string
	for _, ask := range decisionAsks {
		r := admin(t, c, i, http.MethodPost, "/_plugins/_authz/evaluate", ask)
		var m map[string]any
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &m) != nil {
			t.Fatalf("evaluate %s on node %d: %s", ask, i, r)
		}
		delete(m, "revision")
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// variedConfig applies the demo configuration to c and changes it through
// the REST API: users, roles, mappings, action groups and tenants added,
// changed and removed.
func variedConfig(t *testing.T, c *nodetest.Cluster) {
	t.Helper()
	ctlOn(t, c, 0, "apply", "-d", demoDir).must(t, "apply demo")
	for i, w := range []struct{ method, path, body string }{
		{"PUT", "/_plugins/_security/api/actiongroups/ag_read", `{"allowed_actions":["indices:data/read/*"]}`},
		{"PUT", "/_plugins/_security/api/roles/readers", `{"cluster_permissions":["cluster:monitor/*"],"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["ag_read"]}]}`},
		{"PUT", "/_plugins/_security/api/roles/writers", `{"index_permissions":[{"index_patterns":["metrics-*"],"allowed_actions":["indices:data/write/*"]}]}`},
		{"PUT", "/_plugins/_security/api/internalusers/rita", `{"password":"Vq9#tLw2-mZpR7xe","backend_roles":["readers"],"attributes":{"team":"ops"}}`},
		{"PUT", "/_plugins/_security/api/internalusers/wes", `{"password":"Kd4!uN8w-qYs3Jbo"}`},
		{"PUT", "/_plugins/_security/api/rolesmapping/readers", `{"backend_roles":["readers"]}`},
		{"PUT", "/_plugins/_security/api/rolesmapping/writers", `{"users":["wes"]}`},
		{"PUT", "/_plugins/_security/api/tenants/team_ops", `{"description":"ops"}`},
		{"PATCH", "/_plugins/_security/api/roles/writers", `[{"op":"add","path":"/cluster_permissions","value":["cluster:monitor/health"]}]`},
		{"DELETE", "/_plugins/_security/api/tenants/team_ops", ``},
		{"PUT", "/_plugins/_security/api/tenants/team_dev", `{"description":"dev"}`},
	} {
		r := admin(t, c, i%len(c.Nodes), w.method, w.path, w.body)
		if r.Status/100 != 2 {
			t.Fatalf("%s %s: %s", w.method, w.path, r)
		}
	}
}

// TestBackupRestore: a backup of a 3-node cluster restored into a fresh
// 3-node cluster gives every node the same state hash and the same
// decisions, at a revision above both clusters' earlier ones; the restored
// cluster accepts writes; a bad backup file is refused with a 400 and
// changes nothing; a second restore needs --force.
func TestBackupRestore(t *testing.T) {
	a := nodetest.Start(t)
	variedConfig(t, a)
	dir := filepath.Join(t.TempDir(), "backup")
	r := ctlOn(t, a, 1, "--min-revision", strconv.FormatUint(maxRevision(t, a), 10), "backup", "-o", dir).must(t, "backup")
	t.Log(strings.TrimSpace(r.out))
	var m manifest
	mb, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil || json.Unmarshal(mb, &m) != nil {
		t.Fatalf("manifest: %v %s", err, mb)
	}
	stA := status(t, a, 1)
	if m.StateHash != stA.StateHash || m.Revision != stA.Revision || m.NodeID != "n2" {
		t.Fatalf("manifest %+v, node n2 at %d hash %s", m, stA.Revision, stA.StateHash)
	}
	for _, f := range []string{"internal_users.yml", "roles.yml", "roles_mapping.yml", "action_groups.yml", "tenants.yml", "config.yml", snapshotFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("backup lacks %s: %v", f, err)
		}
	}
	wantDecisions := decisions(t, a, 0)
	// Only admins read or restore a snapshot.
	for _, method := range []string{"GET", "POST"} {
		if r := a.Do(0, method, "/_plugins/_authz/snapshot", "rita", "Vq9#tLw2-mZpR7xe", ""); r.Status != http.StatusForbidden {
			t.Fatalf("%s snapshot as a user without admin rights: %s, want 403", method, r)
		}
	}

	b := nodetest.Start(t)
	before := maxRevision(t, b)
	// Through a follower, which forwards it to the leader.
	r = ctlOn(t, b, (b.Leader()+1)%len(b.Nodes), "restore", dir).must(t, "restore")
	t.Log(strings.TrimSpace(r.out))
	restored := restoredAt(t, r)
	if restored <= before || restored <= m.Revision {
		t.Fatalf("restored at revision %d, want above B's %d and the backup's %d", restored, before, m.Revision)
	}
	waitHash(t, b, m.StateHash, restored)
	for i := range b.Nodes {
		if got := decisions(t, b, i); strings.Join(got, "\n") != strings.Join(wantDecisions, "\n") {
			t.Errorf("node %d decides\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(wantDecisions, "\n"))
		}
	}

	// A restarted node comes back with the restored state (raft's snapshot).
	follower := (b.Leader() + 1) % len(b.Nodes)
	b.Restart(follower)
	waitHash(t, b, m.StateHash, restored)

	// B goes on: writes get revisions above the restored one.
	w := admin(t, b, 1, "PUT", "/_plugins/_security/api/tenants/after_restore", `{"description":"x"}`)
	wrev, _ := strconv.ParseUint(w.Header.Get("X-Authz-Revision"), 10, 64)
	if w.Status/100 != 2 || wrev <= restored {
		t.Fatalf("write after restore: %s at revision %d, want above %d", w, wrev, restored)
	}
	changed := statusAt(t, b, 0, wrev)

	// Bad files change nothing.
	raw, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x20
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"corrupt", flipped, "checksum mismatch"},
		{"truncated", raw[:len(raw)-100], "checksum mismatch"},
		{"foreign", []byte("{\"docs\":{}}" + strings.Repeat(" ", 64)), "not an authzd backup file"},
		{"empty", nil, "not an authzd backup file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin(t, b, 0, "POST", "/_plugins/_authz/snapshot?force=true", string(tc.body))
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.want) {
				t.Fatalf("got %s, want 400 with %q", r, tc.want)
			}
		})
	}
	if r := admin(t, b, 0, "POST", "/_plugins/_authz/internal/restore", string(raw)); r.Status != http.StatusForbidden {
		t.Fatalf("internal restore with the admin certificate: %s, want 403", r)
	}
	if st := status(t, b, 0); st.StateHash != changed.StateHash || st.Revision != changed.Revision {
		t.Fatalf("after bad uploads node 0 at %d hash %.12s, want %d %.12s", st.Revision, st.StateHash, changed.Revision, changed.StateHash)
	}

	// B has changes now: restoring again needs --force, and lands above them.
	if r := ctlOn(t, b, 0, "restore", dir); r.code == 0 || !strings.Contains(r.err, "--force") {
		t.Fatalf("restore without --force over changes: exit %d, %s", r.code, r.err)
	}
	r = ctlOn(t, b, b.Leader(), "restore", "--force", dir).must(t, "restore --force")
	again := restoredAt(t, r)
	if again <= changed.Revision {
		t.Fatalf("second restore at revision %d, want above %d", again, changed.Revision)
	}
	waitHash(t, b, m.StateHash, again)
}

var restoredRe = regexp.MustCompile(`at revision (\d+)`)

// restoredAt is the revision a restore printed.
func restoredAt(t *testing.T, r result) uint64 {
	t.Helper()
	m := restoredRe.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no revision in %q", r.out)
	}
	rev, _ := strconv.ParseUint(m[1], 10, 64)
	return rev
}

// TestRestoreYAML: the YAML files of a backup, applied to a fresh cluster
// (restore --yaml), reach the backed-up state hash when the backed-up cluster
// set no cluster settings.
func TestRestoreYAML(t *testing.T) {
	a := nodetest.Start(t, nodetest.WithNodes(1))
	variedConfig(t, a)
	dir := filepath.Join(t.TempDir(), "backup")
	ctlOn(t, a, 0, "backup", "-o", dir).must(t, "backup")
	want := status(t, a, 0).StateHash
	b := nodetest.Start(t, nodetest.WithNodes(1))
	r := ctlOn(t, b, 0, "restore", "--yaml", dir).must(t, "restore --yaml")
	t.Log(strings.TrimSpace(r.out))
	waitHash(t, b, want, 0)
}
