package authz

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStatics(t *testing.T) {
	s := Statics()
	if len(s.ActionGroups) != 26 || len(s.Roles) != 8 || len(s.Tenants) != 1 || len(s.InternalUsers) != 0 || len(s.RolesMapping) != 0 {
		t.Fatalf("statics: %d action groups, %d roles, %d tenants, %d users, %d mappings; want 26, 8, 1, 0, 0",
			len(s.ActionGroups), len(s.Roles), len(s.Tenants), len(s.InternalUsers), len(s.RolesMapping))
	}
	for _, name := range []string{"all_access", "kibana_user", "own_index", "manage_snapshots", "kibana_server", "logstash", "readall_and_monitor", "readall"} {
		r, ok := s.Roles[name]
		if !ok || !r.Static || !r.Reserved || r.Hidden {
			t.Errorf("static role %s = %+v, %v", name, r, ok)
		}
	}
	for name, g := range s.ActionGroups {
		if !g.Static || !g.Reserved || g.Type == "" {
			t.Errorf("static action group %s = %+v", name, g)
		}
	}
	if g := s.Tenants["global_tenant"]; !g.Static || g.Description != "Global tenant" {
		t.Errorf("global_tenant = %+v", g)
	}
	// R-MOD-7 notable definitions.
	want := Role{Reserved: true, Static: true, Description: "Allow full access to all indices and all cluster APIs",
		ClusterPermissions: []string{"*"},
		IndexPermissions:   []IndexPermission{{IndexPatterns: []string{"*"}, AllowedActions: []string{"*"}, FLS: []string{}, MaskedFields: []string{}}},
		TenantPermissions:  []TenantPermission{{TenantPatterns: []string{"*"}, AllowedActions: []string{"kibana_all_write"}}},
	}
	if diff := cmp.Diff(want, s.Roles["all_access"]); diff != "" {
		t.Errorf("all_access (-want +got):\n%s", diff)
	}
	if got := s.ActionGroups["crud"].AllowedActions; !slices.Equal(got, []string{"read", "write"}) {
		t.Errorf("crud = %v", got)
	}

	// Each call returns fresh maps.
	delete(s.Roles, "all_access")
	s.Tenants["x"] = Tenant{}
	if s2 := Statics(); len(s2.Roles) != 8 || len(s2.Tenants) != 1 {
		t.Fatalf("Statics shares maps between calls")
	}
}

func TestAddStatics(t *testing.T) {
	c := NewConfig()
	c.Roles["all_access"] = Role{Description: "mine"} // R-MOD-7: replaced by the static role
	c.Roles["custom"] = normalizedRole(Role{Description: "custom"})
	c.ActionGroups["read"] = ActionGroup{AllowedActions: []string{"x"}}
	c.AddStatics()
	if r := c.Roles["all_access"]; !r.Static || r.Description == "mine" {
		t.Errorf("all_access not overridden: %+v", r)
	}
	if g := c.ActionGroups["read"]; !g.Static || slices.Equal(g.AllowedActions, []string{"x"}) {
		t.Errorf("read not overridden: %+v", g)
	}
	if c.Roles["custom"].Description != "custom" || len(c.Roles) != 9 || len(c.ActionGroups) != 26 || len(c.Tenants) != 1 {
		t.Errorf("AddStatics: %d roles, %d action groups, %d tenants", len(c.Roles), len(c.ActionGroups), len(c.Tenants))
	}

	var empty Config
	empty.AddStatics()
	if len(empty.Roles) != 8 {
		t.Errorf("AddStatics on a zero Config: %d roles", len(empty.Roles))
	}
}

