package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/nodetest"
)

// TestRESTAdminPermissionTakesEffectEverywhere: with
// plugins.security.restapi.admin.enabled, restapi:admin/roles granted through
// an ordinary role makes a user admin for ROLES (R-API-6). jdoe may use the
// REST API (security_rest_api_access) but changing a reserved role needs that
// admin right: 403 until a role granting restapi:admin/roles is mapped to
// jdoe, then 200 on all three nodes at once (min_revision). The mapping is
// added with PUT /_plugins/_authz/config, because the REST API refuses
// mappings of restapi:admin roles to everyone (R-API-7).
func TestRESTAdminPermissionTakesEffectEverywhere(t *testing.T) {
	hash, err := authz.HashPassword(userPassword, 4)
	if err != nil {
		t.Fatal(err)
	}
	c := nodetest.Start(t, nodetest.WithSettings(map[string]any{"plugins.security.restapi.admin.enabled": true}),
		nodetest.WithBootstrapConfig(func(cfg *authz.Config) {
			cfg.InternalUsers["jdoe"] = authz.InternalUser{Hash: hash}
			cfg.RolesMapping["security_rest_api_access"] = authz.RoleMapping{Users: []string{"jdoe"}}
			cfg.Roles["roles_admin"] = authz.Role{ClusterPermissions: []string{"restapi:admin/roles"}}
			cfg.Roles["guarded"] = authz.Role{Reserved: true, ClusterPermissions: []string{"cluster_monitor"}}
			cfg.Normalize()
		}))
	put := func(node int, rev string) nodetest.Response {
		return c.Do(node, http.MethodPut, "/_plugins/_security/api/roles/guarded?min_revision="+rev, "jdoe", userPassword,
			`{"reserved":true,"cluster_permissions":["cluster_monitor","cluster_composite_ops_ro"]}`)
	}
	for i := range c.Nodes {
		if r := put(i, "0"); r.Status != http.StatusBadRequest ||
			string(r.Body) != `{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"reserved"}}` {
			t.Fatalf("node %d before the mapping: %s", i, r)
		}
		r := c.Do(i, http.MethodPut, "/_plugins/_security/api/roles/guarded", "jdoe", userPassword, `{"cluster_permissions":[]}`)
		if r.Status != http.StatusForbidden || string(r.Body) != `{"status":"FORBIDDEN","message":"Resource 'guarded' is reserved."}` {
			t.Fatalf("node %d before the mapping: %s", i, r)
		}
	}

	// The super admin maps roles_admin to jdoe: one config.replace event.
	export := c.DoWith(c.AdminClient, 1, http.MethodGet, "/_plugins/_authz/config?types=rolesmapping", "", "", "")
	var docs struct {
		Docs map[string]map[string]json.RawMessage `json:"docs"`
	}
	if err := json.Unmarshal(export.Body, &docs); err != nil {
		t.Fatalf("export: %v %s", err, export)
	}
	docs.Docs["rolesmapping"]["roles_admin"] = json.RawMessage(`{"users":["jdoe"]}`)
	body, _ := json.Marshal(docs)
	res := c.DoWith(c.AdminClient, 2, http.MethodPut, "/_plugins/_authz/config", "", "", string(body))
	var ans struct {
		Revision uint64         `json:"revision"`
		Added    int            `json:"added"`
		Changes  []authz.Change `json:"changes"`
	}
	if err := json.Unmarshal(res.Body, &ans); err != nil || res.Status != http.StatusOK || ans.Added != 1 ||
		len(ans.Changes) != 1 || ans.Changes[0] != (authz.Change{Type: "rolesmapping", Name: "roles_admin", Op: "added"}) {
		t.Fatalf("replace = %s", res)
	}
	rev := fmt.Sprint(ans.Revision)
	for i := range c.Nodes {
		r := put(i, rev)
		if r.Status != http.StatusOK || string(r.Body) != `{"status":"OK","message":"'guarded' updated."}` {
			t.Errorf("node %d after the mapping (revision %s): %s", i, rev, r)
		}
	}
	hashesEqual(t, c)
}
