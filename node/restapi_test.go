package node_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/nodetest"
)

// Test users of restAPICluster; all have userPassword.
const userPassword = "Correct-Horse-Battery-9"

// restAPICluster starts three nodes with the demo configuration plus:
//   - role rest_ops (in roles_enabled, no permissions) mapped to user ops,
//     with ROLES PUT/DELETE disabled for it;
//   - role nodes_admin with restapi:admin/nodesdn, /allowlist,
//     /ssl/certs/info and /roles, mapped (with security_rest_api_access) to
//     user nadmin;
//   - user ops2 with rest_ops and security_rest_api_access;
//   - user plain, with no REST API role.
//
// restapi:admin roles cannot be created through the API (R-API-7), so they
// come with the bootstrap configuration, as from configuration files.
func restAPICluster(t *testing.T, settings map[string]any) *nodetest.Cluster {
	t.Helper()
	base := map[string]any{
		"plugins.security.restapi.roles_enabled":                     []any{"all_access", "security_rest_api_access", "rest_ops"},
		"plugins.security.restapi.endpoints_disabled.rest_ops.ROLES": []any{"PUT", "DELETE"},
		"plugins.security.restapi.admin.enabled":                     true,
		"plugins.security.nodes_dn_dynamic_config_enabled":           true,
		"plugins.security.nodes_dn":                                  []any{"CN=n*,OU=node,O=authzd"},
	}
	for k, v := range settings {
		base[k] = v
	}
	hash, err := authz.HashPassword(userPassword, 4)
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, nodetest.WithDemo(), nodetest.WithSettings(base), nodetest.WithBootstrapConfig(func(c *authz.Config) {
		c.Roles["rest_ops"] = authz.Role{}
		c.Roles["nodes_admin"] = authz.Role{ClusterPermissions: []string{
			"restapi:admin/nodesdn", "restapi:admin/allowlist", "restapi:admin/ssl/certs/info", "restapi:admin/roles"}}
		c.RolesMapping["rest_ops"] = authz.RoleMapping{Users: []string{"ops", "ops2"}}
		c.RolesMapping["security_rest_api_access"] = authz.RoleMapping{Users: []string{"nadmin", "ops2"}}
		c.RolesMapping["nodes_admin"] = authz.RoleMapping{Users: []string{"nadmin"}}
		for _, u := range []string{"ops", "ops2", "nadmin", "plain"} {
			c.InternalUsers[u] = authz.InternalUser{Hash: hash}
		}
		c.Normalize()
	}))
}

// apiCall is one request of a table test and what it must answer.
type apiCall struct {
	name   string
	as     string // "admin" (all_access), "super" (admin certificate), "ops", "nadmin", "plain", "" (no credentials)
	method string
	path   string // below /_plugins/_security
	body   string
	status int
	want   string // exact body, or with a leading '~' a substring of it
	legacy bool   // also send it under /_opendistro/_security; the answer must be the same
}

func (c apiCall) send(t *testing.T, cl *nodetest.Cluster, node int, prefix string) nodetest.Response {
	t.Helper()
	path := prefix + c.path
	switch c.as {
	case "admin":
		return cl.Admin(node, c.method, path, c.body)
	case "super":
		return cl.DoWith(cl.AdminClient, node, c.method, path, "", "", c.body)
	case "":
		return cl.Do(node, c.method, path, "", "", c.body)
	default:
		return cl.Do(node, c.method, path, c.as, userPassword, c.body)
	}
}

// runCalls sends the calls in order, on nodes in turn, each waiting for the
// revision of the previous write (read-your-writes across nodes).
func runCalls(t *testing.T, cl *nodetest.Cluster, calls []apiCall) {
	t.Helper()
	for i, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			node := i % len(cl.Nodes)
			path := c.path
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			c.path = path + sep + "min_revision=" + minRevValue(cl)
			got := c.send(t, cl, node, "/_plugins/_security")
			checkCall(t, c, got)
			if c.legacy {
				old := c.send(t, cl, (node+1)%len(cl.Nodes), "/_opendistro/_security")
				if old.Status != got.Status || string(old.Body) != string(got.Body) {
					t.Errorf("legacy prefix answers %s, new prefix %s", old, got)
				}
			}
		})
	}
}

