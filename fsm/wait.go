package fsm

import (
	"context"
	"sync"
)

// waiters lets goroutines wait until a revision has been applied. Each waiter is
// a channel closed by release; nothing polls.
type waiters struct {
	mu      sync.Mutex
	pending map[uint64][]chan struct{}
}

// wait returns a channel that is closed once release(r) has been called with r >= rev.
// current is read under the lock so a release between the caller's check and the
// registration cannot be missed.
func (w *waiters) wait(rev uint64, current func() uint64) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if current() >= rev {
		close(ch)
		return ch
	}
	if w.pending == nil {
		w.pending = map[uint64][]chan struct{}{}
	}
	w.pending[rev] = append(w.pending[rev], ch)
	return ch
}

// release closes the channels of every waiter for a revision <= rev.
func (w *waiters) release(rev uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r, chs := range w.pending {
		if r <= rev {
			for _, ch := range chs {
				close(ch)
			}
			delete(w.pending, r)
		}
	}
}

// WaitFor blocks until the machine has applied rev or ctx ends.
func (m *Machine) WaitFor(ctx context.Context, rev uint64) error {
	select {
	case <-m.waiters.wait(rev, func() uint64 { return m.View().Rev }):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
