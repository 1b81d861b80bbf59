package fsm

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	iradix "github.com/hashicorp/go-immutable-radix/v2"
	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// Result is what Apply returns to the proposer through raft's ApplyFuture.Response.
type Result struct {
	// Rev is the revision of the applied entry (its Raft index), also for rejections.
	Rev uint64
	// Err is the refusal in the plugin's shape; nil when the event was applied.
	Err *authz.Error
	// Created is true when a put created a resource that did not exist.
	Created bool
	// Unchanged is true when a patch or bootstrap changed nothing.
	Unchanged bool
	// Keys are the "<kind>/<name>" of every resource the event added,
	// changed or removed, sorted; nil for rejections and no-ops. The change
	// stream and the credential cache use them.
	Keys []string `msgpack:",omitempty"`
}

// Config configures a Machine.
type Config struct {
	// Settings are the node settings that change decisions, passed to authz.Compile.
	Settings authz.Settings
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// OnApply, if set, is called on raft's FSM goroutine for every applied entry,
	// in log order, after the view containing it is published: v.Rev may be
	// later than res.Rev when raft applied a batch. For Restore it is called
	// once with a zero envelope. It must not block.
	OnApply func(v *View, env events.Envelope, res Result)
}

// Machine implements raft.FSM over the security configuration.
type Machine struct {
	cfg     Config
	log     *slog.Logger
	cur     atomic.Pointer[View]
	waiters waiters
}

// New returns a Machine holding an empty, uninitialized configuration.
func New(cfg Config) (*Machine, error) {
	m := &Machine{cfg: cfg, log: cfg.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	c := authz.NewConfig()
	ev, err := authz.Compile(c, cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("compile empty config: %w", err)
	}
	m.cur.Store(&View{Config: c, Eval: ev, changes: iradix.New[Change]()})
	return m, nil
}

// View returns the current state. Safe from any goroutine; never blocks.
func (m *Machine) View() *View { return m.cur.Load() }

// Apply is called by raft on its FSM goroutine for every committed entry, in log
// order, when it does not batch (raft prefers ApplyBatch). It returns a Result.
func (m *Machine) Apply(l *raft.Log) any {
	return m.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch is called by raft on its FSM goroutine with up to MaxAppendEntries
// committed entries in log order (raft.BatchingFSM). The entries are applied one
// by one to the configuration, but the evaluator is compiled and the view
// published once for the batch: compiling dominates the cost of a write, so
// under load a batch pays it once. Every entry gets the Result it would get
// alone, so the outcome does not depend on where raft cut the batches. An
// entry this binary cannot decode stops the node with a panic: skipping it
// would fork the state.
func (m *Machine) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	done := make([]applied, 0, len(logs))
	prev := m.View()
	cur := prev
	var s scratch
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		env, err := events.Decode(l.Data)
		if err != nil {
			panic(fmt.Sprintf("fsm: cannot decode log entry %d: %v", l.Index, err))
		}
		next, res := apply(cur, env, l.Index, &s)
		cur = next
		out[i] = res
		done = append(done, applied{env, res})
	}
	if len(done) == 0 {
		return out
	}
	if cur.Config != prev.Config {
		ev, err := authz.Update(prev.Eval, cur.Config, m.cfg.Settings, changedRefs(done))
		if err != nil {
			if len(done) > 1 {
				// Find the entry the compiler refuses by applying one at a time;
				// that gives each entry exactly its unbatched result.
				for i, l := range logs {
					out[i] = m.ApplyBatch([]*raft.Log{l})[0]
				}
				return out
			}
			// Validation accepted something the compiler refuses: reject it
			// the same way on every node.
			rej, res := m.rejected(prev, done[0].res.Rev, authz.StatusMessage(400, err.Error()))
			for i := range out {
				if out[i] != nil {
					out[i] = res
				}
			}
			m.publish(rej, applied{done[0].env, res})
			return out
		}
		cur.Eval = ev
	}
	m.publish(cur, done...)
	return out
}

// changedRefs lists the entities the accepted entries of a batch changed, for
// authz.Update: the five collections only. The security config is compared by
// Update itself; nodes DN, audit, allowlist and cluster settings do not reach
// the evaluator, and naming them would only make Update fall back to a full
// compile.
func changedRefs(done []applied) []authz.Ref {
	var refs []authz.Ref
	for _, a := range done {
		if a.res.Err != nil {
			continue
		}
		for _, k := range a.res.Keys {
			kind, name, ok := strings.Cut(k, "/")
			if !ok {
				continue
			}
			switch authz.Kind(kind) {
			case authz.KindInternalUsers, authz.KindRoles, authz.KindRolesMapping, authz.KindActionGroups, authz.KindTenants:
				refs = append(refs, authz.Ref{Kind: authz.Kind(kind), Name: name})
			}
		}
	}
	return refs
}

// applied is one entry of a batch with its result, for OnApply.
type applied struct {
	env events.Envelope
	res Result
}

// rejected keeps prev's state at a new revision.
func (m *Machine) rejected(prev *View, index uint64, e *authz.Error) (*View, Result) {
	v := *prev
	v.Rev = index
	return &v, Result{Rev: index, Err: e}
}

// publish makes v the current view, wakes the revision waiters and reports the
// entries that produced it to OnApply, in log order.
func (m *Machine) publish(v *View, entries ...applied) {
	m.cur.Store(v)
	m.waiters.release(v.Rev)
	if m.cfg.OnApply != nil {
		for _, a := range entries {
			m.cfg.OnApply(v, a.env, a.res)
		}
	}
}

// Snapshot captures the current view; Persist encodes it off the FSM goroutine.
func (m *Machine) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{view: m.View()}, nil
}

// Restore replaces the whole state with a snapshot and recompiles the evaluator.
func (m *Machine) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	v, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	ev, err := authz.Compile(v.Config, m.cfg.Settings)
	if err != nil {
		return fmt.Errorf("restore snapshot rev %d: compile: %w", v.Rev, err)
	}
	v.Eval = ev
	m.log.Info("restored snapshot", "revision", v.Rev)
	m.publish(v, applied{res: Result{Rev: v.Rev}})
	return nil
}
