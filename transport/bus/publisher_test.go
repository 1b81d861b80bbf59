package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeStream is an in-memory change stream for Publisher's unit tests. Like
// JetStream it deduplicates by revision, and it stores what one call sends
// in order.
type fakeStream struct {
	mu     sync.Mutex
	revs   []uint64 // stored, in stream order
	down   bool
	faults map[uint64]fault // one-shot, by revision
	calls  int
	// lastCalls counts LastRevision calls.
	lastCalls int
}

type fault int

const (
	outage  fault = iota + 1 // unavailable from this change to the end of the call
	lostAck                  // stored, but the acknowledgement is lost
)

func (f *fakeStream) PublishChanges(_ context.Context, cs []Change) []PublishOutcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	out := make([]PublishOutcome, len(cs))
	down := f.down
	for i, c := range cs {
		flt := f.faults[c.Revision]
		delete(f.faults, c.Revision)
		if down = down || flt == outage; down {
			out[i].Err = ErrUnavailable
			continue
		}
		if slices.Contains(f.revs, c.Revision) {
			out[i].Duplicate = true
		} else {
			f.revs = append(f.revs, c.Revision)
		}
		if flt == lostAck {
			out[i] = PublishOutcome{Err: ErrUnavailable}
		}
	}
	return out
}

func (f *fakeStream) LastRevision(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCalls++
	if f.down {
		return 0, errors.New("down")
	}
	if len(f.revs) == 0 {
		return 0, nil
	}
	return f.revs[len(f.revs)-1], nil
}

// stored is a copy of the stream's revisions, in order.
func (f *fakeStream) stored() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revs)
}

// run starts p.Run until the test ends.
func run(t *testing.T, p *Publisher) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitStored waits until the stream holds want, in that order.
func waitStored(t *testing.T, s *fakeStream, want []uint64) {
	t.Helper()
	waitUntil(t, func() bool { return slices.Equal(s.stored(), want) }, func() string {
		return fmt.Sprintf("stream holds %v, want %v", s.stored(), want)
	})
}

// waitUntil polls cond (the fake has no events to wait on) for up to 10 s,
// then fails with what describes.
func waitUntil(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(describe())
		}
		time.Sleep(time.Millisecond)
	}
}

func revisions(from, to uint64) []uint64 {
	var r []uint64
	for i := from; i <= to; i++ {
		r = append(r, i)
	}
	return r
}

func TestPublisherDropsOldestWhenFull(t *testing.T) {
	p := NewPublisher(&fakeStream{}, 3, nil)
	for r := uint64(1); r <= 5; r++ {
		p.Enqueue(Change{Revision: r}) // never blocks, Run is not even started
	}
	if p.Dropped() != 2 || p.Pending() != 3 {
		t.Fatalf("dropped %d pending %d, want 2 and 3", p.Dropped(), p.Pending())
	}
	if got := p.peek(0, nil); got[0].Revision != 3 {
		t.Fatalf("head = %d, want 3 (oldest dropped)", got[0].Revision)
	}
}

func TestPublisherSkipsWhatTheStreamHasAndRetries(t *testing.T) {
	s := &fakeStream{revs: []uint64{10}, down: true}
	p := NewPublisher(s, 0, nil)
	run(t, p)
	// A node catching up replays 8..12; the stream already has up to 10.
	for r := uint64(8); r <= 12; r++ {
		p.Enqueue(Change{Revision: r})
	}
	s.mu.Lock()
	s.down = false // NATS comes back: publication resumes
	s.mu.Unlock()
	waitStored(t, s, []uint64{10, 11, 12})
}

// One round trip per change could not keep up with the cluster's commits:
// the publisher sends a window of changes per round trip.
func TestPublisherSendsWindows(t *testing.T) {
	s := &fakeStream{}
	p := NewPublisher(s, 0, nil)
	const n = 4 * publishWindow
	for r := uint64(1); r <= n; r++ {
		p.Enqueue(Change{Revision: r})
	}
	run(t, p)
	waitStored(t, s, revisions(1, n))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls > 4 {
		t.Errorf("%d changes took %d round trips, want 4", n, s.calls)
	}
}

// A failure in the middle of a window must neither lose a change nor store
// one after its successor: the stream's revisions grow with its sequence.
func TestPublisherFailureInWindowKeepsOrder(t *testing.T) {
	for _, flt := range []fault{outage, lostAck} {
		s := &fakeStream{faults: map[uint64]fault{5: flt, 9: flt}}
		p := NewPublisher(s, 0, nil)
		for r := uint64(1); r <= 12; r++ {
			p.Enqueue(Change{Revision: r})
		}
		run(t, p)
		waitStored(t, s, revisions(1, 12))
	}
}

// Every node publishes every change: two publishers racing on one stream
// store each revision once, in order, also when one of them lags.
func TestPublishersTogetherStoreEachRevisionOnce(t *testing.T) {
	s := &fakeStream{}
	a, b := NewPublisher(s, 0, nil), NewPublisher(s, 0, nil)
	run(t, a)
	run(t, b)
	const n = 3000
	var wg sync.WaitGroup
	for _, p := range []*Publisher{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := uint64(1); r <= n; r++ {
				p.Enqueue(Change{Revision: r})
				if r%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	waitStored(t, s, revisions(1, n))
	if a.Dropped()+b.Dropped() != 0 {
		t.Errorf("dropped %d and %d changes", a.Dropped(), b.Dropped())
	}
}

// A stream that lost its messages (purged, recreated) is written again.
func TestPublisherFollowsAStreamThatWentBack(t *testing.T) {
	s := &fakeStream{}
	p := NewPublisher(s, 0, nil)
	run(t, p)
	p.Enqueue(Change{Revision: 1})
	p.Enqueue(Change{Revision: 2})
	waitStored(t, s, []uint64{1, 2})
	s.mu.Lock()
	s.revs = nil
	s.mu.Unlock()
	p.Enqueue(Change{Revision: 3})
	waitStored(t, s, []uint64{3})
}

// A node far behind the others (their changes already on the stream) skips
// to where the stream is after one window of duplicates, instead of sending
// all of its backlog again.
func TestPublisherBehindSkipsAhead(t *testing.T) {
	s := &fakeStream{}
	p := NewPublisher(s, 0, nil)
	run(t, p)
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lastCalls > 0
	}, func() string { return "Run did not read the stream's last revision" })
	const n = 4 * publishWindow
	// The queue fills while the stream is locked: Run may take a first,
	// partial window, but its publish waits, and every later window is
	// full. (Enqueued while Run publishes, each window could be partial,
	// and a partial window of duplicates does not reread the stream.)
	s.mu.Lock()
	s.revs = revisions(1, n) // published by the other nodes
	for r := uint64(1); r <= n+1; r++ {
		p.Enqueue(Change{Revision: r})
	}
	s.mu.Unlock()
	waitStored(t, s, revisions(1, n+1))
	if p.skipped.Load() < n-3*publishWindow {
		t.Errorf("skipped %d of %d changes the stream had", p.skipped.Load(), n)
	}
}
