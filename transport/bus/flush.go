package bus

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Flush asks every node to drop cached credentials: all of them when Users
// is empty, else only those users'.
type Flush struct {
	// Users are the user names to drop; empty means everyone.
	Users []string `json:"users,omitempty"`
	// Origin is the node that sent the flush.
	Origin string `json:"origin,omitempty"`
}

// PublishFlush broadcasts f on authz.cache.flush and waits (bounded by ctx
// and RequestTimeout) until the server has it. Delivery is core NATS: nodes
// connected now receive it; a node that is disconnected misses it, which is
// safe because every node also drops a user's credentials when it applies a
// change to that user, and cached credentials are bound to the stored hash.
func (b *Bus) PublishFlush(ctx context.Context, f Flush) error {
	if b.nc == nil {
		return unavailable("publish flush", ErrNotReady)
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode flush: %w", err)
	}
	if err := b.nc.Publish(FlushSubject, data); err != nil {
		return unavailable("publish flush", err)
	}
	ctx, cancel := b.timeout(ctx)
	defer cancel()
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return unavailable("publish flush", err)
	}
	return nil
}

// Subscription is a subscription that can be stopped.
type Subscription struct{ sub *nats.Subscription }

// Stop ends the subscription; in-flight callbacks finish.
func (s *Subscription) Stop() error { return s.sub.Unsubscribe() }

// SubscribeFlush calls fn, on the client's delivery goroutine, for every
// flush broadcast (including this node's own). Malformed messages are logged
// and skipped. The subscription survives reconnects; Stop or Close ends it.
func (b *Bus) SubscribeFlush(fn func(Flush)) (*Subscription, error) {
	if b.nc == nil {
		return nil, unavailable("subscribe to flush", ErrNotReady)
	}
	sub, err := b.nc.Subscribe(FlushSubject, func(m *nats.Msg) {
		var f Flush
		if err := json.Unmarshal(m.Data, &f); err != nil {
			b.log.Warn("malformed cache flush message", "err", err)
			return
		}
		fn(f)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", FlushSubject, err)
	}
	return &Subscription{sub: sub}, nil
}
