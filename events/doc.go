// Package events defines the configuration events that authzd appends to its Raft
// log: the versioned msgpack envelope {v, type, actor, at, request_id, payload} and
// one payload type per kind of change.
//
// Everything non-deterministic (bcrypt hashes, the timestamp, the actor, the request
// id, whether the caller is an admin) is fixed by the proposer and stored in the
// event, so that every node applies it identically. The package imports nothing of
// authzd; fsm decodes and applies events, node builds them.
package events