func TestBootstrap(t *testing.T) {
	const hash = "$2y$04$bootstrapbootstrapbootstrapbootstrapbootstrapbootstrap"
	c := Bootstrap(hash)
	wantUsers := map[string]InternalUser{"admin": {
		Hash: hash, Reserved: true, BackendRoles: []string{"admin"}, Attributes: map[string]string{},
		SecurityRoles: []string{}, Description: "Initial admin user",
	}}
	if diff := cmp.Diff(wantUsers, c.InternalUsers); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	wantMappings := map[string]RoleMapping{"all_access": {
		BackendRoles: []string{"admin"}, Users: []string{"admin"}, Hosts: []string{}, AndBackendRoles: []string{},
		Description: "Maps admin to all_access",
	}}
	if diff := cmp.Diff(wantMappings, c.RolesMapping); diff != "" {
		t.Errorf("mappings (-want +got):\n%s", diff)
	}
	if len(c.Roles) != 8+42 {
		t.Errorf("roles = %d, want 8 static + 42 demo", len(c.Roles))
	}
	if r := c.Roles["alerting_full_access"]; !r.Reserved || r.Static {
		t.Errorf("demo role alerting_full_access = %+v, want reserved, not static", r)
	}
	if len(c.ActionGroups) != 26 || len(c.Tenants) != 1 {
		t.Errorf("action groups %d, tenants %v", len(c.ActionGroups), c.Tenants)
	}
	var sc map[string]any
	if err := json.Unmarshal(c.SecurityConfig, &sc); err != nil || sc["dynamic"] == nil {
		t.Errorf("SecurityConfig = %s (%v)", c.SecurityConfig, err)
	}
	if c.Audit != nil || c.NodesDN != nil || c.Allowlist != nil {
		t.Errorf("bootstrap has demo documents")
	}
	// Independent results.
	c.Roles["x"] = Role{}
	if _, ok := Bootstrap(hash).Roles["x"]; ok {
		t.Error("Bootstrap results share maps")
	}
}

func TestDemo(t *testing.T) {
	const hash = "$2y$04$demodemodemodemodemodemodemodemodemodemodemodemodemod"
	c := Demo(hash)
	counts := []struct {
		name      string
		got, want int
	}{
		{"users", len(c.InternalUsers), 7},
		{"roles", len(c.Roles), 8 + 42},
		{"mappings", len(c.RolesMapping), 7},
		{"action groups", len(c.ActionGroups), 26},
		{"tenants", len(c.Tenants), 2},
	}
	for _, n := range counts {
		if n.got != n.want {
			t.Errorf("%s = %d, want %d", n.name, n.got, n.want)
		}
	}
	if u := c.InternalUsers["admin"]; u.Hash != hash || !u.Reserved || u.Description != "Demo admin user" {
		t.Errorf("admin = %+v", u)
	}
	if u := c.InternalUsers["kibanaro"]; u.Attributes["attribute2"] != "value2" {
		t.Errorf("kibanaro = %+v", u)
	}
	if string(c.NodesDN) != "{}" {
		t.Errorf("NodesDN = %s", c.NodesDN)
	}
	if want := `{"enabled":false,"requests":{"/_cat/nodes":["GET"],"/_cluster/settings":["GET"]}}`; string(c.Allowlist) != want {
		t.Errorf("Allowlist = %s, want %s", c.Allowlist, want)
	}
	if !json.Valid(c.Audit) || !json.Valid(c.SecurityConfig) {
		t.Errorf("invalid documents")
	}
	if c.RolesMapping["kibana_server"].Users[0] != "kibanaserver" || !c.RolesMapping["kibana_server"].Reserved {
		t.Errorf("kibana_server mapping = %+v", c.RolesMapping["kibana_server"])
	}
	if !c.Roles["all_access"].Static {
		t.Error("statics not added")
	}
}

// TestEmbeddedMatchesShared checks that the embedded copies equal the shared
// configuration they were copied from.
func TestEmbeddedMatchesShared(t *testing.T) {
	const shared = "../../shared/opensearch-config"
	for _, dir := range []string{"static", "demo"} {
		files, _ := filepath.Glob(filepath.Join(shared, dir, "*.yml"))
		if len(files) == 0 {
			t.Skipf("%s not available", shared)
		}
		for _, f := range files {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := configFS.ReadFile("config/" + dir + "/" + filepath.Base(f))
			if err != nil {
				t.Errorf("%s/%s not embedded: %v", dir, filepath.Base(f), err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("config/%s/%s differs from %s", dir, filepath.Base(f), f)
			}
		}
	}
}
