package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RevisionHeader carries a change's revision on its message (besides
// Nats-Msg-Id, which holds the same number for deduplication).
const RevisionHeader = "Authz-Revision"

// Change is one committed configuration change as published on the change
// stream, as JSON: {"revision","type","keys","actor","at"}.
type Change struct {
	// Revision is the Raft index of the entry that made the change.
	Revision uint64 `json:"revision"`
	// Type is the event type, e.g. "internaluser.put".
	Type string `json:"type"`
	// Keys are the changed resources as "<kind>/<name>", sorted.
	Keys []string `json:"keys"`
	// Actor is who made the change.
	Actor string `json:"actor"`
	// At is the proposer's clock in Unix milliseconds.
	At int64 `json:"at"`
}

// Subject is the change's subject: authz.changes.<type>.
func (c Change) Subject() string { return ChangesPrefix + c.Type }

// PublishOutcome is what the stream made of one change of PublishChanges.
type PublishOutcome struct {
	// Duplicate: the stream already held this revision.
	Duplicate bool
	// Err is nil when the change is on the stream (stored or duplicate);
	// it wraps ErrUnavailable when NATS or JetStream did not answer.
	Err error
}

// PublishChanges publishes cs, in increasing revision order, each with
// Nats-Msg-Id set to its revision, so that a revision published by several
// nodes within the dedup window is stored once (Duplicate for the others).
// It does not wait for one acknowledgement before sending the next: a publisher
// keeps up with thousands of changes a second where one round trip per
// change would not. The messages leave in order on one connection and are
// not retried by the client (a retry could overtake a later message), so
// the stream stores them in order; a change that fails may be followed by
// stored ones only if the stream's leader changed between two sends. It
// returns one outcome per change; once one could not be sent, the rest are
// not sent either.
//
// (Nats-Expected-Last-Msg-Id would make the stream refuse a change whose
// predecessor is missing, but on a clustered stream the messages pipelined
// behind a refused one are dropped without an answer, and under make e2e's
// faults the ownership bucket acknowledged far fewer writes.)
func (b *Bus) PublishChanges(ctx context.Context, cs []Change) []PublishOutcome {
	out := make([]PublishOutcome, len(cs))
	fail := func(from int, err error) {
		for i := from; i < len(out); i++ {
			out[i].Err = err
		}
	}
	if _, _, err := b.handles(); err != nil {
		fail(0, unavailable("publish changes", err))
		return out
	}
	futures := make([]jetstream.PubAckFuture, 0, len(cs))
	for i, c := range cs {
		msg, err := changeMsg(c)
		if err != nil {
			fail(i, err)
			break
		}
		f, err := b.js.PublishMsgAsync(msg, jetstream.WithExpectStream(ChangesStream), jetstream.WithRetryAttempts(0))
		if err != nil {
			fail(i, unavailable(fmt.Sprintf("publish change %d", c.Revision), err))
			break
		}
		futures = append(futures, f)
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			out[i].Duplicate = ack.Duplicate
		case err := <-f.Err():
			out[i].Err = unavailable(fmt.Sprintf("publish change %d", cs[i].Revision), err)
		case <-ctx.Done():
			fail(i, unavailable("publish changes", ctx.Err()))
			return out
		}
	}
	return out
}

// changeMsg is c as a change stream message.
func changeMsg(c Change) (*nats.Msg, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode change %d: %w", c.Revision, err)
	}
	rev := strconv.FormatUint(c.Revision, 10)
	msg := &nats.Msg{Subject: c.Subject(), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, rev)
	msg.Header.Set(RevisionHeader, rev)
	return msg, nil
}

// LastRevision is the revision of the newest change the stream holds, 0 when
// it holds none.
func (b *Bus) LastRevision(ctx context.Context) (uint64, error) {
	st, _, err := b.handles()
	if err != nil {
		return 0, unavailable("last revision", err)
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	m, err := st.GetLastMsgForSubject(ctx, ChangesPrefix+">")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("last revision", err)
	}
	return revisionOf(m.Header)
}

