package authz_test

import (
	"fmt"
	"log"
	"os"

	"github.com/authzd/authzd/authz"
)

// Example loads a directory of OpenSearch Security YAML, compiles it and
// decides three requests.
func Example() {
	cfg, err := authz.LoadDir(os.DirFS("testdata/example"))
	if err != nil {
		log.Fatal(err)
	}
	cfg.AddStatics()
	e, err := authz.Compile(cfg, authz.Settings{})
	if err != nil {
		log.Fatal(err)
	}
	alice := authz.InternalSubject("alice", cfg.InternalUsers["alice"])
	for _, req := range []authz.Request{
		{Subject: alice, Action: "indices:data/read/search", Indices: []string{"logs-1"}},
		// do_not_fail_on_forbidden (config.yml) reduces a read to the allowed indices.
		{Subject: alice, Action: "indices:data/read/search", Indices: []string{"logs-1", "secrets"}},
		{Subject: alice, Action: "indices:data/write/index", Indices: []string{"logs-1"}},
	} {
		d := e.Evaluate(&req)
		fmt.Println(d.Allowed, d.Roles, d.EffectiveIndices, d.Indices["logs-1"].DLS)
		if !d.Allowed {
			fmt.Println(d.Reason)
		}
	}
	// Output:
	// true [logs_reader] [] [{"term": {"team": "blue"}}]
	// true [logs_reader] [logs-1] [{"term": {"team": "blue"}}]
	// false [logs_reader] [] []
	// no permissions for [indices:data/write/index] and User [name=alice, backend_roles=[analyst], requestedTenant=null]
}

// ExampleEvaluator_EvaluateInto decides with a reused Decision, which
// allocates nothing, and renders the roles and the 403 text only when they
// are needed.
func ExampleEvaluator_EvaluateInto() {
	cfg := authz.NewConfig()
	cfg.Roles["monitor"] = authz.Role{ClusterPermissions: []string{"cluster:monitor/*"}}
	cfg.RolesMapping["monitor"] = authz.RoleMapping{BackendRoles: []string{"ops"}}
	e, err := authz.Compile(cfg, authz.Settings{})
	if err != nil {
		log.Fatal(err)
	}
	var d authz.Decision
	for _, action := range []string{"cluster:monitor/health", "cluster:admin/settings/update"} {
		e.EvaluateInto(&authz.Request{Subject: authz.Subject{Name: "bob", BackendRoles: []string{"ops"}}, Action: action}, &d)
		fmt.Println(action, d.Allowed, d.RoleNames())
		if !d.Allowed {
			fmt.Println(d.ReasonText())
		}
	}
	// Output:
	// cluster:monitor/health true [monitor]
	// cluster:admin/settings/update false [monitor]
	// no permissions for [cluster:admin/settings/update] and User [name=bob, backend_roles=[ops], requestedTenant=null]
}

// ExampleUpdate applies a changed role to a compiled Evaluator.
func ExampleUpdate() {
	cfg := authz.NewConfig()
	cfg.Roles["reader"] = authz.Role{IndexPermissions: []authz.IndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/read/*"}}}}
	cfg.RolesMapping["reader"] = authz.RoleMapping{Users: []string{"ann"}}
	prev, err := authz.Compile(cfg, authz.Settings{})
	if err != nil {
		log.Fatal(err)
	}
	next := cfg.Clone() // published configurations are never changed in place
	next.Roles["reader"] = authz.Role{IndexPermissions: []authz.IndexPermission{{IndexPatterns: []string{"metrics-*"}, AllowedActions: []string{"indices:data/read/*"}}}}
	e, err := authz.Update(prev, next, authz.Settings{}, []authz.Ref{{Kind: authz.KindRoles, Name: "reader"}})
	if err != nil {
		log.Fatal(err)
	}
	req := authz.Request{Subject: authz.Subject{Name: "ann"}, Action: "indices:data/read/search", Indices: []string{"logs-1"}}
	fmt.Println(prev.Evaluate(&req).Allowed, e.Evaluate(&req).Allowed)
	// Output: true false
}
