// Package authz owns the OpenSearch Security configuration model (internal users,
// roles, role mappings, action groups, tenants), its validation with the plugin's
// error bodies, the built-in static configuration, the compiled Evaluator that
// answers authorization decisions, the ownership rules O1-O5 with their
// immutable OwnerIndex (ownership.go, ownerindex.go), and the dynamic cluster
// settings they read (clustersettings.go).
//
// It must not know about Raft, HTTP or NATS: fsm calls it to validate and compile
// state, node calls it to validate request bodies and to decide.
package authz
