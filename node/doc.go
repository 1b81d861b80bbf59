// Package node wires one authzd node together: the Raft log (hashicorp/raft with
// raft-boltdb v2 and a file snapshot store) over the mutual-TLS transport, the FSM,
// the HTTPS server with the REST API, and leader forwarding of writes.
//
// A Node is built with New (which binds its listeners and starts nothing), started
// with Start, and stopped with Close (HTTP drained first, then Raft shut down).
// It holds no business rules: those live in authz and fsm.
package node
