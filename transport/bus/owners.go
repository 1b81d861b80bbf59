package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

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
// returns the entry's sequence, or ErrExists.
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
		return 0, unavailable("create owner record "+key, err)
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
		return 0, unavailable("delete owner record "+key, err)
	}
	return ack.Sequence, nil
}

// OwnerWatch delivers every change of the ownership bucket: first the
// current value of every key, then a marker (Next's initialDone), then
// updates as they happen.
type OwnerWatch struct{ w jetstream.KeyWatcher }

// WatchOwners starts a watch of the whole ownership bucket. The watch ends
// when ctx ends, Stop is called or the connection closes.
func (b *Bus) WatchOwners(ctx context.Context) (*OwnerWatch, error) {
	_, kv, err := b.handles()
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, unavailable("watch owner records", err)
	}
	return &OwnerWatch{w: w}, nil
}

// Next returns the next entry. initialDone is true, with a zero Entry, once
// when every key that existed at the start has been delivered. It returns
// ErrClosed when the watch ended, or ctx's error.
func (w *OwnerWatch) Next(ctx context.Context) (e Entry, initialDone bool, err error) {
	select {
	case <-ctx.Done():
		return Entry{}, false, ctx.Err()
	case kve, ok := <-w.w.Updates():
		if !ok {
			return Entry{}, false, ErrClosed
		}
		if kve == nil {
			return Entry{}, true, nil
		}
		e := Entry{Key: kve.Key(), Seq: kve.Revision()}
		if kve.Operation() == jetstream.KeyValuePut {
			e.Value = kve.Value()
		} else {
			e.Deleted = true
		}
		return e, false, nil
	}
}

// Stop ends the watch.
func (w *OwnerWatch) Stop() error { return w.w.Stop() }

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
