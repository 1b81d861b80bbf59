package fsm

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

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
	// OnApply, if set, is called on raft's FSM goroutine after each new view is
	// published, with the envelope that produced it (zero for Restore). It must not block.
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
	m.cur.Store(&View{Config: c, Eval: ev, Changes: map[string]Change{}})
	return m, nil
}

// View returns the current state. Safe from any goroutine; never blocks.
func (m *Machine) View() *View { return m.cur.Load() }

// Apply is called by raft on its FSM goroutine for every committed entry, in log
// order. It returns a Result. An entry this binary cannot decode stops the node
// with a panic: skipping it would fork the state.
func (m *Machine) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	env, err := events.Decode(l.Data)
	if err != nil {
		panic(fmt.Sprintf("fsm: cannot decode log entry %d: %v", l.Index, err))
	}
	prev := m.View()
	next, res := apply(prev, env, l.Index)
	if res.Err == nil && next.Config != prev.Config {
		ev, err := authz.Compile(next.Config, m.cfg.Settings)
		if err != nil {
			// Validation accepted something the compiler refuses: reject it the same way on every node.
			next, res = m.rejected(prev, l.Index, authz.StatusMessage(400, err.Error()))
		} else {
			next.Eval = ev
		}
	}
	m.publish(next, env, res)
	return res
}

// rejected keeps prev's state at a new revision.
func (m *Machine) rejected(prev *View, index uint64, e *authz.Error) (*View, Result) {
	v := *prev
	v.Rev = index
	return &v, Result{Rev: index, Err: e}
}

func (m *Machine) publish(v *View, env events.Envelope, res Result) {
	m.cur.Store(v)
	m.waiters.release(v.Rev)
	if m.cfg.OnApply != nil {
		m.cfg.OnApply(v, env, res)
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
	m.publish(v, events.Envelope{}, Result{Rev: v.Rev})
	return nil
}
