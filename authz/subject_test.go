package authz

import (
	"slices"
	"strconv"
	"testing"
)

func TestJavaHashSetOrder(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"empty", nil, nil},
		{"one", []string{"dev"}, []string{"dev"}},
		{"dev ops", []string{"dev", "ops"}, []string{"ops", "dev"}},
		{"ops dev", []string{"ops", "dev"}, []string{"ops", "dev"}},
		{"hr r_direct", []string{"hr", "r_direct"}, []string{"r_direct", "hr"}},
		{"duplicates", []string{"dev", "ops", "dev"}, []string{"ops", "dev"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := javaHashSetOrder(tc.in, nil)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("javaHashSetOrder(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestJavaHashSetOrderResize pins the order after a resize: with 13 entries
// the table has 32 buckets, so bucket = hash & 31.
func TestJavaHashSetOrderResize(t *testing.T) {
	var in []string
	for c := 'a'; c <= 'm'; c++ {
		in = append(in, string(c)+"x")
	}
	got := javaHashSetOrder(in, nil)
	prev := -1
	for _, s := range got {
		b := javaBucket(s, 32)
		if b < prev {
			t.Fatalf("order %q not sorted by 32-bucket index", got)
		}
		prev = b
	}
	if len(got) != 13 {
		t.Fatalf("len = %d", len(got))
	}
}

func TestJavaStringHash(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"", 0},
		{"a", 97},
		{"admin_tenant", -152937574},
		{"hello", 99162322},
		{"human_resources", 1592542611},
		{"é", 233},
		{"😀", 1772899},
	}
	for _, tc := range tests {
		if got := javaStringHash(tc.in); got != tc.want {
			t.Errorf("javaStringHash(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestUserString(t *testing.T) {
	s := &Subject{Name: "test-user", BackendRoles: []string{"dev", "ops"}}
	want := "User [name=test-user, backend_roles=[ops, dev], requestedTenant=null]"
	if got := UserString(s); got != want {
		t.Fatalf("UserString = %q, want %q", got, want)
	}
	s = &Subject{Name: "x", RequestedTenant: "__user__"}
	want = "User [name=x, backend_roles=[], requestedTenant=__user__]"
	if got := UserString(s); got != want {
		t.Fatalf("UserString = %q, want %q", got, want)
	}
}

func TestMappedRoles(t *testing.T) {
	cfg := NewConfig()
	cfg.Roles["r_user"] = Role{}
	cfg.Roles["r_br"] = Role{}
	cfg.RolesMapping["r_user"] = RoleMapping{Users: []string{"alice", "dev_*"}}
	cfg.RolesMapping["r_br"] = RoleMapping{BackendRoles: []string{"/team-[0-9]+/"}}
	cfg.RolesMapping["r_host"] = RoleMapping{Hosts: []string{"10.0.0.*"}}
	cfg.RolesMapping["r_and"] = RoleMapping{AndBackendRoles: []string{"ops", "on*"}}
	tests := []struct {
		name string
		mode string
		s    Subject
		want []string
	}{
		{"user exact", "", Subject{Name: "alice"}, []string{"r_user"}},
		{"user glob", "", Subject{Name: "dev_joe"}, []string{"r_user"}},
		{"backend regex", "", Subject{Name: "x", BackendRoles: []string{"team-12"}}, []string{"r_br"}},
		{"host", "", Subject{Name: "x", RemoteIP: "10.0.0.5"}, []string{"r_host"}},
		{"and partial", "", Subject{Name: "x", BackendRoles: []string{"ops"}}, []string{}},
		{"and full", "", Subject{Name: "x", BackendRoles: []string{"oncall", "ops"}}, []string{"r_and"}},
		{"direct", "", Subject{Name: "x", SecurityRoles: []string{"zz", "aa"}}, []string{"aa", "zz"}},
		{"backendroles only", "backendroles_only", Subject{Name: "alice", BackendRoles: []string{"team-1", "r_user"}}, []string{"r_user", "team-1"}},
		{"both", "Both", Subject{Name: "alice", BackendRoles: []string{"team-1"}}, []string{"r_br", "r_user", "team-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(cfg, Settings{RolesMappingResolution: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.MappedRoles(&tc.s); !slices.Equal(got, tc.want) {
				t.Fatalf("MappedRoles = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTenantIndexName(t *testing.T) {
	if got, want := TenantIndexName(".kibana", "admin_tenant"), ".kibana_-152937574_admintenant"; got != want {
		t.Fatalf("TenantIndexName = %q, want %q", got, want)
	}
	if got, want := TenantIndexName(".kibana", "Human Resources!"), ".kibana_"+strconv.Itoa(int(javaStringHash("Human Resources!")))+"_humanresources"; got != want {
		t.Fatalf("TenantIndexName = %q, want %q", got, want)
	}
}
