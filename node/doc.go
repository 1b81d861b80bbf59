// Package node wires one authzd node together: the Raft log (hashicorp/raft with
// raft-boltdb v2 and a file snapshot store) over the mutual-TLS transport, the FSM,
// the HTTPS server with the REST API, leader forwarding of writes, and NATS
// (transport/bus): the embedded server or an external cluster, the change stream
// publisher fed from the FSM's OnApply, cluster-wide credential cache flushes, and
// the ownership index fed by a KV watch (docs/nats.md).
//
// A Node is built with New (which binds its listeners and starts nothing), started
// with Start, and stopped with Close: HTTP drained first, then NATS (the bus
// goroutine, which owns the publisher, the flush subscription and the ownership
// watch, is stopped, the connection drained, the embedded server shut down), then
// Raft shut down; each step is bounded. It holds no business rules: those live in
// authz and fsm.
package node