func revisionOf(h nats.Header) (uint64, error) {
	s := h.Get(RevisionHeader)
	rev, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("change message without a valid %s header %q", RevisionHeader, s)
	}
	return rev, nil
}

// ChangeSub is a subscription to the change stream. Next returns changes in
// stream order, each revision at most once and never a revision below the
// starting one. It is used by one goroutine at a time.
type ChangeSub struct {
	it   jetstream.MessagesContext
	from uint64
	last uint64
}

// Changes subscribes to the change stream from revision from: every change
// with a revision >= from that the stream holds, then new ones as they come.
// from == 0 means only changes published from now on. It returns
// ErrRevisionGone when the retention limits already removed changes the
// subscriber asked for.
func (b *Bus) Changes(ctx context.Context, from uint64) (*ChangeSub, error) {
	st, _, err := b.handles()
	if err != nil {
		return nil, unavailable("subscribe to changes", err)
	}
	rctx, cancel := b.timeout(ctx)
	defer cancel()
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ChangesPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	if from > 0 {
		seq, err := b.seqOf(rctx, st, from)
		if err != nil {
			return nil, err
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = seq
	}
	cons, err := st.OrderedConsumer(rctx, cfg)
	if err != nil {
		return nil, unavailable("create change consumer", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, unavailable("iterate changes", err)
	}
	return &ChangeSub{it: it, from: from}, nil
}

// seqOf finds the first stream sequence whose revision is >= rev by binary
// search: publishers add revisions in increasing order, so revisions grow
// with the sequence.
func (b *Bus) seqOf(ctx context.Context, st jetstream.Stream, rev uint64) (uint64, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, unavailable("change stream info", err)
	}
	s := info.State
	if s.Msgs == 0 {
		if s.FirstSeq > 1 {
			return 0, fmt.Errorf("changes from revision %d: %w", rev, ErrRevisionGone)
		}
		return 1, nil
	}
	revAt := func(seq uint64) (uint64, error) {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(ChangesPrefix+">"))
		if err != nil {
			return 0, unavailable(fmt.Sprintf("read change at sequence %d", seq), err)
		}
		return revisionOf(m.Header)
	}
	first, err := revAt(s.FirstSeq)
	if err != nil {
		return 0, err
	}
	if rev < first && s.FirstSeq > 1 {
		return 0, fmt.Errorf("changes from revision %d (oldest held is %d): %w", rev, first, ErrRevisionGone)
	}
	lo, hi := s.FirstSeq, s.LastSeq+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, err := revAt(mid)
		if err != nil {
			return 0, err
		}
		if r >= rev {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Next waits for the next change or until ctx ends; ctx ending also stops the
// subscription (pass the subscription's lifetime, not a per-call timeout).
func (s *ChangeSub) Next(ctx context.Context) (Change, error) {
	// Stopping the iterator is what ends a wait inside the ordered consumer's
	// reset (it retries while JetStream is unreachable); NextContext does not.
	stop := context.AfterFunc(ctx, s.it.Stop)
	defer stop()
	for {
		m, err := s.it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			return Change{}, ctx.Err()
		}
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return Change{}, ErrClosed
		}
		if err != nil {
			return Change{}, fmt.Errorf("next change: %w", err)
		}
		var c Change
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			return Change{}, fmt.Errorf("decode change on %s: %w", m.Subject(), err)
		}
		// A publisher that fell behind may, past the dedup window, add an old
		// revision again; skip anything not newer than what was delivered.
		if c.Revision < s.from || (s.last != 0 && c.Revision <= s.last) {
			continue
		}
		s.last = c.Revision
		return c, nil
	}
}

// Close stops the subscription.
func (s *ChangeSub) Close() { s.it.Stop() }
