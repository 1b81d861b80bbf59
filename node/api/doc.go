// Package api is the HTTP face of one authzd node: the OpenSearch Security REST
// API (/_plugins/_security/... and the legacy /_opendistro/_security/...),
// authentication, read-your-writes waits, and the internal endpoint through which
// followers forward writes to the leader.
//
// It holds no business rules: request bodies are validated by authz, changes are
// turned into events and handed to a Proposer, and decisions come from the
// authz.Evaluator of the current fsm.View. Errors become responses in exactly one
// place (errors.go).
package api
