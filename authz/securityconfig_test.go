package authz

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func demoConfig(t *testing.T) *Config {
	t.Helper()
	c, err := LoadDir(os.DirFS("config/demo"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNormalizeSecurityConfigDemo: the demo config.yml gets the plugin's
// defaults (ConfigV7), drops transport_enabled, and normalizing is stable.
func TestNormalizeSecurityConfigDemo(t *testing.T) {
	doc, e := NormalizeSecurityConfig(demoConfig(t).SecurityConfig)
	if e != nil {
		t.Fatal(e)
	}
	again, e := NormalizeSecurityConfig(doc)
	if e != nil || string(again) != string(doc) {
		t.Fatalf("not stable: %v\n%s\n%s", e, doc, again)
	}
	for _, want := range []string{
		`"filtered_alias_mode":"warn"`, `"multi_rolespan_enabled":true`, `"hosts_resolver_mode":"ip-only"`,
		`"kibana":{"multitenancy_enabled":true,"private_tenant_enabled":true,"default_tenant":"","server_username":"kibanaserver","index":".kibana","sign_in_options":["BASIC"]}`,
		`"remoteIpHeader":"X-Forwarded-For"`, `"on_behalf_of":{"enabled":false}`, `"auth_failure_listeners":{}`,
		`"jwt_url_parameter":null`,
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("normalized config lacks %s", want)
		}
	}
	if strings.Contains(string(doc), "transport_enabled") {
		t.Errorf("transport_enabled kept")
	}
	red := RedactSecurityConfig(doc)
	if !strings.Contains(string(red), `"password":"******"`) || strings.Contains(string(red), `"password":null`) {
		t.Errorf("password not redacted")
	}
}

func TestNormalizeSecurityConfigErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown key", `{"dynamic":{"do_not_fail_on_forbiden":true}}`,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dynamic.do_not_fail_on_forbiden"}}`},
		{"unknown domain key", `{"dynamic":{"authc":{"d":{"orderr":1}}}}`,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dynamic.authc.d.orderr"}}`},
		{"wrong type", `{"dynamic":{"do_not_fail_on_forbidden":"yes","authc":{"d":{"order":"1"}}}}`,
			`{"status":"error","reason":"Wrong datatype","dynamic.authc.d.order":"Integer expected","dynamic.do_not_fail_on_forbidden":"Boolean expected"}`},
		{"enum", `{"dynamic":{"hosts_resolver_mode":"dns"}}`,
			`{"status":"error","reason":"Wrong datatype","dynamic.hosts_resolver_mode":"One of ip-only, ip-hostname, ip-hostname-lookup expected"}`},
		{"kibana twice", `{"dynamic":{"kibana":{},"opensearch-dashboards":{}}}`,
			`{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dynamic.opensearch-dashboards"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := NormalizeSecurityConfig(json.RawMessage(tc.doc))
			if e == nil || string(e.Body) != tc.want {
				t.Errorf("got %v\nwant %s", e, tc.want)
			}
		})
	}
	doc, e := NormalizeSecurityConfig(json.RawMessage(`{"dynamic":{"opensearch-dashboards":{"default_tenant":"hr"}}}`))
	if e != nil || !strings.Contains(string(doc), `"default_tenant":"hr"`) {
		t.Errorf("alias: %v %s", e, doc)
	}
}

func TestParseSecurityConfigBody(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", `{}`, `{"status":"error","reason":"Request body required for this action."}`},
		{"not json", `{`, `{"status":"error","reason":"Could not parse content of request."}`},
		{"other key", `{"dynamic":{},"config":{}}`, `{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"config"}}`},
		{"dynamic not object", `{"dynamic":[]}`, `{"status":"error","reason":"Wrong datatype","dynamic":"Object expected"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := ParseSecurityConfigBody([]byte(tc.body))
			if e == nil || string(e.Body) != tc.want {
				t.Errorf("got %v\nwant %s", e, tc.want)
			}
		})
	}
	if _, e := ParseSecurityConfigBody([]byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`)); e != nil {
		t.Errorf("valid body refused: %s", e)
	}
}

// TestTenancy pins PUT tenancy/config's rules (MultiTenancyConfigApiAction).
func TestTenancy(t *testing.T) {
	c := demoConfig(t)
	c.AddStatics()
	sc := SecurityConfigOf(c.SecurityConfig)
	ops, e := TenancyPatch([]byte(`{"default_tenant":"admin_tenant","sign_in_options":[]}`))
	if e != nil || string(ops) != `[{"op":"add","path":"/config/dynamic/kibana/default_tenant","value":"admin_tenant"}]` {
		t.Fatalf("ops = %s %v", ops, e)
	}
	if _, e := TenancyPatch([]byte(`{"default_tenant":1}`)); e == nil || !strings.Contains(string(e.Body), "String expected") {
		t.Errorf("type check: %v", e)
	}
	if _, e := TenancyPatch([]byte(`{"colour":"red"}`)); e == nil || !strings.Contains(string(e.Body), "invalid_keys") {
		t.Errorf("key check: %v", e)
	}
	tenant := func(def string, private bool) SecurityConfig {
		s := sc
		s.Dynamic.Kibana.DefaultTenant = &def
		s.Dynamic.Kibana.PrivateTenantEnabled = private
		return s
	}
	for _, tc := range []struct {
		sc   SecurityConfig
		want string
	}{
		{tenant("Admin_Tenant", true), ""},
		{tenant("global", true), ""},
		{tenant("private", false), "Private tenant can not be disabled if it is the default tenant."},
		{tenant("nope", true), "nope can not be set to default tenant. Default tenant should be selected from one of the available tenants."},
	} {
		e := c.CheckTenancyConfig(tc.sc)
		switch {
		case tc.want == "" && e != nil:
			t.Errorf("%v refused: %s", *tc.sc.Dynamic.Kibana.DefaultTenant, e)
		case tc.want != "" && (e == nil || !strings.Contains(string(e.Body), tc.want) || !strings.Contains(string(e.Body), "illegal_argument_exception")):
			t.Errorf("%v: got %v, want %q", *tc.sc.Dynamic.Kibana.DefaultTenant, e, tc.want)
		}
	}
	if e := CheckTenancySignIn(sc, []string{"BASIC", "ANONYMOUS", "OPENID"}); e == nil ||
		!strings.Contains(string(e.Body), "Validation failure: OPENID authentication provider is not available for this cluster.") {
		t.Errorf("sign in: %v", e)
	}
}
