// Package fsm is authzd's raft.FSM: it decodes each committed event, validates it
// against the configuration it lands on, and publishes the next immutable state
// together with its compiled authz.Evaluator through one atomic pointer.
//
// Apply is deterministic: it reads only the current state and the event (no clock,
// no randomness, no network, no map-order effects), so every node at the same
// revision holds an identical configuration and StateHash. A rejected event leaves
// the state unchanged and returns the same *authz.Error on every node.
//
// It also owns the backup file format (backup.go): the snapshot encoding framed
// with a checksum, checked fully by ReadBackup before a user restore, and
// re-encoded at the revision it is restored at (the state hash covers the
// configuration only, so it is kept).
//
// Called by hashicorp/raft (Apply, Snapshot, Restore on raft's FSM goroutine) and
// read by node from any goroutine through View, which never locks.
package fsm
