package bus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeStream is an in-memory change stream for Publisher's unit tests.
type fakeStream struct {
	mu      sync.Mutex
	revs    []uint64
	fail    bool
	publish chan uint64
}

func (f *fakeStream) PublishChange(_ context.Context, c Change) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return false, ErrUnavailable
	}
	dup := slices.Contains(f.revs, c.Revision)
	if !dup {
		f.revs = append(f.revs, c.Revision)
	}
	f.publish <- c.Revision
	return dup, nil
}

func (f *fakeStream) LastRevision(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, errors.New("down")
	}
	if len(f.revs) == 0 {
		return 0, nil
	}
	return slices.Max(f.revs), nil
}

func TestPublisherDropsOldestWhenFull(t *testing.T) {
	p := NewPublisher(&fakeStream{}, 3, nil)
	for r := uint64(1); r <= 5; r++ {
		p.Enqueue(Change{Revision: r}) // never blocks, Run is not even started
	}
	if p.Dropped() != 2 || p.Pending() != 3 {
		t.Fatalf("dropped %d pending %d, want 2 and 3", p.Dropped(), p.Pending())
	}
	if h, _ := p.head(); h.Revision != 3 {
		t.Fatalf("head = %d, want 3 (oldest dropped)", h.Revision)
	}
}

func TestPublisherSkipsWhatTheStreamHasAndRetries(t *testing.T) {
	s := &fakeStream{revs: []uint64{10}, publish: make(chan uint64, 16), fail: true}
	p := NewPublisher(s, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// A node catching up replays 8..12; the stream already has up to 10.
	for r := uint64(8); r <= 12; r++ {
		p.Enqueue(Change{Revision: r})
	}
	s.mu.Lock()
	s.fail = false // NATS comes back: publication resumes
	s.mu.Unlock()
	var got []uint64
	for len(got) < 2 {
		select {
		case r := <-s.publish:
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("published %v, want [11 12]", got)
		}
	}
	if !slices.Equal(got, []uint64{11, 12}) {
		t.Fatalf("published %v, want [11 12]", got)
	}
}
