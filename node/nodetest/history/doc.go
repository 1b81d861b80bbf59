// Package history runs a seeded workload against an authzd cluster while a
// nemesis injects faults, records every operation, and checks the record: no
// acknowledged write is lost, sessions never go back in time, and the register
// keys are linearizable (porcupine). Run drives one scenario and returns a
// Report; Check is the checker alone, for recorded histories.
//
// # Where it lives and who calls it
//
// The package is a test helper of the node layer, like node/nodetest beside it,
// and is imported only by tests. It talks to a cluster through two small
// interfaces it declares, Cluster (HTTPS requests to node i as the admin user)
// and Nemesis (cut, stop, start a node), and through the public HTTP API only,
// so the same scenarios run against in-process nodes (nodetest.Cluster.Faults,
// the node package's tests) and against containers (test/e2e, build tag e2e),
// as STYLE.md §10 asks. It imports nothing of ours: test/e2e uses it without
// linking in-process nodes, and nodetest adapts to it, not the reverse. It is a
// package of its own rather than part of nodetest because it has two callers
// and one job (record and judge histories), which nodetest (start nodes) is not.
//
// # What the workload does
//
// Config.Clients sessions run concurrently, each a sequential client with its
// own seeded random source, picking a node per operation:
//   - unique writes: PUT tenants/u-<client>-<seq>, never deleted; every
//     acknowledged one must be on every node at the end, and none answered
//     "surely not applied" may be;
//   - register writes and reads on reg-0..reg-K (the value is a description
//     unique to the write), checked for linearizability;
//   - session reads with min_revision = the highest revision the session has
//     seen, of the session's own last acknowledged unique write when it has one:
//     revisions never go below the one asked nor below one seen before, and a
//     session reads its own writes;
//   - with the Ownership extension, registrations of new ownership records:
//     every acknowledged one must be listed by every node at the end.
//
// Reads are served from the local node, so a bare read is only as fresh as the
// node it hits, which is the documented consistency model, not a linearizable
// register. Register reads therefore pass as min_revision the highest revision
// any completed operation has observed (the workload is one process and can track
// it): every write acknowledged before the read began has a lower revision, so
// a correct cluster is linearizable under this discipline, and porcupine then
// checks what the server does promise: the state at revision N is exactly the
// log up to N, min_revision is honoured, and acknowledged writes stay.
//
// # Outcomes
//
// A response is acknowledged (2xx), a definite failure (503 "No leader is
// available"; 500 "Security index not initialized" from a node that has not
// replayed its log yet; a connection that could not be made; another
// refusal), or of unknown outcome (503 "The leader changed ...", other 5xx,
// 504, connections cut, client timeouts). Unknown writes get
// an infinite return time in the linearizability check, as porcupine
// recommends; those whose value no read ever returned are dropped first, which
// changes nothing (they can always be linearized last) and keeps the search
// small. Definite failures are dropped from the check, and a definite failure
// that shows up in the final state is reported as a phantom.
//
// # Goroutines
//
// Run starts the workload clients and owns them: it stops and waits for them
// before it returns, also when a nemesis call or a wait fails. Check starts the
// porcupine checker's goroutines and waits for them.
package history
