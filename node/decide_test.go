package node_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authzd/authzd/node/nodetest"
)

const evaluatePath = "/_plugins/_authz/evaluate"

func decodeJSON(t *testing.T, r nodetest.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %s", r)
	}
	return m
}

// TestDecisionAPIFollowsChanges: a role changed through node 1 decides
// differently on node 3 at the revision the change returned.
func TestDecisionAPIFollowsChanges(t *testing.T) {
	c := nodetest.Start(t)
	ask := `{"user":{"name":"ext","backend_roles":["analysts"]},"action":"indices:data/read/search","indices":["logs-1"]}`
	r := c.Admin(2, http.MethodPost, evaluatePath, ask)
	if r.Status != http.StatusOK || decodeJSON(t, r)["allowed"] != false {
		t.Fatalf("before the change: %s", r)
	}
	want := "no permissions for [indices:data/read/search] and User [name=ext, backend_roles=[analysts], requestedTenant=null]"
	if got := decodeJSON(t, r)["reason"]; got != want {
		t.Errorf("reason = %v, want %s", got, want)
	}
	put := c.Admin(0, http.MethodPut, "/_plugins/_security/api/roles/analyst",
		`{"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["read"],"fls":["~secret"],"dls":"{\"term\":{\"team\":\"a\"}}"}]}`)
	if put.Status != http.StatusCreated {
		t.Fatalf("put role: %s", put)
	}
	mapping := c.Admin(1, http.MethodPut, "/_plugins/_security/api/rolesmapping/analyst", `{"backend_roles":["analysts"]}`)
	if mapping.Status != http.StatusCreated {
		t.Fatalf("put mapping: %s", mapping)
	}
	rev := revisionOf(t, mapping)
	r = c.Admin(2, http.MethodPost, evaluatePath+"?min_revision="+rev, ask)
	got := decodeJSON(t, r)
	wantBody := map[string]any{
		"allowed": true, "roles": []any{"analyst"}, "revision": got["revision"],
		"indices": map[string]any{"logs-1": map[string]any{
			"allowed": true, "dls": []any{`{"term":{"team":"a"}}`},
			"fls": map[string]any{"mode": "exclude", "fields": []any{"secret"}},
		}},
	}
	if d := cmp.Diff(wantBody, got); d != "" {
		t.Errorf("after the change (-want +got):\n%s", d)
	}
	if r.Header.Get("X-Authz-Revision") < rev {
		t.Errorf("answered at revision %s, before %s", r.Header.Get("X-Authz-Revision"), rev)
	}
}

