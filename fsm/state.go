package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// Change records the event that last changed one resource, for explain traces
// and the audit trail.
type Change struct {
	Rev   uint64 `msgpack:"rev" json:"revision"`
	At    int64  `msgpack:"at" json:"at"` // Unix milliseconds, from the proposer
	Actor string `msgpack:"actor" json:"actor"`
	Type  string `msgpack:"type" json:"type"`
}

// View is one published state: the revision (the Raft index of the last applied
// entry), the configuration, its compiled evaluator and the change records. A
// View and everything reachable from it is immutable.
type View struct {
	Rev    uint64
	Config *authz.Config
	Eval   *authz.Evaluator
	// changes maps "<kind>/<name>" to the event that last changed it. It is a
	// persistent radix tree: a write copies O(log n) nodes instead of a map
	// of every resource, and iteration is in key order (deterministic).
	changes *iradix.Tree[Change]
	// History holds the latest applied changes (HistoryLimit), oldest first.
	History History
	// Initialized is false until the first configuration (bootstrap) is applied.
	Initialized bool
	// Members is the member directory (members.go), sorted by id; it is
	// immutable like the rest of the view.
	Members []events.Member
}

// changeKey is the key of Changes.
func changeKey(kind authz.Kind, name string) string { return string(kind) + "/" + name }

// Change returns the record of the event that last changed a resource. A
// View built without records (a literal, as tests build) has none.
func (v *View) Change(kind authz.Kind, name string) (Change, bool) {
	if v.changes == nil {
		return Change{}, false
	}
	return v.changes.Get([]byte(changeKey(kind, name)))
}

// Hash returns the hex SHA-256 of the configuration's deterministic encoding.
// It covers the configuration only (not the revision, change records or member
// directory), so a cluster restored from a backup has the hash of the cluster
// it came from.
func (v *View) Hash() string {
	b, err := encodeConfig(v.Config)
	if err != nil {
		// encodeConfig only fails on types msgpack cannot encode; the model has none.
		panic(fmt.Sprintf("fsm: encode config for hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
