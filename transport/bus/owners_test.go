package bus

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUnavailableWrite: a write whose acknowledgement timed out may be
// stored, so it is "outcome unknown", never "nothing was written"; errors
// that show the write never reached a stream stay ErrUnavailable.
func TestUnavailableWrite(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unknown     bool
		unavailable bool
	}{
		{"ack timeout", nats.ErrTimeout, true, false},
		{"deadline", context.DeadlineExceeded, true, false},
		{"client gone", context.Canceled, true, false},
		{"no responders", nats.ErrNoResponders, false, true},
		{"connection closed", nats.ErrConnectionClosed, false, true},
		{"jetstream not ready", ErrNotReady, false, true},
		{"no stream response", jetstream.ErrNoStreamResponse, false, true},
		{"other", errors.New("boom"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := unavailableWrite("create owner record k", tc.err)
			if errors.Is(err, ErrOutcomeUnknown) != tc.unknown || errors.Is(err, ErrUnavailable) != tc.unavailable {
				t.Fatalf("%v: unknown %v unavailable %v, want %v %v", err, errors.Is(err, ErrOutcomeUnknown), errors.Is(err, ErrUnavailable), tc.unknown, tc.unavailable)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("%v does not wrap %v", err, tc.err)
			}
		})
	}
}