// TestDecisionAPISubjects covers who may ask for whom, internal users by name,
// external users as given, batches and the privileges matrix.
func TestDecisionAPISubjects(t *testing.T) {
	c := nodetest.Start(t)
	var rev string
	for _, w := range []struct{ path, body string }{
		{"/_plugins/_security/api/roles/reader", `{"cluster_permissions":["cluster_monitor"],"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["read"]}]}`},
		{"/_plugins/_security/api/rolesmapping/reader", `{"backend_roles":["readers"]}`},
		{"/_plugins/_security/api/internalusers/rita", `{"password":"Quartz-Lamp-Harbor-58","backend_roles":["readers"]}`},
	} {
		r := c.Admin(0, http.MethodPut, w.path, w.body)
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT %s: %s", w.path, r)
		}
		rev = revisionOf(t, r)
	}
	rita := func(method, path, body string) nodetest.Response {
		return c.Do(1, method, path+"?min_revision="+rev, "rita", "Quartz-Lamp-Harbor-58", body)
	}

	tests := []struct {
		name    string
		do      func() nodetest.Response
		status  int
		allowed any // nil: not checked
		roles   []any
	}{
		{"self, no user", func() nodetest.Response {
			return rita("POST", evaluatePath, `{"action":"indices:data/read/search","indices":["logs-2"]}`)
		}, 200, true, []any{"reader"}},
		{"self by name", func() nodetest.Response {
			return rita("POST", evaluatePath, `{"user":{"name":"rita"},"action":"indices:data/write/index","indices":["logs-2"]}`)
		}, 200, false, []any{"reader"}},
		{"someone else needs cluster:admin/authz/evaluate", func() nodetest.Response {
			return rita("POST", evaluatePath, `{"user":{"name":"admin"},"action":"cluster:monitor/health"}`)
		}, 403, nil, nil},
		{"admin asks for an internal user by name", func() nodetest.Response {
			return c.Admin(2, "POST", evaluatePath+"?min_revision="+rev, `{"user":{"name":"rita"},"action":"cluster:monitor/health"}`)
		}, 200, true, []any{"reader"}},
		{"admin asks for an external user as given", func() nodetest.Response {
			return c.Admin(2, "POST", evaluatePath+"?min_revision="+rev, `{"user":{"name":"rita","backend_roles":[]},"action":"cluster:monitor/health"}`)
		}, 200, false, []any{}},
		{"super admin certificate", func() nodetest.Response {
			return c.DoWith(c.AdminClient, 0, "POST", evaluatePath+"?min_revision="+rev, "", "", `{"user":{"name":"rita"},"action":"indices:data/read/get","indices":["logs-9"]}`)
		}, 200, true, []any{"reader"}},
		{"unknown field", func() nodetest.Response {
			return rita("POST", evaluatePath, `{"action":"x","colour":"red"}`)
		}, 400, nil, nil},
		{"wrong type", func() nodetest.Response {
			return rita("POST", evaluatePath, `{"action":"x","indices":"logs-1"}`)
		}, 400, nil, nil},
		{"neither action nor tenant", func() nodetest.Response {
			return rita("POST", evaluatePath, `{}`)
		}, 400, nil, nil},
		{"GET is not routed", func() nodetest.Response {
			return rita("GET", evaluatePath, "")
		}, 405, nil, nil},
		{"no credentials", func() nodetest.Response {
			return c.Do(0, "POST", evaluatePath, "", "", `{"action":"x"}`)
		}, 401, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r)
			}
			m := decodeJSON(t, r)
			if tc.allowed != nil && m["allowed"] != tc.allowed {
				t.Errorf("allowed = %v, want %v: %s", m["allowed"], tc.allowed, r)
			}
			if tc.roles != nil {
				if d := cmp.Diff(tc.roles, m["roles"]); d != "" {
					t.Errorf("roles (-want +got):\n%s", d)
				}
			}
		})
	}

	t.Run("batch keeps order and refuses items one by one", func(t *testing.T) {
		r := rita("POST", evaluatePath+"/_batch", `{"requests":[
			{"action":"indices:data/read/search","indices":["logs-1"]},
			{"user":{"name":"admin"},"action":"cluster:monitor/health"},
			{"action":"indices:data/write/index","indices":["logs-1"]}]}`)
		if r.Status != 200 {
			t.Fatalf("batch: %s", r)
		}
		var body struct {
			Responses []map[string]any `json:"responses"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Responses) != 3 {
			t.Fatalf("batch body: %s", r)
		}
		if body.Responses[0]["allowed"] != true || body.Responses[2]["allowed"] != false {
			t.Errorf("batch answers out of order: %s", r)
		}
		if body.Responses[1]["status"] != float64(403) {
			t.Errorf("refused item = %v", body.Responses[1])
		}
	})
	t.Run("has_privileges", func(t *testing.T) {
		r := rita("POST", "/_plugins/_authz/has_privileges", `{"cluster":["cluster:monitor/health","cluster:admin/settings/update"],
			"index":[{"names":["logs-1","secret"],"privileges":["indices:data/read/search"]}]}`)
		want := map[string]any{
			"username": "rita", "has_all_requested": false,
			"cluster": map[string]any{"cluster:monitor/health": true, "cluster:admin/settings/update": false},
			"index": map[string]any{
				"logs-1": map[string]any{"indices:data/read/search": true},
				"secret": map[string]any{"indices:data/read/search": false},
			},
		}
		got := decodeJSON(t, r)
		delete(got, "revision")
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("has_privileges (-want +got):\n%s", d)
		}
	})
	t.Run("privileges", func(t *testing.T) {
		r := rita("GET", "/_plugins/_authz/privileges/rita", "")
		var p struct {
			User    string   `json:"user"`
			Roles   []string `json:"roles"`
			Cluster []string `json:"cluster"`
			Index   []struct {
				IndexPatterns  []string `json:"index_patterns"`
				AllowedActions []string `json:"allowed_actions"`
			} `json:"index"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != 200 {
			t.Fatalf("privileges: %s", r)
		}
		if p.User != "rita" || len(p.Roles) != 1 || p.Roles[0] != "reader" || !slices.Contains(p.Cluster, "cluster:monitor/*") ||
			len(p.Index) != 1 || p.Index[0].IndexPatterns[0] != "logs-*" || !slices.Contains(p.Index[0].AllowedActions, "indices:data/read*") {
			t.Errorf("privileges = %+v", p)
		}
		if r := rita("GET", "/_plugins/_authz/privileges/admin", ""); r.Status != 403 {
			t.Errorf("privileges of another user without cluster:admin/authz/evaluate = %s", r)
		}
	})
	t.Run("who_can", func(t *testing.T) {
		r := c.Admin(1, "POST", "/_plugins/_authz/who_can?min_revision="+rev, `{"action":"indices:data/read/search","index":"logs-7"}`)
		var w struct {
			Roles        []string `json:"roles"`
			BackendRoles []string `json:"backend_roles"`
		}
		if err := json.Unmarshal(r.Body, &w); err != nil || r.Status != 200 {
			t.Fatalf("who_can: %s", r)
		}
		if !slices.Contains(w.Roles, "reader") || !slices.Contains(w.Roles, "all_access") || !slices.Contains(w.BackendRoles, "readers") {
			t.Errorf("who_can = %+v", w)
		}
		if r := rita("POST", "/_plugins/_authz/who_can", `{"action":"indices:data/read/search"}`); r.Status != 403 {
			t.Errorf("who_can without cluster:admin/authz/evaluate = %s", r)
		}
	})
	t.Run("explain names the event that last changed the role", func(t *testing.T) {
		r := rita("POST", evaluatePath, `{"action":"indices:data/read/search","indices":["logs-1"],"explain":true}`)
		var body struct {
			Explain struct {
				Grants []struct {
					Role           string         `json:"role"`
					Chain          []string       `json:"chain"`
					RoleProvenance map[string]any `json:"role_provenance"`
				} `json:"grants"`
			} `json:"explain"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Explain.Grants) == 0 {
			t.Fatalf("explain: %s", r)
		}
		g := body.Explain.Grants[0]
		if g.Role != "reader" || g.RoleProvenance["actor"] != "admin" || g.RoleProvenance["type"] != "role.put" {
			t.Errorf("grant = %+v", g)
		}
	})
}
