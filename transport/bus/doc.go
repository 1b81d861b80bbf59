// Package bus is authzd's NATS layer: the embedded nats-server (JetStream,
// clustered by routes with mutual TLS from the cluster CA) and the client
// side every node uses, whether the servers are embedded or an external
// cluster (--nats-url):
//
//   - the change stream AUTHZ_CHANGES (subjects authz.changes.<type>): every
//     node publishes each change it applies with Nats-Msg-Id = revision, so
//     subscribers see each revision once, in order (Publisher, PublishChanges,
//     Changes);
//   - cache flush broadcasts on authz.cache.flush (PublishFlush, SubscribeFlush);
//   - the ownership KV bucket authz_owners (CreateOwner, GetOwner,
//     DeleteOwner, WatchOwners), whose writes return after the replicas
//     acknowledged them.
//
// It moves bytes and records; it must not decide authorization (that is
// authz) nor know the node (node wires it). All access goes through nats.go
// and its jetstream package. Called by node, by transport/pep (external
// PEPs) and by authzctl's event follower; transport/bustest is its
// conformance suite.
//
// Concurrency: a Bus is safe for concurrent use; nats.go runs its own
// goroutines from Connect until Close. A Publisher's Run is one goroutine
// owned by the caller and stopped by its context. Server runs nats-server's
// goroutines from Start until Close. Each type guards its fields with one
// mutex; none is held while calling another.
package bus
