// Package authz owns the OpenSearch Security configuration model (internal users,
// roles, role mappings, action groups, tenants), its validation with the plugin's
// error bodies, the built-in static configuration, and the compiled Evaluator that
// answers authorization decisions.
//
// It must not know about Raft, HTTP or NATS: fsm calls it to validate and compile
// state, node calls it to validate request bodies and to decide.
package authz
