package authz

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// privilegesConfig is the configuration of the EffectivePrivileges and
// WhoCan tables.
func privilegesConfig(t *testing.T, resolution string) *Evaluator {
	t.Helper()
	cfg := NewConfig()
	cfg.ActionGroups = Statics().ActionGroups // the static groups, not the static roles
	cfg.Roles["reader"] = Role{
		ClusterPermissions: []string{"cluster_composite_ops_ro"},
		IndexPermissions:   []IndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"read"}, DLS: `{"term":{"owner":"${user.name}"}}`}},
	}
	cfg.Roles["writer"] = Role{IndexPermissions: []IndexPermission{
		{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/write/index"}, FLS: []string{"~secret"}},
		{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/write/delete"}, FLS: []string{"~secret"}},
	}}
	cfg.Roles["own"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"home-${user.name}"}, AllowedActions: []string{"indices:data/read/search"}}}}
	cfg.Roles["admin"] = Role{ClusterPermissions: []string{"*"}, TenantPermissions: []TenantPermission{{TenantPatterns: []string{"hr"}, AllowedActions: []string{"kibana_all_write"}}}}
	cfg.Roles["auditor"] = Role{IndexPermissions: []IndexPermission{{IndexPatterns: []string{"audit-*", "logs-*"}, AllowedActions: []string{"indices:data/read/search"}, MaskedFields: []string{"ip"}}}}
	cfg.RolesMapping["reader"] = RoleMapping{BackendRoles: []string{"analyst"}, Users: []string{"ann", "team-*"}}
	cfg.RolesMapping["writer"] = RoleMapping{Users: []string{"bob"}, AndBackendRoles: []string{"ops", "dev*"}}
	cfg.RolesMapping["own"] = RoleMapping{Users: []string{"*"}}
	cfg.RolesMapping["admin"] = RoleMapping{Hosts: []string{"10.0.0.1"}, BackendRoles: []string{"/adm.*/"}}
	cfg.InternalUsers["carl"] = InternalUser{SecurityRoles: []string{"auditor"}}
	cfg.Tenants["hr"] = Tenant{}
	e, err := Compile(cfg, Settings{RolesMappingResolution: resolution})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEffectivePrivileges(t *testing.T) {
	e := privilegesConfig(t, "")
	read := e.actionLeaves(e.tab.actionSet(e.groups, []string{"read"}))
	composite := e.actionLeaves(e.tab.actionSet(e.groups, []string{"cluster_composite_ops_ro"}))
	tests := []struct {
		name    string
		subject Subject
		want    Privileges
	}{
		{"R-PAT-5 template and DLS rendered, groups expanded", Subject{Name: "ann"}, Privileges{
			Roles:   []string{"own", "reader"},
			Cluster: composite,
			Index: []IndexPrivilege{
				{IndexPatterns: []string{"home-ann"}, AllowedActions: []string{"indices:data/read/search"}, FLS: []string{}, MaskedFields: []string{}},
				{IndexPatterns: []string{"logs-*"}, AllowedActions: read, DLS: `{"term":{"owner":"ann"}}`, FLS: []string{}, MaskedFields: []string{}},
			},
			Tenants: map[string]bool{"ann": true},
		}},
		{"entries with the same patterns and restrictions merge", Subject{Name: "bob"}, Privileges{
			Roles:   []string{"own", "writer"},
			Cluster: []string{},
			Index: []IndexPrivilege{
				{IndexPatterns: []string{"home-bob"}, AllowedActions: []string{"indices:data/read/search"}, FLS: []string{}, MaskedFields: []string{}},
				{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/write/delete", "indices:data/write/index"}, FLS: []string{"~secret"}, MaskedFields: []string{}},
			},
			Tenants: map[string]bool{"bob": true},
		}},
		{"R-TEN-4 tenants and a direct role", Subject{Name: "carl", SecurityRoles: []string{"auditor"}, RemoteIP: "10.0.0.1"}, Privileges{
			Roles:   []string{"admin", "auditor", "own"},
			Cluster: []string{"*"},
			Index: []IndexPrivilege{
				{IndexPatterns: []string{"audit-*", "logs-*"}, AllowedActions: []string{"indices:data/read/search"}, FLS: []string{}, MaskedFields: []string{"ip"}},
				{IndexPatterns: []string{"home-carl"}, AllowedActions: []string{"indices:data/read/search"}, FLS: []string{}, MaskedFields: []string{}},
			},
			Tenants: map[string]bool{"carl": true, "hr": true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.EffectivePrivileges(&tc.subject)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("EffectivePrivileges (-want +got):\n%s", diff)
			}
		})
	}
	b, err := json.Marshal(e.EffectivePrivileges(&Subject{Name: "nobody"}))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"roles":["own"],"cluster":[],"index":[{"index_patterns":["home-nobody"],"allowed_actions":["indices:data/read/search"],"fls":[],"masked_fields":[]}],"tenants":{"nobody":true}}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
}

