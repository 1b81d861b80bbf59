package authz

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sharedPath returns a directory under /work/shared (relative to the package),
// skipping the test when it is absent.
func sharedPath(t *testing.T, rel string) string {
	t.Helper()
	dir := "../../shared/" + rel
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not available: %v", dir, err)
	}
	return dir
}

func TestLoadDirDemo(t *testing.T) {
	c, err := LoadDir(os.DirFS(sharedPath(t, "opensearch-config/demo")))
	if err != nil {
		t.Fatal(err)
	}
	counts := []struct {
		name      string
		got, want int
	}{
		{"users", len(c.InternalUsers), 7},
		{"roles", len(c.Roles), 42},
		{"mappings", len(c.RolesMapping), 7},
		{"action groups", len(c.ActionGroups), 0},
		{"tenants", len(c.Tenants), 1},
	}
	for _, n := range counts {
		if n.got != n.want {
			t.Errorf("%s = %d, want %d", n.name, n.got, n.want)
		}
	}
	wantUser := InternalUser{
		Hash:          "$2y$12$sSrZow1Woo9qGIEmInLsueXlMmrFDR75kTM5yr8P0nZ/FT3flvsHC",
		BackendRoles:  []string{},
		Attributes:    map[string]string{},
		SecurityRoles: []string{"anomaly_full_access"},
		Description:   "Demo anomaly admin user, using internal role",
	}
	if diff := cmp.Diff(wantUser, c.InternalUsers["anomalyadmin"]); diff != "" {
		t.Errorf("anomalyadmin (-want +got):\n%s", diff)
	}
	if r := c.Roles["security_rest_api_full_access"]; !r.Reserved || len(r.ClusterPermissions) != 10 {
		t.Errorf("security_rest_api_full_access = %+v", r)
	}
	var sc struct {
		Dynamic struct {
			Authc map[string]struct {
				HTTPEnabled bool `json:"http_enabled"`
				Order       int  `json:"order"`
			} `json:"authc"`
		} `json:"dynamic"`
	}
	if err := json.Unmarshal(c.SecurityConfig, &sc); err != nil {
		t.Fatal(err)
	}
	if d := sc.Dynamic.Authc["basic_internal_auth_domain"]; !d.HTTPEnabled || d.Order != 4 {
		t.Errorf("basic_internal_auth_domain = %+v", d)
	}
	if !strings.Contains(string(c.SecurityConfig), `"jwt_url_parameter":null`) {
		t.Errorf("null values lost: %s", c.SecurityConfig)
	}
	if !strings.Contains(string(c.Audit), `"ignore_users":["kibanaserver"]`) {
		t.Errorf("audit = %s", c.Audit)
	}
}

func TestLoadDirLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100k users: skipped with -short")
	}
	dir := sharedPath(t, "bench/large")
	start := time.Now()
	c, err := LoadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d users, %d roles, %d mappings, %d action groups in %v",
		len(c.InternalUsers), len(c.Roles), len(c.RolesMapping), len(c.ActionGroups), time.Since(start))
	if len(c.InternalUsers) != 100000 || len(c.Roles) != 10000 || len(c.RolesMapping) != 10000 || len(c.ActionGroups) != 322 {
		t.Errorf("counts: %d users, %d roles, %d mappings, %d action groups", len(c.InternalUsers), len(c.Roles), len(c.RolesMapping), len(c.ActionGroups))
	}
	if u := c.InternalUsers["user1"]; u.BackendRoles == nil || len(u.BackendRoles) != 0 || u.Attributes == nil {
		t.Errorf("user1 not normalized: %+v", u)
	}
}

