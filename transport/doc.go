// Package transport owns authzd's network plumbing below the HTTP API: the Raft
// network layer (a TCP stream layer with mutual TLS under raft.NetworkTransport)
// and the TLS material it runs on (loading a CA, certificate and key, and
// generating a development PKI). Its subpackages carry NATS: bus (embedded
// server, change stream, cache flush, ownership KV), bustest (the bus
// conformance suite) and pep (the client of an external enforcement point).
//
// It must not decide authorization: it authenticates cluster peers (a certificate
// signed by the cluster CA), renders certificate subjects with DN, and leaves every
// decision about who may do what to authz and node. node calls it to build the Raft
// transport and the TLS configurations of its HTTP server; cmd/authzd calls
// EnsureDevPKI for `authzd dev`; tests use Links to cut network links in process.
//
// Concurrency: a RaftTransport runs an accept goroutine and one short-lived
// handshake goroutine per inbound connection, all stopped by Close. Links and the
// stream layer each guard their state with one mutex; the two are never held
// together.
package transport