func TestWhoCan(t *testing.T) {
	mapping, both := privilegesConfig(t, ""), privilegesConfig(t, "BOTH")
	empty := []string{}
	tests := []struct {
		name   string
		e      *Evaluator
		action string
		index  string
		want   WhoCanResult
	}{
		{"R-EVAL-7 index action", mapping, "indices:data/read/search", "logs-1", WhoCanResult{
			Action: "indices:data/read/search", Index: "logs-1",
			Roles: []string{"auditor", "reader"}, TemplatedRoles: []string{"own"},
			Users: []string{"ann", "carl"}, BackendRoles: []string{"analyst"}, Hosts: empty,
			UserPatterns: []string{"*", "team-*"}, BackendRolePatterns: empty, HostPatterns: empty, AndBackendRoles: [][]string{},
		}},
		{"R-EVAL-7 and_backend_roles", mapping, "indices:data/write/index", "logs-1", WhoCanResult{
			Action: "indices:data/write/index", Index: "logs-1",
			Roles: []string{"writer"}, TemplatedRoles: empty,
			Users: []string{"bob"}, BackendRoles: empty, Hosts: empty,
			UserPatterns: empty, BackendRolePatterns: empty, HostPatterns: empty, AndBackendRoles: [][]string{{"ops", "dev*"}},
		}},
		{"empty index means any index", mapping, "indices:data/read/search", "", WhoCanResult{
			Action: "indices:data/read/search",
			Roles:  []string{"auditor", "own", "reader"}, TemplatedRoles: empty,
			Users: []string{"ann", "carl"}, BackendRoles: []string{"analyst"}, Hosts: empty,
			UserPatterns: []string{"*", "team-*"}, BackendRolePatterns: empty, HostPatterns: empty, AndBackendRoles: [][]string{},
		}},
		{"R-EVAL-5 cluster action", mapping, "cluster:monitor/health", "", WhoCanResult{
			Action: "cluster:monitor/health", Cluster: true,
			Roles: []string{"admin"}, TemplatedRoles: empty,
			Users: empty, BackendRoles: empty, Hosts: []string{"10.0.0.1"},
			UserPatterns: empty, BackendRolePatterns: []string{"/adm.*/"}, HostPatterns: empty, AndBackendRoles: [][]string{},
		}},
		{"R-EVAL-12 explicit only", mapping, "restapi:admin/roles", "", WhoCanResult{
			Action: "restapi:admin/roles", Cluster: true,
			Roles: empty, TemplatedRoles: empty, Users: empty, BackendRoles: empty, Hosts: empty,
			UserPatterns: empty, BackendRolePatterns: empty, HostPatterns: empty, AndBackendRoles: [][]string{},
		}},
		{"R-MAP-3 BOTH adds role names as backend roles", both, "cluster:monitor/health", "", WhoCanResult{
			Action: "cluster:monitor/health", Cluster: true,
			Roles: []string{"admin"}, TemplatedRoles: empty,
			Users: empty, BackendRoles: []string{"admin"}, Hosts: []string{"10.0.0.1"},
			UserPatterns: empty, BackendRolePatterns: []string{"/adm.*/"}, HostPatterns: empty, AndBackendRoles: [][]string{},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.e.WhoCan(tc.action, tc.index)); diff != "" {
				t.Errorf("WhoCan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWhoCanAgreesWithDecisions checks WhoCan's roles against decisions
// over random configurations: a subject is granted an index action on one
// index by its index permissions exactly when one of its mapped roles is in
// Roles, or in TemplatedRoles and the template matches for it; a cluster
// action when one of its roles is in Roles.
func TestWhoCanAgreesWithDecisions(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	for i := range 100 {
		c := g.config()
		e, err := Compile(c.cfg, c.s)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 30 {
			req := g.request()
			if req.Action == "" {
				continue
			}
			req.IndexParents, req.AdminCert = nil, false
			idx := g.pick(genIndices)
			w := e.WhoCan(req.Action, idx)
			roles := e.MappedRoles(&req.Subject)
			inRoles := slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(w.Roles, r) })
			inTemplated := slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(w.TemplatedRoles, r) })
			var got bool
			if w.Cluster {
				got = e.HasClusterPrivilege(&req.Subject, w.Action)
			} else {
				req.Indices = []string{idx}
				got = e.HasIndexPrivilege(&req)
			}
			if inRoles && !got || got && !inRoles && !inTemplated {
				t.Fatalf("seed %d config %d request %d: WhoCan(%q, %q) = %+v but subject %+v with roles %q is granted = %v",
					seed, i, j, req.Action, idx, w, req.Subject, roles, got)
			}
		}
	}
}