func TestLoadBytesErrors(t *testing.T) {
	const meta = "_meta:\n  type: \"%s\"\n  config_version: 2\n"
	tests := []struct {
		name string
		file string
		data string
		want string // substring of the error
	}{
		{"R-MOD-1 wrong type", "roles.yml", "_meta:\n  type: \"internalusers\"\n  config_version: 2\n", `roles.yml: _meta.type is "internalusers", want "roles"`},
		{"R-MOD-1 version 1", "roles.yml", "_meta:\n  type: \"roles\"\n  config_version: 1\n", "roles.yml: _meta.config_version is 1, want 2"},
		{"R-MOD-1 no version", "tenants.yml", "_meta:\n  type: \"tenants\"\n", "config_version is 0, want 2"},
		{"R-MOD-1 no _meta", "tenants.yml", "t:\n  description: x\n", "tenants.yml: _meta missing"},
		{"R-MOD-1 empty file", "tenants.yml", "", "tenants.yml: empty document"},
		{"whitelist type only for whitelist.yml", "allowlist.yml", "_meta:\n  type: \"whitelist\"\n  config_version: 2\n", `_meta.type is "whitelist", want "allowlist"`},
		{"unknown file", "users.yml", "", "users.yml: unknown configuration file"},
		{"not YAML", "roles.yml", "a: [", "load roles.yml: yaml:"},
		{"not a mapping", "roles.yml", "- a\n", "top level is not a mapping"},
		{"unknown entity key", "internal_users.yml", strings.Replace(meta, "%s", "internalusers", 1) + "kirk:\n  hash: x\n  roles: [a]\n", `load internal_users.yml:6: entity "kirk": unknown key "roles"`},
		{"unknown nested key", "roles.yml", strings.Replace(meta, "%s", "roles", 1) + "r:\n  index_permissions:\n    - index_patterns: [\"*\"]\n      dlss: \"{}\"\n", `roles.yml:7: entity "r": index_permissions[0]: unknown key "dlss"`},
		{"static key not on mappings", "roles_mapping.yml", strings.Replace(meta, "%s", "rolesmapping", 1) + "r:\n  static: true\n", `entity "r": unknown key "static"`},
		{"wrong value type", "tenants.yml", strings.Replace(meta, "%s", "tenants", 1) + "t:\n  reserved: maybe\n", "line 5: cannot unmarshal !!str `maybe` into bool"},
		{"entity not a mapping", "tenants.yml", strings.Replace(meta, "%s", "tenants", 1) + "t: [1]\n", `tenants.yml:4: entity "t": not a mapping`},
		{"duplicate entity", "tenants.yml", strings.Replace(meta, "%s", "tenants", 1) + "t: {}\nt: {}\n", `tenants.yml:5: entry "t" defined twice`},
		{"config unknown top-level key", "config.yml", strings.Replace(meta, "%s", "config", 1) + "config: {dynamic: {}}\nother: 1\n", `config.yml:5: unknown top-level key "other"`},
		{"nodes_dn unknown key", "nodes_dn.yml", strings.Replace(meta, "%s", "nodesdn", 1) + "cluster1:\n  dn: [x]\n", `nodes_dn.yml:5: entity "cluster1": unknown key "dn"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadBytes(tc.file, []byte(tc.data), NewConfig())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadBytes = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadDirFS(t *testing.T) {
	fsys := fstest.MapFS{
		"tenants.yml": {Data: []byte("_meta: {type: tenants, config_version: 2}\nhr: {description: HR}\nempty:\n")},
		"roles.yml": {Data: []byte(`_meta: {type: roles, config_version: 2}
base: &base
  cluster_permissions: [a]
copy: *base
`)},
		"nodes_dn.yml":  {Data: []byte("_meta: {type: nodesdn, config_version: 2}\nc2: {nodes_dn: [\"CN=b\"]}\nc1: {nodes_dn: [\"CN=a\", \"CN=*.x\"]}\n")},
		"audit.yml":     {Data: []byte("_meta: {type: audit, config_version: 2}\nconfig: {z: 1, a: {2: two, b: [x, 1.5, true]}}\n")},
		"whitelist.yml": {Data: []byte("_meta: {type: whitelist, config_version: 2}\nconfig: {enabled: true}\n")},
		"other.yml":     {Data: []byte("not yaml: [")},
	}
	c, err := LoadDir(fsys)
	if err != nil {
		t.Fatal(err)
	}
	wantTenants := map[string]Tenant{"hr": {Description: "HR"}, "empty": {}}
	if diff := cmp.Diff(wantTenants, c.Tenants); diff != "" {
		t.Errorf("tenants (-want +got):\n%s", diff)
	}
	if got := c.Roles["copy"].ClusterPermissions; len(got) != 1 || got[0] != "a" {
		t.Errorf("alias not followed: %+v", c.Roles["copy"])
	}
	if want := `{"c1":{"nodes_dn":["CN=a","CN=*.x"]},"c2":{"nodes_dn":["CN=b"]}}`; string(c.NodesDN) != want {
		t.Errorf("NodesDN = %s, want %s", c.NodesDN, want)
	}
	if want := `{"a":{"2":"two","b":["x",1.5,true]},"z":1}`; string(c.Audit) != want {
		t.Errorf("Audit = %s, want %s", c.Audit, want)
	}
	if c.Allowlist != nil || c.SecurityConfig != nil {
		t.Errorf("missing files must stay empty: allowlist %s, config %s", c.Allowlist, c.SecurityConfig)
	}
	if len(c.InternalUsers) != 0 || c.InternalUsers == nil {
		t.Errorf("users = %v", c.InternalUsers)
	}
}

func TestNormalizeAndClone(t *testing.T) {
	c := &Config{
		InternalUsers: map[string]InternalUser{"u": {}},
		Roles:         map[string]Role{"r": {IndexPermissions: []IndexPermission{{}}, TenantPermissions: []TenantPermission{{}}}},
		RolesMapping:  map[string]RoleMapping{"m": {}},
		ActionGroups:  map[string]ActionGroup{"g": {}},
	}
	shared := c.Roles["r"].IndexPermissions
	c.Normalize()
	js, err := json.Marshal(c.Roles["r"])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"reserved":false,"hidden":false,"cluster_permissions":[],"index_permissions":[{"index_patterns":[],"fls":[],"masked_fields":[],"allowed_actions":[]}],"tenant_permissions":[{"tenant_patterns":[],"allowed_actions":[]}],"static":false}`
	if string(js) != want {
		t.Errorf("role = %s\nwant   %s", js, want)
	}
	if shared[0].FLS != nil {
		t.Error("Normalize wrote into a shared backing array")
	}
	for _, v := range []any{c.InternalUsers["u"], c.RolesMapping["m"], c.ActionGroups["g"]} {
		if js, _ := json.Marshal(v); strings.Contains(string(js), "null") {
			t.Errorf("not normalized: %s", js)
		}
	}
	if c.Tenants == nil {
		t.Error("Tenants map not allocated")
	}

	cl := c.Clone()
	cl.Roles["new"] = Role{}
	delete(cl.InternalUsers, "u")
	if _, ok := c.Roles["new"]; ok || len(c.InternalUsers) != 1 {
		t.Error("Clone shares maps")
	}
	if diff := cmp.Diff(c.RolesMapping, cl.RolesMapping); diff != "" {
		t.Errorf("Clone lost entries:\n%s", diff)
	}
}
