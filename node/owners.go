package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/transport/bus"
)

func ownerKey(kind authz.OwnerKind, id string) string { return bus.OwnerKey(string(kind), id) }

func parseOwnerKey(key string) (authz.OwnerKind, string, bool) {
	k, id, ok := bus.ParseOwnerKey(key)
	if !ok || !authz.OwnerKind(k).Valid() {
		return "", "", false
	}
	return authz.OwnerKind(k), id, true
}

// owners keeps this node's in-memory ownership index, fed by a watch of the
// KV bucket. Readers take the current immutable index without locking; only
// the watch goroutine (run) replaces it.
type owners struct {
	log *slog.Logger
	bus atomic.Pointer[ownerWatcher]
	cur atomic.Pointer[authz.OwnerIndex]
	// loaded is set once the first full load of the bucket completed.
	loaded atomic.Bool
	// syncedAt is when the index was last known to be current (unix nanos):
	// set while the watch runs, frozen when it breaks.
	syncedAt atomic.Int64
	inSync   atomic.Bool

	mu      sync.Mutex // guards pending
	pending map[uint64][]chan struct{}
}

func newOwners(log *slog.Logger) *owners {
	o := &owners{log: log}
	o.cur.Store(authz.NewOwnerIndex())
	return o
}

// index is the current index (any goroutine).
func (o *owners) index() *authz.OwnerIndex { return o.cur.Load() }

// staleMS is how long the index has not been known current, 0 when it is.
func (o *owners) staleMS() int64 {
	b := o.bus.Load()
	connected := b != nil && (*b).IsConnected()
	if connected && o.inSync.Load() {
		return 0
	}
	since := o.syncedAt.Load()
	if since == 0 {
		return -1 // never loaded
	}
	return time.Since(time.Unix(0, since)).Milliseconds()
}

type ownersStatus struct {
	loaded  bool
	seq     uint64
	records int
	staleMS int64
}

func (o *owners) status() ownersStatus {
	x := o.index()
	return ownersStatus{loaded: o.loaded.Load(), seq: x.Seq(), records: x.Len(), staleMS: o.staleMS()}
}

