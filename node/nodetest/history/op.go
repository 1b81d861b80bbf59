package history

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what an operation did. Extensions add their own kinds.
type Kind string

// The built-in operation kinds.
const (
	// WriteUnique is a PUT of a resource no other operation writes.
	WriteUnique Kind = "write-unique"
	// WriteRegister is a PUT of a register key with a unique value.
	WriteRegister Kind = "write-register"
	// ReadRegister is a GET of a register key at the workload's frontier.
	ReadRegister Kind = "read-register"
	// ReadSession is a GET with the session's own last revision.
	ReadSession Kind = "read-session"
	// ReadProbe is a GET without min_revision of a node under a fault; it
	// promises nothing about freshness, so no session check applies.
	ReadProbe Kind = "read-probe"
)

// IsWrite reports whether k changes state.
func (k Kind) IsWrite() bool { return k == WriteUnique || k == WriteRegister }

// Outcome classifies a response.
type Outcome string

// The outcomes of an operation.
const (
	// OK: acknowledged (writes) or answered (reads).
	OK Outcome = "ok"
	// Failed: surely not applied (writes) or not answered (reads).
	Failed Outcome = "failed"
	// Unknown: a write that may or may not have been applied.
	Unknown Outcome = "unknown"
)

// Op is one recorded operation. Start and End are monotonic times since the
// history began: Start is taken before the request is sent, End after the
// response was read.
type Op struct {
	Client int           `json:"client"`
	Seq    int           `json:"seq"`
	Kind   Kind          `json:"kind"`
	Node   int           `json:"node"`
	Key    string        `json:"key"`
	Value  string        `json:"value,omitempty"` // written, or read when Found
	MinRev uint64        `json:"min_rev,omitempty"`
	Start  time.Duration `json:"start"`
	End    time.Duration `json:"end"`

	Outcome Outcome `json:"outcome"`
	Status  int     `json:"status,omitempty"`
	// Rev is the X-Authz-Revision of the response: the write's Raft index, or
	// the revision a read was served at.
	Rev uint64 `json:"rev,omitempty"`
	// Found is true when a read answered 200, false for 404.
	Found bool `json:"found,omitempty"`
	// Own marks a session read of the session's own acknowledged write.
	Own bool `json:"own,omitempty"`
	// Created is true when a write answered 201.
	Created bool `json:"created,omitempty"`
	// OwnersSeq is the X-Authz-Owners-Seq of an acknowledged ownership
	// registration (the KV sequence of the record), kept apart from Rev.
	OwnersSeq uint64 `json:"owners_seq,omitempty"`
	// TimedOut is true when the client gave up waiting (an Unknown or Failed op).
	TimedOut bool `json:"timed_out,omitempty"`
	// Unexpected marks a response the workload has no reason to get (a 4xx to
	// a valid request, a 2xx without a revision).
	Unexpected bool   `json:"unexpected,omitempty"`
	Err        string `json:"err,omitempty"`
}

// recorder collects operations from concurrent clients and tracks the
// frontier: the highest revision any completed operation observed.
type recorder struct {
	base     time.Time
	frontier atomic.Uint64
	done     atomic.Int64 // operations of the workload's clients that completed

	mu  sync.Mutex
	ops []Op
}

func newRecorder() *recorder { return &recorder{base: time.Now()} }

// now is the monotonic time since the history began.
func (r *recorder) now() time.Duration { return time.Since(r.base) }

// observe raises the frontier to rev. It must run before the operation's End
// is taken, so that an operation starting after that End sees rev.
func (r *recorder) observe(rev uint64) {
	for {
		cur := r.frontier.Load()
		if rev <= cur || r.frontier.CompareAndSwap(cur, rev) {
			return
		}
	}
}

func (r *recorder) add(op Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// snapshot returns the operations so far, ordered by start time.
func (r *recorder) snapshot() []Op {
	r.mu.Lock()
	ops := slices.Clone(r.ops)
	r.mu.Unlock()
	slices.SortStableFunc(ops, func(a, b Op) int { return cmp.Compare(a.Start, b.Start) })
	return ops
}
