package bus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// changePublisher is what Publisher needs from a Bus.
type changePublisher interface {
	PublishChanges(ctx context.Context, cs []Change) []PublishOutcome
	LastRevision(ctx context.Context) (uint64, error)
}

// publishWindow is how many changes Run sends before it waits for their
// acknowledgements. One at a time, a publisher managed about one change per
// round trip to the stream, fewer than a cluster commits under load, and its
// queue overflowed.
const publishWindow = 256

// Publisher puts committed changes on the change stream without ever
// blocking the caller (raft's FSM goroutine). Enqueue appends to a bounded
// queue; Run, on its own goroutine, publishes in order, up to publishWindow
// changes per round trip.
//
// When the queue is full the oldest queued change is dropped (counted in
// Dropped, logged at Warn): the caller must never wait for NATS, and every
// node publishes every change, so a change one node drops is normally
// published by the others (the stream deduplicates by revision). A change
// that every node dropped is missing from the stream; subscribers that need
// every revision compare revisions (they are Raft indexes, with gaps for
// rejected entries) and resync from the REST API.
//
// Revisions at or below the newest one the stream already holds are skipped
// instead of published, so a node replaying its log after a restart (or
// catching up from far behind) neither stalls nor appends old revisions
// after the dedup window has forgotten them.
type Publisher struct {
	bus changePublisher
	log *slog.Logger
	max int

	mu      sync.Mutex // guards queue
	queue   []Change
	wake    chan struct{}
	dropped atomic.Uint64
	sent    atomic.Uint64
	skipped atomic.Uint64
	lastErr atomic.Int64 // unix nanos of the last failed publish, 0 if none since the last success
}

// NewPublisher returns a publisher with a queue of capacity changes
// (default 4096 when capacity <= 0). It starts no goroutine; call Run.
func NewPublisher(b changePublisher, capacity int, log *slog.Logger) *Publisher {
	if capacity <= 0 {
		capacity = 4096
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{bus: b, log: log, max: capacity, wake: make(chan struct{}, 1)}
}

// Enqueue queues c for publication. It never blocks.
func (p *Publisher) Enqueue(c Change) {
	p.mu.Lock()
	if len(p.queue) >= p.max {
		n := p.dropped.Add(1)
		if n == 1 || n%1000 == 0 {
			p.log.Warn("change queue full, dropping the oldest change", "revision", p.queue[0].Revision, "dropped_total", n)
		}
		p.dropHead()
	}
	p.queue = append(p.queue, c)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Dropped is the number of changes dropped because the queue was full.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Published is the number of changes this publisher put on the stream
// (including those the stream reported as duplicates).
func (p *Publisher) Published() uint64 { return p.sent.Load() }

// Pending is the number of queued changes.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// Run publishes queued changes until ctx ends. A failed publication stays
// at the head of the queue and is retried with backoff.
func (p *Publisher) Run(ctx context.Context) {
	var known uint64 // newest revision known to be on the stream
	refresh := true
	backoff := 50 * time.Millisecond
	var batch []Change
	for {
		if refresh {
			last, err := p.bus.LastRevision(ctx)
			if err != nil {
				if !p.wait(ctx, &backoff, err) {
					return
				}
				continue
			}
			known, refresh = max(known, last), false
		}
		batch = p.peek(known, batch[:0])
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		var failure error // the first failure not followed by a success
		dups := 0
		for i, o := range p.bus.PublishChanges(ctx, batch) {
			switch {
			case o.Err == nil:
				p.sent.Add(1)
				known, failure = batch[i].Revision, nil
				if o.Duplicate {
					dups++
				}
			case failure == nil:
				failure = o.Err
			}
		}
		// A full window that other nodes had all published: this node is
		// behind, maybe far; skip to where the stream is. (Rereading it
		// after every duplicate would cost a request per window: with every
		// node publishing, most windows hold one.)
		refresh = dups == publishWindow
		// Published, or (a failure followed by a success) passed by.
		p.popThrough(known)
		if failure != nil {
			if !p.wait(ctx, &backoff, failure) {
				return
			}
			refresh = true
			continue
		}
		backoff = 50 * time.Millisecond
		p.lastErr.Store(0)
	}
}

// wait backs off after a failure; false when ctx ended.
func (p *Publisher) wait(ctx context.Context, backoff *time.Duration, err error) bool {
	if p.lastErr.Swap(time.Now().UnixNano()) == 0 {
		p.log.Warn("change publication failing, will retry", "err", err)
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 2*time.Second)
	return true
}

// peek drops the queued changes the stream already has (revision <= known,
// counted as skipped) and appends up to publishWindow of the next ones to dst.
func (p *Publisher) peek(known uint64, dst []Change) []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && p.queue[0].Revision <= known {
		p.skipped.Add(1)
		p.dropHead()
	}
	return append(dst, p.queue[:min(len(p.queue), publishWindow)]...)
}

// popThrough removes the queued changes up to revision rev: published now,
// or dropped by Enqueue meanwhile.
func (p *Publisher) popThrough(rev uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && p.queue[0].Revision <= rev {
		p.dropHead()
	}
}

// dropHead removes the oldest queued change; p.mu must be held. Reslicing
// keeps it O(1); append reallocates the queue as it moves along.
func (p *Publisher) dropHead() {
	p.queue[0] = Change{}
	p.queue = p.queue[1:]
}