// run watches the bucket until ctx ends, restarting the watch (with a full
// reload, swapped in when complete) whenever it breaks.
func (o *owners) run(ctx context.Context, b ownerWatcher) {
	o.bus.Store(&b)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := o.watch(ctx, b)
		o.inSync.Store(false)
		if ctx.Err() != nil {
			return
		}
		o.log.Warn("ownership watch stopped, restarting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (o *owners) watch(ctx context.Context, b ownerWatcher) error {
	w, err := b.WatchOwners(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	// The first entries rebuild the index from scratch; the old one keeps
	// answering until the new one is complete.
	x, initial := authz.NewOwnerIndex(), true
	for {
		e, done, err := w.Next(ctx)
		if err != nil {
			return err
		}
		if done {
			initial = false
			x = x.WithSeq(max(x.Seq(), o.index().Seq()))
			o.publish(x)
			o.loaded.Store(true)
			o.inSync.Store(true)
			continue
		}
		x = o.applyEntry(x, e)
		if !initial {
			o.publish(x)
		}
	}
}

func (o *owners) applyEntry(x *authz.OwnerIndex, e bus.Entry) *authz.OwnerIndex {
	kind, id, ok := parseOwnerKey(e.Key)
	if !ok {
		o.log.Warn("ignoring ownership entry with a malformed key", "key", e.Key)
		return x.WithSeq(e.Seq)
	}
	if e.Deleted {
		return x.Without(kind, id, e.Seq)
	}
	var rec authz.OwnerRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil || rec.Kind != kind || rec.ID != id {
		o.log.Warn("ignoring malformed ownership record", "key", e.Key, "err", err)
		return x.WithSeq(e.Seq)
	}
	return x.With(&rec, e.Seq)
}

func (o *owners) publish(x *authz.OwnerIndex) {
	o.cur.Store(x)
	o.syncedAt.Store(time.Now().UnixNano())
	o.mu.Lock()
	defer o.mu.Unlock()
	for seq, chs := range o.pending {
		if seq <= x.Seq() {
			for _, ch := range chs {
				close(ch)
			}
			delete(o.pending, seq)
		}
	}
}

// waitFor blocks until the index has applied seq or ctx ends.
func (o *owners) waitFor(ctx context.Context, seq uint64) error {
	ch := make(chan struct{})
	o.mu.Lock()
	if o.index().Seq() >= seq {
		o.mu.Unlock()
		return nil
	}
	if o.pending == nil {
		o.pending = map[uint64][]chan struct{}{}
	}
	o.pending[seq] = append(o.pending[seq], ch)
	o.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The api.Owners implementation.

// OwnerIndex is the node's current ownership index.
func (n *Node) OwnerIndex() *authz.OwnerIndex { return n.owners.index() }

// OwnerStaleMS is how long the index has not been known current (0 when it
// is, -1 before the first load).
func (n *Node) OwnerStaleMS() int64 { return n.owners.staleMS() }

// WaitOwnerSeq waits, bounded by the configured OwnerWait, until the local
// index has applied KV sequence seq.
func (n *Node) WaitOwnerSeq(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.NATS.OwnerWait)
	defer cancel()
	if err := n.owners.waitFor(ctx, seq); err != nil {
		return fmt.Errorf("wait for ownership sequence %d: %w", seq, api.ErrOwnerSeqTimeout)
	}
	return nil
}

// RegisterOwner stores rec if no record exists for its kind and id. When one
// exists it is returned with created false. The put returns after the
// bucket's replicas have it; then the local index is given a bounded wait to
// include it, so that a check on this node right after sees it.
func (n *Node) RegisterOwner(ctx context.Context, rec *authz.OwnerRecord) (uint64, bool, *authz.OwnerRecord, error) {
	if n.bus == nil {
		return 0, false, nil, api.ErrBusUnavailable
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, false, nil, fmt.Errorf("encode owner record: %w", err)
	}
	key := ownerKey(rec.Kind, rec.ID)
	seq, err := n.bus.CreateOwner(ctx, key, data)
	switch {
	case err == nil:
		n.met.ownerRegs.WithLabelValues("created").Inc()
	case errors.Is(err, bus.ErrExists):
		n.met.ownerRegs.WithLabelValues("exists").Inc()
	default:
		n.met.ownerRegs.WithLabelValues("error").Inc()
	}
	if errors.Is(err, bus.ErrExists) {
		e, gerr := n.bus.GetOwner(ctx, key)
		if gerr != nil {
			return 0, false, nil, ownerErr(gerr)
		}
		var old authz.OwnerRecord
		if err := json.Unmarshal(e.Value, &old); err != nil {
			return 0, false, nil, fmt.Errorf("decode owner record %s: %w", key, err)
		}
		return e.Seq, false, &old, nil
	}
	if err != nil {
		return 0, false, nil, ownerErr(err)
	}
	_ = n.WaitOwnerSeq(ctx, seq) // best effort: the write itself is durable
	return seq, true, rec, nil
}

// FreshOwner reads a record from the bucket (not the local index), with its
// sequence, for a conditional delete.
func (n *Node) FreshOwner(ctx context.Context, kind authz.OwnerKind, id string) (*authz.OwnerRecord, uint64, error) {
	if n.bus == nil {
		return nil, 0, api.ErrBusUnavailable
	}
	e, err := n.bus.GetOwner(ctx, ownerKey(kind, id))
	if errors.Is(err, bus.ErrNotFound) {
		return nil, 0, api.ErrOwnerNotFound
	}
	if err != nil {
		return nil, 0, ownerErr(err)
	}
	var rec authz.OwnerRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return nil, 0, fmt.Errorf("decode owner record: %w", err)
	}
	return &rec, e.Seq, nil
}

// DeleteOwner deletes the record if it is still at seq.
func (n *Node) DeleteOwner(ctx context.Context, kind authz.OwnerKind, id string, seq uint64) (uint64, error) {
	if n.bus == nil {
		return 0, api.ErrBusUnavailable
	}
	dseq, err := n.bus.DeleteOwner(ctx, ownerKey(kind, id), seq)
	if errors.Is(err, bus.ErrChanged) {
		return 0, fmt.Errorf("delete owner record: %w", api.ErrOwnerChanged)
	}
	if err != nil {
		return 0, ownerErr(err)
	}
	_ = n.WaitOwnerSeq(ctx, dseq)
	return dseq, nil
}

func ownerErr(err error) error {
	if errors.Is(err, bus.ErrOutcomeUnknown) {
		return fmt.Errorf("%w: %w", api.ErrOwnerOutcomeUnknown, err)
	}
	if errors.Is(err, bus.ErrUnavailable) {
		return fmt.Errorf("%w: %w", api.ErrBusUnavailable, err)
	}
	return err
}
