package authz

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func replaced(t *testing.T, prev *Config, docs map[string][]byte) *Config {
	t.Helper()
	next, e := Replace(prev, docs)
	if e != nil {
		t.Fatalf("replace: %s", e)
	}
	return next
}

// TestReplaceRoundTrip: Replace(c, c.Docs(nil)) is c, and the diff is empty.
func TestReplaceRoundTrip(t *testing.T) {
	c := replaced(t, NewConfig(), demoConfig(t).Docs(nil))
	again := replaced(t, NewConfig(), c.Docs(nil))
	if d := Diff(c, again); len(d) != 0 {
		t.Fatalf("diff after round trip: %v", d)
	}
	if d := cmp.Diff(c.Docs(nil), again.Docs(nil)); d != "" {
		t.Fatalf("docs differ:\n%s", d)
	}
	if _, ok := c.Roles["all_access"]; !ok {
		t.Errorf("statics not merged")
	}
	if _, ok := c.Docs(nil)["roles"]; !ok || strings.Contains(string(c.Docs(nil)["roles"]), `"all_access"`) {
		t.Errorf("statics exported")
	}
}

func TestReplaceAndDiff(t *testing.T) {
	base := replaced(t, NewConfig(), demoConfig(t).Docs(nil))
	docs := map[string][]byte{
		"tenants":      []byte(`{"admin_tenant":{"description":"changed"},"hr":{"description":"HR"}}`),
		"actiongroups": []byte(`{}`),
		"config":       []byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`),
	}
	next := replaced(t, base, docs)
	got := Diff(base, next)
	want := []Change{
		{"tenants", "admin_tenant", "changed"},
		{"tenants", "hr", "added"},
		{"config", "config", "changed"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diff (-want +got):\n%s", d)
	}
	if len(next.InternalUsers) != len(base.InternalUsers) {
		t.Errorf("absent type changed")
	}
	if _, ok := next.Tenants["global_tenant"]; !ok {
		t.Errorf("static tenant dropped")
	}
}

func TestReplaceRefuses(t *testing.T) {
	tests := []struct {
		name string
		docs map[string][]byte
		want string
	}{
		{"unknown type", map[string][]byte{"whitelist": []byte(`{}`)}, "unknown configuration type 'whitelist'"},
		{"unknown field", map[string][]byte{"roles": []byte(`{"r":{"colour":"red"}}`)}, `unknown field \"colour\"`},
		{"bad masked field", map[string][]byte{"roles": []byte(`{"r":{"index_permissions":[{"index_patterns":["*"],"masked_fields":["a::b::c::d"]}]}}`)}, "Masked field not valid"},
		{"bad config", map[string][]byte{"config": []byte(`{"dynamic":{"x":1}}`)}, "dynamic.x"},
		{"bad audit", map[string][]byte{"audit": []byte(`{"audit":{"disabled_rest_categories":["NOPE"]}}`)}, "unknown audit category: NOPE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := Replace(NewConfig(), tc.docs)
			if e == nil || e.Status != 400 || !strings.Contains(string(e.Body), tc.want) {
				t.Errorf("got %v, want 400 containing %q", e, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := NewConfig()
	c.Roles["r"] = Role{ClusterPermissions: []string{"raed", "/(unclosed/"}}
	c.RolesMapping["ghost"] = RoleMapping{Users: []string{"x"}}
	c.InternalUsers["a:b"] = InternalUser{Hash: "plain", SecurityRoles: []string{"nope"}}
	c.ActionGroups["g"] = ActionGroup{AllowedActions: []string{"g"}, Type: "weird"}
	c.AddStatics()
	c.Normalize()
	var got []string
	for _, p := range c.Check() {
		got = append(got, p.String())
	}
	want := []string{
		"warning: actiongroups 'g': g cannot be an allowed_action of itself",
		"error: actiongroups 'g': invalid action group type: weird (cluster, index, kibana or all)",
		"warning: internalusers 'a:b': hash is not a bcrypt hash ($2a$, $2b$ or $2y$): the user cannot log in",
		"warning: internalusers 'a:b': opendistro_security_roles: role 'nope' not found",
		"warning: internalusers 'a:b': the name contains ':', which the REST API refuses",
		"warning: roles 'r': cluster_permissions: 'raed' is neither an action group nor an action pattern, it grants nothing",
		"warning: roles 'r': cluster_permissions: pattern /(unclosed/ does not compile, it matches nothing: error parsing regexp: missing closing ): `^(?:(unclosed)$`",
		"warning: rolesmapping 'ghost': role 'ghost' not found: the mapping grants nothing",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	var body struct {
		Problems []Problem `json:"problems"`
	}
	if err := json.Unmarshal(ProblemsError(Errors(c.Check())).Body, &body); err != nil || len(body.Problems) != 1 {
		t.Errorf("ProblemsError: %v %+v", err, body)
	}
}

// BenchmarkReplace measures what an apply of the shared benchmark
// directories costs each node: decoding the documents, checking and
// normalizing (Replace), and comparing with the previous state (Diff).
func BenchmarkReplace(b *testing.B) {
	for _, size := range []string{"medium", "large"} {
		dir := "../../shared/bench/" + size
		if _, err := os.Stat(dir); err != nil {
			b.Logf("skip %s: %v", size, err)
			continue
		}
		src, err := LoadDirs(dir)
		if err != nil {
			b.Fatal(err)
		}
		docs := src.Docs()
		prev, e := Replace(NewConfig(), docs)
		if e != nil {
			b.Fatal(e)
		}
		b.Run(size+"/replace", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, e := Replace(prev, docs); e != nil {
					b.Fatal(e)
				}
			}
		})
		next, _ := Replace(prev, docs)
		b.Run(size+"/diff", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Diff(prev, next)
			}
		})
		b.Run(size+"/load", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := LoadDirs(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
