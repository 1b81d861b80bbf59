package authz

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRESTSettings(t *testing.T) {
	s, err := ParseRESTSettings(map[string]any{
		"plugins.security.restapi.roles_enabled": []any{"all_access", "ops"},
		"plugins.security": map[string]any{"restapi": map[string]any{"endpoints_disabled": map[string]any{
			"ops":    map[string]any{"roles": []any{"put", "DELETE"}, "license": []any{"GET"}, "INTERNALUSERS": []any{"*"}},
			"global": map[string]any{"CACHE": []any{"DELETE", "FETCH"}},
			"nobody": map[string]any{"ROLES": []any{"GET"}}, // not in roles_enabled: not read
		}}},
		"plugins.security.restapi.admin.enabled":                                 "true",
		"plugins.security.unsupported.restapi.allow_securityconfig_modification": true,
		"plugins.security.nodes_dn":                                              "CN=node*,OU=node",
		"plugins.security.nodes_dn_dynamic_config_enabled":                       true,
		"plugins.security.restapi.password_min_length":                           12,
		"plugins.security.restapi.password_score_based_validation_strength":      "good",
		"plugins.security.password.hashing.bcrypt.rounds":                        "10",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[Endpoint][]string{
		"ops":    {EndpointRoles: {"PUT", "DELETE"}, EndpointInternalUsers: HTTPMethods},
		"global": {EndpointCache: {"DELETE"}},
	}
	if d := cmp.Diff(want, s.EndpointsDisabled); d != "" {
		t.Errorf("endpoints_disabled (-want +got):\n%s", d)
	}
	if !s.AdminEnabled || !s.AllowSecurityConfigModification || !s.NodesDNDynamicConfigEnabled ||
		s.Password.MinLength != 12 || s.Password.ScoreStrength != "good" || s.BcryptRounds != 10 ||
		len(s.NodesDN) != 1 {
		t.Errorf("settings = %+v", s)
	}
	if len(s.Warnings) != 2 || !strings.Contains(strings.Join(s.Warnings, "\n"), "LICENSE") || !strings.Contains(strings.Join(s.Warnings, "\n"), "FETCH") {
		t.Errorf("warnings = %q", s.Warnings)
	}
}

func TestParseRESTSettingsErrors(t *testing.T) {
	_, err := ParseRESTSettings(map[string]any{
		"plugins.security.restapi.admin.enabled":                            "maybe",
		"plugins.security.restapi.password_score_based_validation_strength": "super",
		"plugins.security.password.hashing.bcrypt.rounds":                   99,
		"plugins.security.restapi.roles_enabled":                            []any{1},
	})
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"admin.enabled", "super", "bcrypt.rounds", "roles_enabled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestDisabledEndpoints pins R-API-5: an endpoint is disabled only if every
// role with an entry disables it, methods intersected, global entries added.
func TestDisabledEndpoints(t *testing.T) {
	s := RESTSettings{
		RolesEnabled: []string{"a", "b", "c"},
		EndpointsDisabled: map[string]map[Endpoint][]string{
			"a":      {EndpointRoles: {"PUT", "DELETE"}, EndpointTenants: {"GET"}},
			"b":      {EndpointRoles: {"DELETE", "PATCH"}},
			"global": {EndpointCache: {"DELETE"}},
		},
	}
	tests := []struct {
		name  string
		roles []string
		want  map[Endpoint][]string
	}{
		{"one role", []string{"a"}, map[Endpoint][]string{EndpointRoles: {"PUT", "DELETE"}, EndpointTenants: {"GET"}, EndpointCache: {"DELETE"}}},
		{"two roles intersect", []string{"a", "b"}, map[Endpoint][]string{EndpointRoles: {"DELETE"}, EndpointCache: {"DELETE"}}},
		{"role without entry does not lift", []string{"a", "c"}, map[Endpoint][]string{EndpointRoles: {"PUT", "DELETE"}, EndpointTenants: {"GET"}, EndpointCache: {"DELETE"}}},
		{"no entries: only global", []string{"c"}, map[Endpoint][]string{EndpointCache: {"DELETE"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, s.DisabledEndpoints(tc.roles)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	all := s.DisabledEndpoints([]string{"z"})
	if len(all) != len(Endpoints) || len(all[EndpointSSL]) != len(HTTPMethods) {
		t.Errorf("no API access: %v", all)
	}
}

func TestAccessDenied(t *testing.T) {
	s := RESTSettings{RolesEnabled: []string{"rest"}, EndpointsDisabled: map[string]map[Endpoint][]string{"rest": {EndpointRoles: {"PUT"}}}}
	none := RESTSettings{}
	tests := []struct {
		name string
		s    RESTSettings
		ep   Endpoint
		m    string
		c    Caller
		want string
	}{
		{"role grants", s, EndpointRoles, "GET", Caller{Name: "u", Roles: []string{"rest"}, TLS: true}, ""},
		{"account is open", s, EndpointAccount, "PUT", Caller{Name: "u", TLS: true}, ""},
		{"no role, no cert", s, EndpointRoles, "GET", Caller{Name: "u", Roles: []string{"x", "own_index"}, TLS: true},
			"User u with Security roles [own_index, x] does not have any role privileged for admin access. No client TLS certificate found in request"},
		{"disabled method", s, EndpointRoles, "PUT", Caller{Name: "u", Roles: []string{"rest"}, TLS: true, CertDN: "CN=x"},
			"User u with Security roles [rest] does not have any access to endpoint ROLES and method PUT. Security admin permissions required but CN=x is not an admin"},
		{"disabled method, super admin", s, EndpointRoles, "PUT", Caller{Name: "u", Roles: []string{"rest"}, TLS: true, CertDN: "CN=kirk", SuperAdmin: true}, ""},
		{"role based access off", none, EndpointRoles, "GET", Caller{Name: "u", TLS: false},
			"Role based access not enabled.. No ssl info found in request."},
		{"authzd endpoint never disabled", s, "", "PUT", Caller{Name: "u", Roles: []string{"rest"}, TLS: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.AccessDenied(tc.ep, tc.m, tc.c); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAdminPermission(t *testing.T) {
	for ep, want := range map[Endpoint]string{
		EndpointRoles: "restapi:admin/roles", EndpointNodesDN: "restapi:admin/nodesdn", EndpointAllowlist: "restapi:admin/allowlist",
		EndpointInternalUsers: "restapi:admin/internalusers", EndpointAudit: "", EndpointCache: "",
	} {
		if got := AdminPermission(ep, ""); got != want {
			t.Errorf("%s: %q, want %q", ep, got, want)
		}
	}
	if got := AdminPermission(EndpointConfig, AdminActionConfigUpdate); got != "restapi:admin/config/update" {
		t.Errorf("config: %q", got)
	}
	if got := AdminPermission(EndpointSSL, AdminActionCertsInfo); got != "restapi:admin/ssl/certs/info" {
		t.Errorf("ssl: %q", got)
	}
}

// TestIsAdminFor pins R-API-6 with R-EVAL-12: the permission must be granted
// explicitly (a role with cluster "*" is not admin), and only with
// restapi.admin.enabled.
func TestIsAdminFor(t *testing.T) {
	c := NewConfig()
	c.AddStatics()
	c.Roles["roles_admin"] = Role{ClusterPermissions: []string{"restapi:admin/roles"}}
	c.Roles["all_rest"] = Role{ClusterPermissions: []string{"restapi:admin/*"}}
	c.ActionGroups["rest_group"] = ActionGroup{AllowedActions: []string{"restapi:admin/tenants"}}
	c.Roles["via_group"] = Role{ClusterPermissions: []string{"rest_group"}}
	c.Normalize()
	ev, err := Compile(c, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	on := RESTSettings{AdminEnabled: true}
	off := RESTSettings{}
	tests := []struct {
		name  string
		s     RESTSettings
		roles []string
		ep    Endpoint
		super bool
		want  bool
	}{
		{"explicit permission", on, []string{"roles_admin"}, EndpointRoles, false, true},
		{"other endpoint", on, []string{"roles_admin"}, EndpointTenants, false, false},
		{"wildcard restapi:admin/*", on, []string{"all_rest"}, EndpointNodesDN, false, true},
		{"through an action group", on, []string{"via_group"}, EndpointTenants, false, true},
		{"all_access is not admin (R-EVAL-12)", on, []string{"all_access"}, EndpointRoles, false, false},
		{"admin.enabled off", off, []string{"roles_admin"}, EndpointRoles, false, false},
		{"super admin", off, nil, EndpointAudit, true, true},
		{"audit has no permission", on, []string{"all_rest"}, EndpointAudit, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.IsAdminFor(tc.ep, "", tc.super, func(p string) bool { return ev.HasClusterPermission(tc.roles, p) })
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDNMatches(t *testing.T) {
	list := []string{"CN=kirk,OU=client,O=client,L=test,C=de"}
	for dn, want := range map[string]bool{
		"CN=kirk,OU=client,O=client,L=test,C=de":     true,
		"cn=Kirk, ou=client, o=client, l=test, c=DE": true,
		"CN=kirk,OU=client,O=client,L=test,C=fr":     false,
		"CN=kirk\\,OU=client,O=client,L=test,C=de":   false,
		"": false,
		"CN = kirk , OU=client,O=client,L=test , C = de": true,
	} {
		if got := DNMatches(list, dn); got != want {
			t.Errorf("%q: %v, want %v", dn, got, want)
		}
	}
	if !MatchesAnyIgnoreCase([]string{"cn=n*,ou=node,o=authzd"}, "CN=n1,OU=node,O=authzd") ||
		!MatchesAnyIgnoreCase([]string{"/CN=N[0-9],.*/"}, "cn=n1,ou=node") ||
		MatchesAnyIgnoreCase([]string{"CN=n*"}, "CN=kirk") {
		t.Error("MatchesAnyIgnoreCase")
	}
}
