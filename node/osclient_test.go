package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/plugins/security"

	"github.com/authzd/authzd/node/nodetest"
)

// newOSClient returns the official Go client's security plugin client for node i.
func newOSClient(t *testing.T, c *nodetest.Cluster, i int, user, password string) *security.Client {
	t.Helper()
	tr := c.Client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	sc, err := security.NewClient(security.Config{Client: opensearch.Config{
		Addresses: []string{"https://" + c.Peers[i].HTTPAddr},
		Username:  user, Password: password, Transport: tr,
		// Stops the client's background health and stats pollers with the test.
		Context: t.Context(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// newOSSuperClient returns a security client for node i that authenticates
// with the super admin certificate only.
func newOSSuperClient(t *testing.T, c *nodetest.Cluster, i int) *security.Client {
	t.Helper()
	tr := c.AdminClient.Transport.(*http.Transport).Clone()
	sc, err := security.NewClient(security.Config{Client: opensearch.Config{
		Addresses: []string{"https://" + c.Peers[i].HTTPAddr}, Transport: tr,
		Context: t.Context(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// outcome holds a client call's results until ok checks them.
type outcome[T any] struct {
	v   T
	err error
}

func must[T any](v T, err error) outcome[T] { return outcome[T]{v, err} }

// ok fails the test when the call failed and returns its value.
func (o outcome[T]) ok(t *testing.T, what string) T {
	t.Helper()
	if o.err != nil {
		t.Fatalf("%s: %v", what, o.err)
	}
	return o.v
}

// TestOfficialClient drives every collection, account, health and cache through
// the official opensearch-go security client, spreading calls over the nodes.
func TestOfficialClient(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithDemo(), nodetest.WithSettings(map[string]any{
		"plugins.security.nodes_dn_dynamic_config_enabled": true,
		"plugins.security.ssl_cert_reload_enabled":         true,
	}))
	ctx := context.Background()
	super := []*security.Client{newOSSuperClient(t, c, 0), newOSSuperClient(t, c, 1), newOSSuperClient(t, c, 2)}
	cl := []*security.Client{
		newOSClient(t, c, 0, "admin", nodetest.AdminPassword),
		newOSClient(t, c, 1, "admin", nodetest.AdminPassword),
		newOSClient(t, c, 2, "admin", nodetest.AdminPassword),
	}
	desc := "d"
	typ := "index"

	// Tenants.
	must(cl[0].Tenants.Put(ctx, security.TenantsPutReq{Tenant: "hr", Body: security.TenantsPutBody{Description: "HR"}})).ok(t, "tenant put")
	must(cl[1].Tenants.Patch(ctx, security.TenantsPatchReq{Tenant: "hr", Body: security.TenantsPatchBody{{OP: "replace", Path: "/description", Value: "Human resources"}}})).ok(t, "tenant patch")
	must(cl[2].Tenants.Patch(ctx, security.TenantsPatchReq{Body: security.TenantsPatchBody{{OP: "add", Path: "/ops", Value: map[string]string{"description": "Ops"}}}})).ok(t, "tenants patch")
	tg := must(cl[1].Tenants.Get(ctx, &security.TenantsGetReq{Tenant: "hr", Header: minRev(c)})).ok(t, "tenant get")
	if tg.Tenants["hr"].Description != "Human resources" {
		t.Errorf("tenant = %+v", tg.Tenants)
	}
	all := must(cl[2].Tenants.Get(ctx, &security.TenantsGetReq{Header: minRev(c)})).ok(t, "tenants get")
	if _, ok := all.Tenants["global_tenant"]; !ok || !all.Tenants["global_tenant"].Statis {
		t.Errorf("static global_tenant missing: %+v", all.Tenants)
	}

	// Action groups.
	must(cl[0].ActionGroups.Put(ctx, security.ActionGroupsPutReq{ActionGroup: "my-ag", Body: security.ActionGroupsPutBody{AllowedActions: []string{"indices:data/read*"}, Type: &typ, Description: &desc}})).ok(t, "ag put")
	must(cl[1].ActionGroups.Patch(ctx, security.ActionGroupsPatchReq{ActionGroup: "my-ag", Body: security.ActionGroupsPatchBody{{OP: "add", Path: "/allowed_actions/-", Value: "indices:monitor/*"}}})).ok(t, "ag patch")
	ag := must(cl[2].ActionGroups.Get(ctx, &security.ActionGroupsGetReq{ActionGroup: "my-ag", Header: minRev(c)})).ok(t, "ag get")
	if got := ag.Groups["my-ag"].AllowedActions; len(got) != 2 {
		t.Errorf("action group = %+v", ag.Groups)
	}

	// Roles.
	must(cl[0].Roles.Put(ctx, security.RolesPutReq{Role: "reader", Body: security.RolesPutBody{
		ClusterPermissions: []string{"cluster_composite_ops_ro"},
		IndexPermissions:   []security.RolesIndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"my-ag"}, FLS: []string{"~secret"}}},
		TenantPermissions:  []security.RolesTenantPermission{{TenantPatterns: []string{"hr"}, AllowedActions: []string{"kibana_all_read"}}},
	}})).ok(t, "role put")
	must(cl[1].Roles.Patch(ctx, security.RolesPatchReq{Role: "reader", Body: security.RolesPatchBody{{OP: "replace", Path: "/cluster_permissions", Value: []string{"cluster_monitor"}}}})).ok(t, "role patch")
	must(cl[2].Roles.Patch(ctx, security.RolesPatchReq{Body: security.RolesPatchBody{{OP: "add", Path: "/writer", Value: map[string]any{"index_permissions": []any{map[string]any{"index_patterns": []string{"w-*"}, "allowed_actions": []string{"write"}}}}}}})).ok(t, "roles patch")
	rg := must(cl[0].Roles.Get(ctx, &security.RolesGetReq{Role: "reader", Header: minRev(c)})).ok(t, "role get")
	if rg.Roles["reader"].ClusterPermissions[0] != "cluster_monitor" {
		t.Errorf("role = %+v", rg.Roles)
	}

	// Role mappings.
	must(cl[0].RolesMapping.Put(ctx, security.RolesMappingPutReq{Role: "reader", Body: security.RolesMappingPutBody{BackendRoles: []string{"readers"}}})).ok(t, "mapping put")
	must(cl[1].RolesMapping.Patch(ctx, security.RolesMappingPatchReq{Role: "reader", Body: security.RolesMappingPatchBody{{OP: "add", Path: "/users", Value: []string{"jane"}}}})).ok(t, "mapping patch")
	must(cl[2].RolesMapping.Patch(ctx, security.RolesMappingPatchReq{Body: security.RolesMappingPatchBody{{OP: "add", Path: "/writer", Value: map[string]any{"users": []string{"bob"}}}}})).ok(t, "mappings patch")
	mg := must(cl[0].RolesMapping.Get(ctx, &security.RolesMappingGetReq{Role: "reader", Header: minRev(c)})).ok(t, "mapping get")
	if u := mg.RolesMapping["reader"].Users; len(u) != 1 || u[0] != "jane" {
		t.Errorf("mapping = %+v", mg.RolesMapping)
	}

	// Internal users.
	must(cl[0].InternalUsers.Put(ctx, security.InternalUsersPutReq{User: "jane", Body: security.InternalUsersPutBody{
		Password: "Correct-Horse-Battery-9", BackendRoles: []string{"readers"}, Attributes: map[string]string{"dept": "hr"}, Description: "Jane"}})).ok(t, "user put")
	must(cl[1].InternalUsers.Patch(ctx, security.InternalUsersPatchReq{User: "jane", Body: security.InternalUsersPatchBody{{OP: "add", Path: "/backend_roles/-", Value: "auditors"}}})).ok(t, "user patch")
	must(cl[2].InternalUsers.Patch(ctx, security.InternalUsersPatchReq{Body: security.InternalUsersPatchBody{{OP: "add", Path: "/bob", Value: map[string]any{"password": "Another-Str0ng-Passphrase", "backend_roles": []string{"writers"}}}}})).ok(t, "users patch")
	ug := must(cl[0].InternalUsers.Get(ctx, &security.InternalUsersGetReq{User: "jane", Header: minRev(c)})).ok(t, "user get")
	if u := ug.Users["jane"]; u.Hash != "" || len(u.BackendRoles) != 2 || u.Attributes["dept"] != "hr" {
		t.Errorf("user = %+v", u)
	}

	// Account: jane reads hers and changes her password; bob (patched in with a password) can log in.
	jane := newOSClient(t, c, 2, "jane", "Correct-Horse-Battery-9")
	acc := must(jane.Account.Get(ctx, &security.AccountGetReq{Header: minRev(c)})).ok(t, "account get")
	if acc.UserName != "jane" || !acc.IsInternaluser || len(acc.Roles) == 0 {
		t.Errorf("account = %+v", acc)
	}
	must(jane.Account.Put(ctx, security.AccountPutReq{Body: security.AccountPutBody{CurrentPassword: "Correct-Horse-Battery-9", Password: "Even-Better-Passphrase-7"}})).ok(t, "account put")
	jane2 := newOSClient(t, c, 0, "jane", "Even-Better-Passphrase-7")
	must(jane2.Account.Get(ctx, &security.AccountGetReq{Header: minRev(c)})).ok(t, "account get with new password")
	bob := newOSClient(t, c, 1, "bob", "Another-Str0ng-Passphrase")
	must(bob.Account.Get(ctx, &security.AccountGetReq{Header: minRev(c)})).ok(t, "bob account")

	// Health and cache.
	h := must(cl[1].Health(ctx, nil)).ok(t, "health")
	if h.Status != "UP" || h.Mode != "strict" {
		t.Errorf("health = %+v", h)
	}
	must(cl[2].FlushCache(ctx, nil)).ok(t, "flush cache")

	// Security configuration: read by anyone with API access, written by the
	// super admin (restapi.admin.enabled is off and modification not allowed).
	// The demo configuration as the plugin returns it, before the client's
	// struct rewrites it.
	checkObject[security.ConfigGetResp](t, c.Admin(2, "GET", "/_plugins/_security/api/securityconfig", "").Body, securityConfigClientGaps)
	cfg := must(cl[0].SecurityConfig.Get(ctx, &security.ConfigGetReq{Header: minRev(c)})).ok(t, "securityconfig get")
	if !cfg.Config.Dynamic.MultiRolespanEnabled || cfg.Config.Dynamic.Kibana.Index != ".kibana" ||
		!cfg.Config.Dynamic.Authc.BasicInternalAuthDomain.HTTPEnabled {
		t.Errorf("securityconfig = %+v", cfg.Config.Dynamic)
	}
	if _, err := cl[1].SecurityConfig.Put(ctx, security.ConfigPutReq{Body: security.ConfigPutBody{Dynamic: cfg.Config.Dynamic}}); err == nil {
		t.Errorf("securityconfig put without the right succeeded")
	}
	dyn := cfg.Config.Dynamic
	dyn.DoNotFailOnForbidden = true
	must(super[1].SecurityConfig.Put(ctx, security.ConfigPutReq{Body: security.ConfigPutBody{Dynamic: dyn}})).ok(t, "securityconfig put")
	must(super[2].SecurityConfig.Patch(ctx, security.ConfigPatchReq{Body: security.ConfigPatchBody{
		{OP: "replace", Path: "/config/dynamic/do_not_fail_on_forbidden_empty", Value: true}}})).ok(t, "securityconfig patch")
	cfg = must(cl[0].SecurityConfig.Get(ctx, &security.ConfigGetReq{Header: minRev(c)})).ok(t, "securityconfig get again")
	if !cfg.Config.Dynamic.DoNotFailOnForbidden || !cfg.Config.Dynamic.DoNotFailOnForbiddenEmpty {
		t.Errorf("securityconfig writes lost: %+v", cfg.Config.Dynamic)
	}

	// Audit.
	aud := must(cl[1].Audit.Get(ctx, &security.AuditGetReq{Header: minRev(c)})).ok(t, "audit get")
	if !aud.Config.Enabled || aud.ReadOnly == nil {
		t.Errorf("audit = %+v", aud)
	}
	aud.Config.Audit.IgnoreUsers = append(aud.Config.Audit.IgnoreUsers, "logstash")
	must(cl[2].Audit.Put(ctx, security.AuditPutReq{Body: security.AuditPutBody(aud.Config)})).ok(t, "audit put")
	must(cl[0].Audit.Patch(ctx, security.AuditPatchReq{Body: security.AuditPatchBody{{OP: "replace", Path: "/config/enabled", Value: false}}})).ok(t, "audit patch")
	aud = must(cl[1].Audit.Get(ctx, &security.AuditGetReq{Header: minRev(c)})).ok(t, "audit get again")
	if aud.Config.Enabled || len(aud.Config.Audit.IgnoreUsers) != 2 {
		t.Errorf("audit writes lost: %+v", aud.Config)
	}

	// Nodes DN: super admin only.
	if _, err := cl[0].NodesDN.Get(ctx, nil); err == nil {
		t.Errorf("nodesdn get without admin rights succeeded")
	}
	must(super[0].NodesDN.Put(ctx, security.NodesDNPutReq{Cluster: "c2", Body: security.NodesDNPutBody{NodesDN: []string{"CN=node*.c2"}}})).ok(t, "nodesdn put")
	must(super[1].NodesDN.Patch(ctx, security.NodesDNPatchReq{Cluster: "c2", Body: security.NodesDNPatchBody{{OP: "add", Path: "/nodes_dn/-", Value: "CN=extra"}}})).ok(t, "nodesdn patch one")
	must(super[2].NodesDN.Patch(ctx, security.NodesDNPatchReq{Body: security.NodesDNPatchBody{{OP: "add", Path: "/c3", Value: map[string]any{"nodes_dn": []string{"CN=c3"}}}}})).ok(t, "nodesdn patch")
	dns := must(super[0].NodesDN.Get(ctx, &security.NodesDNGetReq{Cluster: "c2", Header: minRev(c)})).ok(t, "nodesdn get one")
	if got := dns.DistinguishedNames["c2"].NodesDN; len(got) != 2 {
		t.Errorf("nodesdn = %+v", dns.DistinguishedNames)
	}
	must(super[1].NodesDN.Delete(ctx, security.NodesDNDeleteReq{Cluster: "c3"})).ok(t, "nodesdn delete")
	all3 := must(super[2].NodesDN.Get(ctx, &security.NodesDNGetReq{Header: minRev(c)})).ok(t, "nodesdn get")
	if _, ok := all3.DistinguishedNames["c3"]; ok || len(all3.DistinguishedNames) != 1 {
		t.Errorf("nodesdn after delete = %+v", all3.DistinguishedNames)
	}

	// SSL: the node's certificates, and reloads.
	certs := must(super[0].SSL.Get(ctx, nil)).ok(t, "ssl get")
	if len(certs.HTTPCerts) != 1 || certs.HTTPCerts[0].SubjectDN != "CN=n1,OU=node,O=authzd" || certs.HTTPCerts[0].NotAfter.IsZero() {
		t.Errorf("ssl certs = %+v", certs)
	}
	must(super[1].SSL.HTTPReload(ctx, nil)).ok(t, "ssl http reload")
	must(super[2].SSL.TransportReload(ctx, nil)).ok(t, "ssl transport reload")

	// Deletes.
	must(cl[0].RolesMapping.Delete(ctx, security.RolesMappingDeleteReq{Role: "writer"})).ok(t, "mapping delete")
	must(cl[1].Roles.Delete(ctx, security.RolesDeleteReq{Role: "writer"})).ok(t, "role delete")
	must(cl[2].InternalUsers.Delete(ctx, security.InternalUsersDeleteReq{User: "bob"})).ok(t, "user delete")
	must(cl[0].ActionGroups.Delete(ctx, security.ActionGroupsDeleteReq{ActionGroup: "my-ag"})).ok(t, "ag delete")
	must(cl[1].Tenants.Delete(ctx, security.TenantsDeleteReq{Tenant: "ops"})).ok(t, "tenant delete")
	if _, err := cl[2].Tenants.Get(ctx, &security.TenantsGetReq{Tenant: "ops", Header: minRev(c)}); err == nil {
		t.Errorf("deleted tenant still readable")
	}

	// Every GET body equals the client's structs re-marshalled: no key the
	// client lacks, no value it would change, and every key the server leaves
	// out is one whose value is empty (the plugin omits empty optional values).
	checkMap[security.InternalUsersGetItem](t, c, "/_plugins/_security/api/internalusers")
	checkMap[security.RolesGetItem](t, c, "/_plugins/_security/api/roles")
	checkMap[security.RolesMappingGetItem](t, c, "/_plugins/_security/api/rolesmapping")
	checkMap[security.ActionGroupsGet](t, c, "/_plugins/_security/api/actiongroups")
	checkMap[security.TenantsGetItem](t, c, "/_plugins/_security/api/tenants")
	must(super[0].NodesDN.Put(ctx, security.NodesDNPutReq{Cluster: "c4", Body: security.NodesDNPutBody{NodesDN: []string{"CN=a"}}})).ok(t, "nodesdn put")
	checkMapWith[struct {
		NodesDN []string `json:"nodes_dn"`
	}](t, c, c.AdminClient, "/_plugins/_security/api/nodesdn")
	checkObject[security.AccountGetResp](t, c.Admin(0, "GET", "/_plugins/_security/api/account", "").Body, nil)
	checkObject[security.HealthResp](t, c.Do(0, "GET", "/_plugins/_security/health", "", "", "").Body, nil)
	checkObject[security.AuditGetResp](t, c.Admin(1, "GET", "/_plugins/_security/api/audit", "").Body, nil)
	checkObject[security.SSLGetResp](t, c.DoWith(c.AdminClient, 2, "GET", "/_plugins/_security/api/ssl/certs", "", "", "").Body, nil)
	checkObject[security.ConfigGetResp](t, c.Admin(2, "GET", "/_plugins/_security/api/securityconfig", "").Body, nil)
}

// securityConfigClientGaps are the keys of GET securityconfig that the
// client's ConfigDynamic does not model, each a free-form `config` map entry
// of the demo config.yml that the plugin returns too (the client types those
// maps as structs with a subset of their keys).
var securityConfigClientGaps = map[string]bool{
	".config.dynamic.authc.jwt_auth_domain.http_authenticator.config.jwt_url_parameter":      true,
	".config.dynamic.authc.jwt_auth_domain.http_authenticator.config.roles_key":              true,
	".config.dynamic.authc.jwt_auth_domain.http_authenticator.config.subject_key":            true,
	".config.dynamic.authc.ldap.authentication_backend.config.bind_dn":                       true,
	".config.dynamic.authc.ldap.authentication_backend.config.password":                      true,
	".config.dynamic.authc.ldap.authentication_backend.config.username_attribute":            true,
	".config.dynamic.authz.roles_from_myldap.authorization_backend.config.bind_dn":           true,
	".config.dynamic.authz.roles_from_myldap.authorization_backend.config.password":          true,
	".config.dynamic.authz.roles_from_myldap.authorization_backend.config.userroleattribute": true,
}

// minRev asks the node to wait for the newest revision any node has applied,
// so a read on another node sees the previous write (read-your-writes).
func minRev(c *nodetest.Cluster) http.Header {
	var rev uint64
	for _, n := range c.Nodes {
		if n != nil && n.Machine().View().Rev > rev {
			rev = n.Machine().View().Rev
		}
	}
	h := http.Header{}
	h.Set("X-Authz-Min-Revision", fmt.Sprint(rev))
	return h
}

// checkMap compares every entry of a collection GET body with the client's
// item struct (see checkObject).
func checkMap[T any](t *testing.T, c *nodetest.Cluster, path string) {
	t.Helper()
	checkMapWith[T](t, c, nil, path)
}

// checkMapWith is checkMap as the super admin (client set) or as admin.
func checkMapWith[T any](t *testing.T, c *nodetest.Cluster, client *http.Client, path string) {
	t.Helper()
	var raw []byte
	if client == nil {
		raw = c.Admin(0, "GET", path, "").Body
	} else {
		raw = c.DoWith(client, 0, "GET", path, "", "", "").Body
	}
	var items map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		t.Fatalf("%s: %v %s", path, err, raw)
	}
	for name, item := range items {
		t.Run(path+"/"+name, func(t *testing.T) { checkObject[T](t, item, nil) })
	}
}

// checkObject decodes raw into the client's type T, encodes it again and
// compares both at every depth (compareStrict). gaps lists paths of keys the
// client is known not to model.
func checkObject[T any](t *testing.T, raw []byte, gaps map[string]bool) {
	t.Helper()
	var typed T
	if err := json.Unmarshal(raw, &typed); err != nil {
		t.Fatalf("decode into %T: %v", typed, err)
	}
	again, _ := json.Marshal(typed)
	var got, want any
	_ = json.Unmarshal(raw, &got)
	_ = json.Unmarshal(again, &want)
	compareStrict(t, "", got, want, gaps)
}

// compareStrict compares the server's JSON (got) with the client's re-encoding
// (want): objects must have the same keys, except keys the server leaves out
// whose client value is empty and keys listed in gaps; arrays the same length;
// scalars the same value.
func compareStrict(t *testing.T, path string, got, want any, gaps map[string]bool) {
	t.Helper()
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			t.Errorf("%s: server sent an object, client re-encodes %v", path, want)
			return
		}
		for k, gv := range g {
			p := path + "." + k
			wv, ok := w[k]
			if !ok {
				if !gaps[p] {
					t.Errorf("%s: key unknown to the client struct", p)
				}
				continue
			}
			compareStrict(t, p, gv, wv, gaps)
		}
		for k, wv := range w {
			if _, ok := g[k]; !ok && !isEmpty(wv) {
				t.Errorf("%s.%s: missing from the server's body (client has %v)", path, k, wv)
			}
		}
	case []any:
		w, ok := want.([]any)
		if !ok || len(w) != len(g) {
			t.Errorf("%s: server sent %v, client re-encodes %v", path, got, want)
			return
		}
		for i := range g {
			compareStrict(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i], gaps)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: server sent %v, client re-encodes %v", path, got, want)
		}
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