func checkCall(t *testing.T, c apiCall, got nodetest.Response) {
	t.Helper()
	if got.Status != c.status {
		t.Errorf("%s %s as %q = %s, want status %d", c.method, c.path, c.as, got, c.status)
		return
	}
	switch {
	case c.want == "":
	case strings.HasPrefix(c.want, "~"):
		if !strings.Contains(string(got.Body), c.want[1:]) {
			t.Errorf("%s %s body\n%s\ndoes not contain\n%s", c.method, c.path, got.Body, c.want[1:])
		}
	case !jsonEqual(got.Body, []byte(c.want)):
		t.Errorf("%s %s body\n%s\nwant\n%s", c.method, c.path, got.Body, c.want)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func minRevValue(c *nodetest.Cluster) string { return minRev(c).Get("X-Authz-Min-Revision") }

const (
	accessDenied = `{"status":"FORBIDDEN","message":"Access denied"}`
	updated      = `{"status":"OK","message":"'config' updated."}`
	resUpdated   = `{"status":"OK","message":"Resource updated."}`
	noUpdates    = `{"status":"OK","message":"No updates required"}`
)

// TestSecurityConfigEndpoint: R-API-30 with restapi.admin.enabled (writes need
// restapi:admin/config/update, which only the super admin has here).
func TestSecurityConfigEndpoint(t *testing.T) {
	c := restAPICluster(t, nil)
	runCalls(t, c, []apiCall{
		{"get", "admin", "GET", "/api/securityconfig", "", 200, `~{"config":{"dynamic":{`, true},
		{"get redacts passwords", "ops", "GET", "/api/securityconfig", "", 200, `~"password":"******"`, false},
		{"get without API access", "plain", "GET", "/api/securityconfig", "", 403,
			`{"status":"FORBIDDEN","message":"No permission to access REST API: User plain with Security roles [own_index] does not have any role privileged for admin access. No client TLS certificate found in request"}`, false},
		{"put without config/update", "admin", "PUT", "/api/securityconfig/config", `{"dynamic":{}}`, 403, accessDenied, true},
		{"patch without config/update", "nadmin", "PATCH", "/api/securityconfig", `[{"op":"add","path":"/config/dynamic/do_not_fail_on_forbidden","value":true}]`, 403, accessDenied, false},
		{"put as super admin", "super", "PUT", "/api/securityconfig/config", `{"dynamic":{"do_not_fail_on_forbidden_empty":true,"kibana":{"default_tenant":"admin_tenant"}}}`, 200, updated, true},
		{"put changed it", "super", "GET", "/api/securityconfig", "", 200, `~"do_not_fail_on_forbidden_empty":true`, false},
		{"put replaces the whole document", "super", "GET", "/api/securityconfig", "", 200, `~"authc":{}`, false},
		{"patch", "super", "PATCH", "/api/securityconfig", `[{"op":"replace","path":"/config/dynamic/do_not_fail_on_forbidden","value":true}]`, 200, resUpdated, false},
		{"patch again changes nothing", "super", "PATCH", "/api/securityconfig", `[{"op":"replace","path":"/config/dynamic/do_not_fail_on_forbidden","value":true}]`, 200, noUpdates, false},
		{"patch invalid", "super", "PATCH", "/api/securityconfig", `[{"op":"add","path":"/config/dynamic/colour","value":1}]`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dynamic.colour"}}`, false},
		{"patch bad op", "super", "PATCH", "/api/securityconfig", `[{"op":"copy","from":"/a","path":"/b"}]`, 400,
			`{"status":"BAD_REQUEST","message":"Unsupported patch operation: copy. Supported are: add,replace,remove"}`, false},
		{"put unknown key", "super", "PUT", "/api/securityconfig/config", `{"dynamic":{},"extra":1}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"extra"}}`, false},
		{"put wrong type", "super", "PUT", "/api/securityconfig/config", `{"dynamic":{"http":{"anonymous_auth_enabled":"no"}}}`, 400,
			`{"status":"error","reason":"Wrong datatype","dynamic.http.anonymous_auth_enabled":"Boolean expected"}`, false},
		{"put empty", "super", "PUT", "/api/securityconfig/config", `{}`, 400, `{"status":"error","reason":"Request body required for this action."}`, false},
		{"delete has no route", "super", "DELETE", "/api/securityconfig", "", 405, `~Incorrect HTTP method`, false},
		{"put needs /config", "super", "PUT", "/api/securityconfig", `{"dynamic":{}}`, 405, `~allowed: [GET, PATCH]`, false},
	})
}

// TestSecurityConfigModificationSetting: without restapi.admin.enabled, writes
// need allow_securityconfig_modification (or, authzd, the admin certificate).
func TestSecurityConfigModificationSetting(t *testing.T) {
	off := nodetest.Start(t, nodetest.WithNodes(1))
	runCalls(t, off, []apiCall{
		{"admin refused", "admin", "PUT", "/api/securityconfig/config", `{"dynamic":{}}`, 403, accessDenied, false},
		{"super admin allowed", "super", "PUT", "/api/securityconfig/config", `{"dynamic":{}}`, 200, updated, false},
		{"no audit configuration: 501", "admin", "GET", "/api/audit", "", 501, `{"status":"NOT_IMPLEMENTED","message":"Method GET not supported for this action."}`, false},
		{"permissionsinfo lists AUDIT as disabled", "admin", "GET", "/api/permissionsinfo", "", 200,
			`~"AUDIT":["GET","POST","PUT","DELETE","OPTIONS","HEAD","PATCH","TRACE","CONNECT"]`, false},
		{"nodesdn has no route", "super", "GET", "/api/nodesdn", "", 404, `~no handler found`, false},
	})
	on := nodetest.Start(t, nodetest.WithNodes(1), nodetest.WithSettings(map[string]any{
		"plugins.security.unsupported.restapi.allow_securityconfig_modification": true}))
	runCalls(t, on, []apiCall{
		{"admin allowed", "admin", "PATCH", "/api/securityconfig", `[{"op":"add","path":"/config/dynamic/do_not_fail_on_forbidden","value":true}]`, 200, resUpdated, false},
	})
}

func TestAuditEndpoint(t *testing.T) {
	c := restAPICluster(t, nil)
	runCalls(t, c, []apiCall{
		{"get", "ops", "GET", "/api/audit", "", 200, `~{"_readonly":[],"config":{"enabled":true,"audit":{"enable_rest":true,`, true},
		{"put", "ops", "PUT", "/api/audit/config", `{"enabled":false,"audit":{"disabled_rest_categories":["failed_login"]}}`, 200, updated, false},
		{"put stored defaults", "ops", "GET", "/api/audit", "", 200, `~"disabled_rest_categories":["FAILED_LOGIN"],"enable_transport":true`, false},
		{"patch", "admin", "PATCH", "/api/audit", `[{"op":"replace","path":"/config/enabled","value":true}]`, 200, resUpdated, false},
		{"put unknown nested key", "admin", "PUT", "/api/audit/config", `{"audit":{"enable_rests":true}}`, 400,
			`{"status":"error","reason":"Could not parse content of request."}`, false},
		{"put category not allowed through REST", "admin", "PUT", "/api/audit/config", `{"audit":{"disabled_rest_categories":["INDEX_EVENT"]}}`, 400,
			`{"status":"error","reason":"Could not parse content of request."}`, false},
		{"put unknown top key", "admin", "PUT", "/api/audit/config", `{"enabled":true,"colour":1}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"colour"}}`, false},
		{"patch to an invalid document", "admin", "PATCH", "/api/audit", `[{"op":"add","path":"/config/audit/x","value":1}]`, 400,
			`{"status":"error","reason":"Could not parse content of request."}`, false},
		{"post has no route", "admin", "POST", "/api/audit", "", 405, "", false},
		{"no gate, no audit", "plain", "GET", "/api/audit", "", 403, `~No permission to access REST API`, false},
	})
}

func TestNodesDNEndpoint(t *testing.T) {
	c := restAPICluster(t, nil)
	runCalls(t, c, []apiCall{
		{"get needs restapi:admin/nodesdn", "admin", "GET", "/api/nodesdn", "", 403, accessDenied, true},
		{"put needs it too", "ops", "PUT", "/api/nodesdn/c2", `{"nodes_dn":["CN=x"]}`, 403, accessDenied, false},
		{"empty", "nadmin", "GET", "/api/nodesdn", "", 200, `{}`, true},
		{"put", "nadmin", "PUT", "/api/nodesdn/c2", `{"nodes_dn":["CN=node*.c2,OU=node"]}`, 201, `{"status":"CREATED","message":"'c2' created."}`, false},
		{"put again", "nadmin", "PUT", "/api/nodesdn/c2", `{"nodes_dn":["CN=node*.c2,OU=node"]}`, 200, `{"status":"OK","message":"'c2' updated."}`, false},
		{"get one", "super", "GET", "/api/nodesdn/c2", "", 200, `{"c2":{"nodes_dn":["CN=node*.c2,OU=node"]}}`, true},
		{"show_all adds the static entry", "nadmin", "GET", "/api/nodesdn?show_all=true", "", 200,
			`{"c2":{"nodes_dn":["CN=node*.c2,OU=node"]},"STATIC_OPENSEARCH_YML_NODES_DN":{"nodes_dn":["CN=n*,OU=node,O=authzd"]}}`, false},
		{"static entry is read-only", "super", "PUT", "/api/nodesdn/STATIC_OPENSEARCH_YML_NODES_DN", `{"nodes_dn":[]}`, 403,
			`{"status":"FORBIDDEN","message":"Resource 'STATIC_OPENSEARCH_YML_NODES_DN' is read-only."}`, false},
		{"patch collection", "nadmin", "PATCH", "/api/nodesdn", `[{"op":"add","path":"/c3","value":{"nodes_dn":["CN=c3"]}}]`, 200, resUpdated, false},
		{"patch one", "nadmin", "PATCH", "/api/nodesdn/c2", `[{"op":"add","path":"/nodes_dn/-","value":"CN=extra"}]`, 200, `{"status":"OK","message":"'c2' updated."}`, false},
		{"wrong type", "nadmin", "PUT", "/api/nodesdn/c4", `{"nodes_dn":"CN=x"}`, 400, `{"status":"error","reason":"Wrong datatype","nodes_dn":"Array expected"}`, false},
		{"missing key", "nadmin", "PUT", "/api/nodesdn/c4", `{"dn":["CN=x"]}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dn"},"missing_mandatory_keys":{"keys":"nodes_dn"}}`, false},
		{"delete", "nadmin", "DELETE", "/api/nodesdn/c3", "", 200, `{"status":"OK","message":"'c3' deleted."}`, false},
		{"delete missing", "nadmin", "DELETE", "/api/nodesdn/c3", "", 404, `{"status":"NOT_FOUND","message":"nodesdn 'c3' not found."}`, false},
		{"get missing", "nadmin", "GET", "/api/nodesdn/c9", "", 404, `{"status":"NOT_FOUND","message":"nodesdn 'c9' not found."}`, false},
		{"get after changes", "nadmin", "GET", "/api/nodesdn", "", 200, `{"c2":{"nodes_dn":["CN=node*.c2,OU=node","CN=extra"]}}`, false},
	})
}

func TestAllowlistEndpoint(t *testing.T) {
	c := restAPICluster(t, nil)
	runCalls(t, c, []apiCall{
		{"get needs restapi:admin/allowlist", "admin", "GET", "/api/allowlist", "", 403, accessDenied, false},
		{"get", "nadmin", "GET", "/api/allowlist", "", 200, `{"config":{"enabled":false,"requests":{"/_cat/nodes":["GET"],"/_cluster/settings":["GET"]}}}`, false},
		{"put", "nadmin", "PUT", "/api/allowlist", `{"enabled":true,"requests":{"/_cat/nodes":["GET"]}}`, 200, updated, false},
		{"patch", "super", "PATCH", "/api/allowlist", `[{"op":"add","path":"/config/requests/~1_cat~1indices","value":["GET","HEAD"]}]`, 200, resUpdated, false},
		{"get after changes", "super", "GET", "/api/allowlist", "", 200, `{"config":{"enabled":true,"requests":{"/_cat/indices":["GET","HEAD"],"/_cat/nodes":["GET"]}}}`, false},
		{"bad method", "nadmin", "PUT", "/api/allowlist", `{"requests":{"/x":["FETCH"]}}`, 400,
			`{"status":"error","reason":"Wrong datatype","requests./x":"One of GET, POST, PUT, DELETE, OPTIONS, HEAD, PATCH, TRACE, CONNECT expected"}`, false},
		{"unknown key", "nadmin", "PUT", "/api/allowlist", `{"enabled":true,"paths":{}}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"paths"}}`, false},
		{"delete has no route", "nadmin", "DELETE", "/api/allowlist", "", 405, "", false},
	})
	// The allowlist exists under the new prefix only (R-API-32).
	if r := c.Do(0, "GET", "/_opendistro/_security/api/allowlist", "nadmin", userPassword, ""); r.Status != http.StatusNotFound {
		t.Errorf("legacy allowlist = %s", r)
	}
}

func TestTenancyConfigEndpoint(t *testing.T) {
	c := restAPICluster(t, nil)
	runCalls(t, c, []apiCall{
		{"get", "ops", "GET", "/api/tenancy/config", "", 200,
			`{"default_tenant":"","private_tenant_enabled":true,"multitenancy_enabled":true,"sign_in_options":["BASIC"]}`, true},
		{"put", "ops", "PUT", "/api/tenancy/config", `{"default_tenant":"admin_tenant","multitenancy_enabled":true}`, 200,
			`{"default_tenant":"admin_tenant","private_tenant_enabled":true,"multitenancy_enabled":true,"sign_in_options":["BASIC"]}`, false},
		{"securityconfig shows it", "ops", "GET", "/api/securityconfig", "", 200, `~"default_tenant":"admin_tenant"`, false},
		{"unknown tenant", "ops", "PUT", "/api/tenancy/config", `{"default_tenant":"nope"}`, 400,
			`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"nope can not be set to default tenant. Default tenant should be selected from one of the available tenants."}],"type":"illegal_argument_exception","reason":"nope can not be set to default tenant. Default tenant should be selected from one of the available tenants."},"status":400}`, false},
		{"private tenant off while default", "ops", "PUT", "/api/tenancy/config", `{"default_tenant":"private","private_tenant_enabled":false}`, 400,
			`~Private tenant can not be disabled if it is the default tenant.`, false},
		{"sign-in option without domain", "ops", "PUT", "/api/tenancy/config", `{"sign_in_options":["BASIC","SAML"]}`, 400,
			`~Validation failure: SAML authentication provider is not available for this cluster.`, false},
		{"wrong type", "ops", "PUT", "/api/tenancy/config", `{"default_tenant":true}`, 400,
			`{"status":"error","reason":"Wrong datatype","default_tenant":"String expected"}`, false},
		{"unknown key", "ops", "PUT", "/api/tenancy/config", `{"default":"x"}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"default"}}`, false},
		{"delete has no route", "ops", "DELETE", "/api/tenancy/config", "", 405, "", false},
	})
}

// TestInfoEndpoints: whoami (no authentication), permissionsinfo, ssl/certs.
func TestInfoEndpoints(t *testing.T) {
	c := restAPICluster(t, nil)
	node, err := tls.LoadX509KeyPair(c.PKI.NodeCertFile("n2"), c.PKI.NodeKeyFile("n2"))
	if err != nil {
		t.Fatal(err)
	}
	nodeClient := c.ClientFor(&node)
	for _, tc := range []struct {
		name   string
		client *http.Client
		want   string
	}{
		{"no certificate", c.Client, `{"dn":null,"is_admin":false,"is_node_certificate_request":false}`},
		{"admin certificate", c.AdminClient, `{"dn":"CN=kirk,OU=client,O=client,L=test,C=de","is_admin":true,"is_node_certificate_request":false}`},
		{"node certificate", nodeClient, `{"dn":"CN=n2,OU=node,O=authzd","is_admin":false,"is_node_certificate_request":true}`},
	} {
		for _, prefix := range []string{"/_plugins/_security", "/_opendistro/_security"} {
			r := c.DoWith(tc.client, 1, "GET", prefix+"/whoami", "", "", "")
			if r.Status != 200 || !jsonEqual(r.Body, []byte(tc.want)) {
				t.Errorf("whoami %s %s = %s, want %s", tc.name, prefix, r, tc.want)
			}
		}
	}
	runCalls(t, c, []apiCall{
		{"permissionsinfo with disabled endpoints", "ops", "GET", "/api/permissionsinfo", "", 200,
			`{"user":"User [name=ops, backend_roles=[], requestedTenant=null]","user_name":"ops","has_api_access":true,"disabled_endpoints":{"ROLES":["PUT","DELETE"]}}`, true},
		{"permissionsinfo without API access", "plain", "GET", "/api/permissionsinfo", "", 200,
			`~"has_api_access":false,"disabled_endpoints":{"ACCOUNT":["GET","POST","PUT","DELETE","OPTIONS","HEAD","PATCH","TRACE","CONNECT"]`, false},
		{"endpoint disabled for the role", "ops", "PUT", "/api/roles/r1", `{"cluster_permissions":[]}`, 403,
			`{"status":"FORBIDDEN","message":"No permission to access REST API: User ops with Security roles [own_index, rest_ops] does not have any access to endpoint ROLES and method PUT. No client TLS certificate found in request"}`, false},
		{"other methods stay open", "ops", "GET", "/api/roles/rest_ops", "", 200, "", false},
		{"a role without entries lifts nothing", "ops2", "PUT", "/api/roles/r1", `{"cluster_permissions":[]}`, 403,
			`~User ops2 with Security roles [own_index, rest_ops, security_rest_api_access] does not have any access to endpoint ROLES and method PUT`, false},
		{"a user without the role is not affected", "nadmin", "PUT", "/api/roles/r1", `{"cluster_permissions":[]}`, 201, "", false},
		{"ssl certs need certs/info", "admin", "GET", "/api/ssl/certs", "", 403, accessDenied, true},
		{"ssl certs", "nadmin", "GET", "/api/ssl/certs", "", 200, `~"subject_dn":"CN=n`, false},
		{"ssl reload not enabled", "super", "PUT", "/api/ssl/http/reloadcerts", "", 400,
			`~In order to use SSL reload functionality set plugins.security.ssl_cert_reload_enabled to true`, false},
		{"ssl reload needs certs/reload", "nadmin", "PUT", "/api/ssl/transport/reloadcerts", "", 403, accessDenied, false},
	})
	r := c.Do(0, "GET", "/_plugins/_security/api/ssl/certs", "nadmin", userPassword, "")
	var certs struct {
		HTTP []map[string]string `json:"http_certificates_list"`
		TR   []map[string]string `json:"transport_certificates_list"`
	}
	if err := json.Unmarshal(r.Body, &certs); err != nil || len(certs.HTTP) != 1 || len(certs.TR) != 1 {
		t.Fatalf("ssl certs = %s", r)
	}
	want := map[string]string{"subject_dn": "CN=n1,OU=node,O=authzd", "issuer_dn": "CN=authzd dev CA,O=authzd",
		"san": "[[2, localhost], [2, n1], [7, 0:0:0:0:0:0:0:1], [7, 127.0.0.1]]"}
	for k, v := range want {
		if certs.HTTP[0][k] != v {
			t.Errorf("%s = %q, want %q", k, certs.HTTP[0][k], v)
		}
	}
	if !strings.HasSuffix(certs.HTTP[0]["not_after"], "Z") || len(certs.HTTP[0]["not_before"]) != len("2006-01-02T15:04:05Z") {
		t.Errorf("times = %v", certs.HTTP[0])
	}
}

// TestProtectedResources: R-API-6, R-API-7, R-API-9, R-API-10 for callers who
// are and are not admin for the endpoint.
func TestProtectedResources(t *testing.T) {
	c := restAPICluster(t, nil)
	notAvailable := func(n string) string {
		return `{"status":"NOT_FOUND","message":"Resource '` + n + `' is not available."}`
	}
	runCalls(t, c, []apiCall{
		{"super admin creates a hidden role", "super", "PUT", "/api/roles/secret", `{"hidden":true,"cluster_permissions":["cluster_monitor"]}`, 201, "", false},
		{"super admin creates a reserved role", "super", "PUT", "/api/roles/resv", `{"reserved":true,"cluster_permissions":["cluster_monitor"]}`, 201, "", false},
		{"hidden invisible in the list", "admin", "GET", "/api/roles", "", 200, "", false},
		{"hidden not found by name", "admin", "GET", "/api/roles/secret", "", 404, `{"status":"NOT_FOUND","message":"role 'secret' not found."}`, true},
		{"hidden put", "admin", "PUT", "/api/roles/secret", `{"cluster_permissions":[]}`, 404, notAvailable("secret"), true},
		{"hidden delete", "admin", "DELETE", "/api/roles/secret", "", 404, notAvailable("secret"), false},
		{"hidden patch one", "admin", "PATCH", "/api/roles/secret", `[{"op":"add","path":"/description","value":"x"}]`, 404, notAvailable("secret"), false},
		{"hidden patch collection", "admin", "PATCH", "/api/roles", `[{"op":"remove","path":"/secret"}]`, 404, notAvailable("secret"), false},
		{"hidden mapping", "admin", "PUT", "/api/rolesmapping/secret", `{"users":["x"]}`, 404, notAvailable("secret"), false},
		{"hidden role as a user's role", "admin", "PUT", "/api/internalusers/u1", `{"password":"` + userPassword + `","opendistro_security_roles":["secret"]}`, 404, notAvailable("secret"), false},
		{"reserved put", "admin", "PUT", "/api/roles/resv", `{"cluster_permissions":[]}`, 403, `{"status":"FORBIDDEN","message":"Resource 'resv' is reserved."}`, true},
		{"reserved delete", "admin", "DELETE", "/api/roles/resv", "", 403, `{"status":"FORBIDDEN","message":"Resource 'resv' is reserved."}`, false},
		{"reserved key needs admin", "admin", "PUT", "/api/roles/r2", `{"reserved":true}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"reserved"}}`, false},
		{"static for everyone", "super", "PUT", "/api/roles/all_access", `{"cluster_permissions":["*"]}`, 403, `{"status":"FORBIDDEN","message":"Resource 'all_access' is static."}`, false},
		{"static key never", "super", "PUT", "/api/roles/r3", `{"static":true}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"static"}}`, false},
		{"static shown in GET", "ops", "GET", "/api/actiongroups/read", "", 200, `~"static":true`, false},
		{"rest admin for roles sees hidden", "nadmin", "GET", "/api/roles/secret", "", 200, `~"hidden":true`, false},
		{"rest admin for roles changes reserved", "nadmin", "PUT", "/api/roles/resv", `{"reserved":true,"cluster_permissions":[]}`, 200, `{"status":"OK","message":"'resv' updated."}`, false},
		{"rest admin for roles only", "nadmin", "DELETE", "/api/tenants/admin_tenant", "", 200, "", false},
		{"restapi permission in a role (R-API-7)", "super", "PUT", "/api/roles/r4", `{"cluster_permissions":["restapi:admin/roles"]}`, 403, accessDenied, false},
		{"restapi permission in an action group", "super", "PUT", "/api/actiongroups/g4", `{"allowed_actions":["restapi:admin/*"]}`, 403, accessDenied, false},
		{"mapping of a restapi role", "super", "PUT", "/api/rolesmapping/nodes_admin", `{"users":["x"]}`, 403, accessDenied, false},
		{"deleting a restapi role", "super", "DELETE", "/api/roles/nodes_admin", "", 403, accessDenied, false},
	})
	// The hidden role is not in the non-admin's list, and is in the admin's.
	var list map[string]any
	_ = json.Unmarshal(c.Admin(0, "GET", "/_plugins/_security/api/roles", "").Body, &list)
	if _, ok := list["secret"]; ok {
		t.Error("hidden role listed for a non-admin")
	}
	list = nil
	_ = json.Unmarshal(c.DoWith(c.AdminClient, 1, "GET", "/_plugins/_security/api/roles", "", "", "").Body, &list)
	if _, ok := list["secret"]; !ok {
		t.Error("hidden role not listed for the super admin")
	}
}

// TestValidation: the plugin's content rules (R-API-13..28) through the API.
func TestValidation(t *testing.T) {
	c := restAPICluster(t, map[string]any{
		"plugins.security.restapi.password_validation_regex":         "(?=.*[A-Z])(?=.*[0-9]).{12,}",
		"plugins.security.restapi.password_validation_error_message": "Twelve characters, an upper case letter and a digit",
	})
	runCalls(t, c, []apiCall{
		{"user with unknown role", "admin", "PUT", "/api/internalusers/u1", `{"password":"` + userPassword + `","opendistro_security_roles":["nope"]}`, 404,
			`{"status":"NOT_FOUND","message":"role 'nope' not found."}`, true},
		{"user without password", "admin", "PUT", "/api/internalusers/u1", `{"backend_roles":["x"]}`, 400,
			`{"status":"BAD_REQUEST","message":"Please specify either 'hash' or 'password' when creating a new internal user."}`, false},
		{"user name with colon", "admin", "PUT", "/api/internalusers/a:b", `{"password":"` + userPassword + `"}`, 400,
			`{"status":"BAD_REQUEST","message":"A restricted character(s) was detected in the account name. Please remove: ':'"}`, false},
		{"password regex", "admin", "PUT", "/api/internalusers/u1", `{"password":"correct-horse-battery"}`, 400,
			`{"status":"error","reason":"Twelve characters, an upper case letter and a digit"}`, false},
		{"weak password", "admin", "PUT", "/api/internalusers/u1", `{"password":"Aaaaaaaaaaaa1"}`, 400, `{"status":"error","reason":"Weak password"}`, false},
		{"password like the name", "admin", "PUT", "/api/internalusers/horsebatterystaple", `{"password":"Horsebatterystaple7"}`, 400,
			`~"reason":"`, false},
		{"hash instead of password", "admin", "PUT", "/api/internalusers/u2", `{"hash":"$2y$04$abcdefghijklmnopqrstuuBvvb6C7gzoWxqs4tO/hqYkYs6V8Qkyu"}`, 201, "", false},
		{"wrong types", "admin", "PUT", "/api/internalusers/u3", `{"password":1,"backend_roles":"x","attributes":[]}`, 400,
			`{"status":"error","reason":"Wrong datatype","attributes":"Object expected","backend_roles":"Array expected","password":"String expected"}`, false},
		{"null in an array", "admin", "PUT", "/api/roles/r1", `{"cluster_permissions":[null]}`, 400,
			"{\"status\":\"error\",\"reason\":\"`null` is not allowed as json array element\"}", false},
		{"unknown nested key", "admin", "PUT", "/api/roles/r1", `{"index_permissions":[{"index_patterns":["a"],"allowed":["read"]}]}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"index_permissions.allowed"}}`, false},
		{"masked field", "admin", "PUT", "/api/roles/r1", `{"index_permissions":[{"index_patterns":["a"],"masked_fields":["f::NOPE"]}]}`, 400,
			`{"status":"error","reason":"Wrong datatype","Masked field not valid: f::NOPE":"java.security.NoSuchAlgorithmException: NOPE MessageDigest not available"}`, false},
		{"dls not json", "admin", "PUT", "/api/roles/r1", `{"index_permissions":[{"index_patterns":["a"],"dls":"{\"term\":"}]}`, 400, `~DLS query not valid`, false},
		{"mapping without keys", "admin", "PUT", "/api/rolesmapping/kibana_user", `{"description":"d"}`, 400,
			`{"status":"error","reason":"Invalid configuration","specify_one_of":{"keys":"and_backend_roles,backend_roles,hosts,users"}}`, false},
		{"mapping of unknown role", "admin", "PUT", "/api/rolesmapping/nope", `{"users":["x"]}`, 404, `{"status":"NOT_FOUND","message":"role 'nope' not found."}`, false},
		{"action group named like a role", "admin", "PUT", "/api/actiongroups/rest_ops", `{"allowed_actions":["indices:data/read/*"]}`, 400,
			`{"status":"BAD_REQUEST","message":"rest_ops is an existing role. A action group cannot be named with an existing role name."}`, false},
		{"action group type", "admin", "PUT", "/api/actiongroups/g1", `{"allowed_actions":["a:b"],"type":"kibana"}`, 400,
			`{"status":"BAD_REQUEST","message":"Invalid action group type: kibana. Supported types are: cluster, index."}`, false},
		{"action group self reference", "admin", "PUT", "/api/actiongroups/g1", `{"allowed_actions":["g1"]}`, 400,
			`{"status":"BAD_REQUEST","message":"g1 cannot be an allowed_action of itself"}`, false},
		{"action group without allowed_actions", "admin", "PUT", "/api/actiongroups/g1", `{"description":"d"}`, 400,
			`{"status":"error","reason":"Invalid configuration","missing_mandatory_keys":{"keys":"allowed_actions"}}`, false},
		{"tenant unknown key", "admin", "PUT", "/api/tenants/t1", `{"description":"d","owner":"x"}`, 400,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"owner"}}`, true},
	})
}
