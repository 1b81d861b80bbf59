package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authzd/authzd/node/nodetest"
)

// TestBadInput sends malformed and forbidden requests; each must get a clear 4xx
// in the plugin's shape and leave the state unchanged.
func TestBadInput(t *testing.T) {
	c := nodetest.Start(t)
	const api = "/_plugins/_security/api"
	big := `{"description":"` + strings.Repeat("x", 10<<20) + `"}`
	tests := []struct {
		name       string
		method     string
		path       string
		user, pass string
		body       string
		status     int
		want       string // exact body; empty = only check it is JSON
	}{
		{"malformed json", "PUT", api + "/roles/r1", "admin", nodetest.AdminPassword, `{"cluster_permissions":[`, 400,
			`{"status":"error","reason":"Could not parse content of request."}`},
		{"not an object", "PUT", api + "/roles/r1", "admin", nodetest.AdminPassword, `["x"]`, 400,
			`{"status":"error","reason":"Could not parse content of request."}`},
		{"empty object", "PUT", api + "/tenants/t1", "admin", nodetest.AdminPassword, `{}`, 400,
			`{"status":"error","reason":"Request body required for this action."}`},
		{"wrong type", "PUT", api + "/roles/r1", "admin", nodetest.AdminPassword, `{"cluster_permissions":"x"}`, 400,
			`{"status":"error","reason":"Wrong datatype","cluster_permissions":"Array expected"}`},
		{"unknown field", "PUT", api + "/tenants/t1", "admin", nodetest.AdminPassword, `{"description":"d","colour":"red"}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"colour"}}`},
		{"10 MB body", "PUT", api + "/tenants/t1", "admin", nodetest.AdminPassword, big, 413, ""},
		{"empty name", "PUT", api + "/tenants/", "admin", nodetest.AdminPassword, `{"description":"d"}`, 400,
			`{"status":"BAD_REQUEST","message":"No tenant specified."}`},
		{"name with slash", "PUT", api + "/tenants/a%2Fb", "admin", nodetest.AdminPassword, `{"description":"d"}`, 400, ""},
		{"static resource", "PUT", api + "/roles/all_access", "admin", nodetest.AdminPassword, `{"cluster_permissions":["*"]}`, 403,
			`{"status":"FORBIDDEN","message":"Resource 'all_access' is static."}`},
		{"reserved resource", "DELETE", api + "/roles/security_rest_api_access", "admin", nodetest.AdminPassword, "", 403,
			`{"status":"FORBIDDEN","message":"Resource 'security_rest_api_access' is reserved."}`},
		{"missing resource", "DELETE", api + "/roles/nope", "admin", nodetest.AdminPassword, "", 404,
			`{"status":"NOT_FOUND","message":"role 'nope' not found."}`},
		{"missing resource get", "GET", api + "/internalusers/nope", "admin", nodetest.AdminPassword, "", 404,
			`{"status":"NOT_FOUND","message":"user 'nope' not found."}`},
		{"mapping to unknown role", "PUT", api + "/rolesmapping/nope", "admin", nodetest.AdminPassword, `{"users":["x"]}`, 404,
			`{"status":"NOT_FOUND","message":"role 'nope' not found."}`},
		{"weak password", "PUT", api + "/internalusers/judy", "admin", nodetest.AdminPassword, `{"password":"judy"}`, 400, ""},
		{"patch not array", "PATCH", api + "/roles", "admin", nodetest.AdminPassword, `{"op":"add"}`, 400,
			`{"status":"BAD_REQUEST","message":"Wrong request body"}`},
		{"patch bad op", "PATCH", api + "/roles", "admin", nodetest.AdminPassword, `[{"op":"move","from":"/a","path":"/b"}]`, 400,
			`{"status":"BAD_REQUEST","message":"Unsupported patch operation: move. Supported are: add,replace,remove"}`},
		{"patch static", "PATCH", api + "/roles", "admin", nodetest.AdminPassword, `[{"op":"remove","path":"/all_access"}]`, 403,
			`{"status":"FORBIDDEN","message":"Resource 'all_access' is static."}`},
		{"wrong password", "GET", api + "/roles", "admin", "wrong", "", 401,
			`{"status":"UNAUTHORIZED","message":"Unauthorized"}`},
		{"no credentials", "GET", api + "/roles", "", "", "", 401,
			`{"status":"UNAUTHORIZED","message":"Unauthorized"}`},
		{"unknown user", "GET", api + "/roles", "ghost", "whatever", "", 401,
			`{"status":"UNAUTHORIZED","message":"Unauthorized"}`},
		{"post on resource", "POST", api + "/roles/r1", "admin", nodetest.AdminPassword, `{}`, 405, ""},
		{"cache get", "GET", api + "/cache", "admin", nodetest.AdminPassword, "", 501,
			`{"status":"NOT_IMPLEMENTED","message":"Method GET not supported for this action."}`},
	}
	before := c.Nodes[0].Machine().View().Hash()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Do(0, tc.method, tc.path, tc.user, tc.pass, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status = %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			var got any
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatalf("body is not JSON: %q", r.Body)
			}
			if tc.want != "" {
				var want any
				if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("body (-want +got):\n%s", d)
				}
			}
			if r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	if after := c.Nodes[0].Machine().View().Hash(); after != before {
		t.Errorf("bad input changed the state")
	}
}

func TestNonAdminCannotUseAPI(t *testing.T) {
	c := nodetest.Start(t)
	put := c.Admin(0, "PUT", "/_plugins/_security/api/internalusers/reader", `{"password":"Corr3ct-Horse-Battery!","backend_roles":["readers"]}`)
	if put.Status != 201 {
		t.Fatalf("create user: %s", put)
	}
	// Read on another node at the revision that created the user (read-your-writes):
	// the write's answer carries it; node 0 itself may not have applied it yet.
	rev := revisionOf(t, put)
	r := c.Do(1, "GET", fmt.Sprintf("/_plugins/_security/api/roles?min_revision=%s", rev), "reader", "Corr3ct-Horse-Battery!", "")
	want := `{"status":"FORBIDDEN","message":"No permission to access REST API: User reader with Security roles [] does not have any role privileged for admin access. No client TLS certificate found in request"}`
	if r.Status != 403 || string(r.Body) != want {
		t.Fatalf("GET as non-admin = %s\nwant %s", r, want)
	}
	// Any authenticated user may read its own account.
	acc := c.Do(1, "GET", "/_plugins/_security/api/account", "reader", "Corr3ct-Horse-Battery!", "")
	if acc.Status != 200 {
		t.Fatalf("account = %s", acc)
	}
	// The super admin certificate is admin for reserved resources (R-API-6).
	del := c.DoWith(c.AdminClient, 2, "DELETE", "/_plugins/_security/api/roles/security_rest_api_access", "", "", "")
	if del.Status != 200 {
		t.Fatalf("super admin delete of a reserved role = %s", del)
	}
}
