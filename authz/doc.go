// Package authz owns the OpenSearch Security configuration model (internal
// users, roles, role mappings, action groups, tenants), its validation with
// the plugin's error bodies, the built-in static configuration, the compiled
// Evaluator that answers authorization decisions with the plugin's semantics
// (spec/opensearch-security.md, rules R-…), the ownership rules O1-O5 with
// their immutable OwnerIndex (ownership.go, ownerindex.go), and the dynamic
// cluster settings they read (clustersettings.go).
//
// It must not know about Raft, HTTP or NATS: fsm calls it to validate and
// compile state, node calls it to validate request bodies and to decide,
// and outside programs (a policy enforcement point, a comparison harness,
// package workload) use it directly.
//
// # Deciding from a directory of OpenSearch YAML
//
// Load the files securityadmin would apply, add the plugin's static action
// groups, roles and tenants (R-MOD-7), compile, and ask:
//
//	cfg, err := authz.LoadDir(os.DirFS("/etc/opensearch/opensearch-security"))
//	if err != nil { ... }
//	cfg.AddStatics()
//	e, err := authz.Compile(cfg, authz.Settings{}) // or ParseSettings(opensearch.yml keys)
//	if err != nil { ... }
//	d := e.Evaluate(&authz.Request{
//		Subject: authz.Subject{Name: "alice", BackendRoles: []string{"analyst"}},
//		Action:  "indices:data/read/search",
//		Indices: []string{"logs-2025.01.01"}, // concrete names, resolved by the caller
//	})
//	// d.Allowed, d.Reason (the 403 text), d.EffectiveIndices (dnfof), d.Indices (DLS/FLS)
//
// InternalSubject builds the subject of an internal user. MappedRoles,
// Tenants, EffectivePrivileges, WhoCan, HasIndexPrivilege and
// HasClusterPrivilege answer the other questions of the REST API.
//
// # Concurrency and cost
//
// An Evaluator is immutable once built and safe for any number of
// goroutines; publish a new one with an atomic pointer swap. Decisions take
// no lock. Evaluate allocates its result and fills every field;
// EvaluateInto reuses a caller's Decision, allocates nothing for ordinary
// allowed and denied requests, and leaves to the Decision's methods what
// only some callers need: RoleNames (the mapped roles), ReasonText and
// AppendReason (the 403 text), IndexDetails (per-index outcome of a
// denial). The first decision on a new action string fills an entry of the
// Evaluator's bounded action memo.
//
// Compile does the expensive work once per configuration: action groups
// are flattened, permissions interned, and every exact role-mapping key
// (user name, backend role, host) gets the precomputed grant of the roles
// it maps to, so a decision costs the same for one mapped role or a
// thousand. Update applies the change of a few entities to a previous
// Evaluator in a fraction of a compile and leaves the previous one intact.
package authz
