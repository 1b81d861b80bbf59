package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Entry is one key of the ownership bucket.
type Entry struct {
	// Key is the bucket key.
	Key string
	// Value is the stored bytes; nil for a deletion.
	Value []byte
	// Seq is the KV revision (the bucket stream's sequence) of this entry.
	Seq uint64
	// Deleted marks a deletion (or purge) of Key.
	Deleted bool
}

// CreateOwner stores value under key if the key does not exist (or was
// deleted), and returns after the bucket's replicas acknowledged it. It
// returns the entry's sequence, or ErrExists. ErrUnavailable means nothing
// was stored; ErrOutcomeUnknown that the write was sent but not acknowledged
// in time (it may be stored: a retry then finds ErrExists).
func (b *Bus) CreateOwner(ctx context.Context, key string, value []byte) (uint64, error) {
	_, kv, err := b.handles()
	if err != nil {
		return 0, unavailable("create owner record", err)
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	seq, err := kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("create owner record %s: %w", key, ErrExists)
	}
	if err != nil {
		return 0, unavailableWrite("create owner record "+key, err)
	}
	return seq, nil
}

// GetOwner reads key, or returns ErrNotFound.
func (b *Bus) GetOwner(ctx context.Context, key string) (Entry, error) {
	_, kv, err := b.handles()
	if err != nil {
		return Entry{}, unavailable("get owner record", err)
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, fmt.Errorf("get owner record %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Entry{}, unavailable("get owner record "+key, err)
	}
	return Entry{Key: key, Value: e.Value(), Seq: e.Revision()}, nil
}

// DeleteOwner deletes key if its current sequence is still seq (0: whatever
// it is), and returns the sequence of the deletion. It returns ErrChanged
// when the key was written since seq.
func (b *Bus) DeleteOwner(ctx context.Context, key string, seq uint64) (uint64, error) {
	_, kv, err := b.handles()
	if err != nil {
		return 0, unavailable("delete owner record", err)
	}
	// kv.Delete does not return the deletion's sequence, which read-your-writes
	// needs; publish the same delete marker it would (KV-Operation: DEL).
	msg := &nats.Msg{Subject: "$KV." + kv.Bucket() + "." + key, Header: nats.Header{}}
	msg.Header.Set("KV-Operation", "DEL")
	var opts []jetstream.PublishOpt
	if seq != 0 {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(seq))
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	ack, err := b.js.PublishMsg(ctx, msg, opts...)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, fmt.Errorf("delete owner record %s: %w", key, ErrChanged)
	}
	if err != nil {
		return 0, unavailableWrite("delete owner record "+key, err)
	}
	return ack.Sequence, nil
}

// OwnerWatch delivers every change of the ownership bucket: first the
// current value of every key, then a marker (Next's initialDone), then
// updates as they happen. It is used by one goroutine at a time.
//
// It is an ordered pull consumer on the bucket's stream with a 1 s
// heartbeat rather than kv.Watch, whose push consumer notices a lost
// consumer host only after about 15 s: when the server holding the
// consumer dies, the watch resumes from the next sequence within seconds.
type OwnerWatch struct {
	it       jetstream.MessagesContext
	prefix   string
	initDone bool
	emitDone bool
}

// watchHeartbeat is the ordered consumer's heartbeat; two missed ones reset it.
const watchHeartbeat = time.Second

// WatchOwners starts a watch of the whole ownership bucket. Stop ends it.
func (b *Bus) WatchOwners(ctx context.Context) (*OwnerWatch, error) {
	_, kv, err := b.handles()
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	rctx, cancel := b.timeout(ctx)
	defer cancel()
	st, err := b.js.Stream(rctx, "KV_"+kv.Bucket())
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	prefix := "$KV." + kv.Bucket() + "."
	cons, err := st.OrderedConsumer(rctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	it, err := cons.Messages(jetstream.PullHeartbeat(watchHeartbeat), jetstream.PullExpiry(5*watchHeartbeat))
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	w := &OwnerWatch{it: it, prefix: prefix}
	if info := cons.CachedInfo(); info == nil || info.NumPending == 0 {
		w.emitDone = true // an empty bucket: nothing to replay
	}
	return w, nil
}

// Next returns the next entry. initialDone is true, with a zero Entry, once
// when every key that existed at the start has been delivered. It returns
// ErrClosed when the watch ended, or ctx's error; ctx ending also stops the
// watch (pass its lifetime, not a per-call timeout).
func (w *OwnerWatch) Next(ctx context.Context) (e Entry, initialDone bool, err error) {
	if w.emitDone && !w.initDone {
		w.emitDone, w.initDone = false, true
		return Entry{}, true, nil
	}
	// NextContext alone does not end a wait inside the ordered consumer's
	// reset, which retries recreating its consumer while JetStream is
	// unreachable; stopping the iterator does.
	stop := context.AfterFunc(ctx, w.it.Stop)
	defer stop()
	m, err := w.it.Next(jetstream.NextContext(ctx))
	if ctx.Err() != nil {
		return Entry{}, false, ctx.Err()
	}
	if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return Entry{}, false, ErrClosed
	}
	if err != nil {
		if ctx.Err() != nil {
			return Entry{}, false, ctx.Err()
		}
		return Entry{}, false, fmt.Errorf("watch owner records: %w", err)
	}
	meta, err := m.Metadata()
	if err != nil {
		return Entry{}, false, fmt.Errorf("watch owner records: %w", err)
	}
	e = Entry{Key: strings.TrimPrefix(m.Subject(), w.prefix), Seq: meta.Sequence.Stream}
	switch op := m.Headers().Get("KV-Operation"); {
	case op == "DEL" || op == "PURGE", m.Headers().Get(jetstream.MarkerReasonHeader) != "":
		e.Deleted = true
	default:
		e.Value = m.Data()
	}
	if !w.initDone && meta.NumPending == 0 {
		w.emitDone = true
	}
	return e, false, nil
}

// Stop ends the watch.
func (w *OwnerWatch) Stop() error {
	w.it.Stop()
	return nil
}

// OwnerKey is the bucket key of a record: "<kind>.<base64url(id)>", because
// ids may hold characters a NATS subject token may not.
func OwnerKey(kind, id string) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// ParseOwnerKey splits a key made by OwnerKey.
func ParseOwnerKey(key string) (kind, id string, ok bool) {
	kind, enc, ok := strings.Cut(key, ".")
	if !ok || kind == "" {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return kind, string(b), true
}
