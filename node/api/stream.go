package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/transport/bus"
)

// ChangeFollower follows the cluster's change stream (JetStream AUTHZ_CHANGES).
type ChangeFollower interface {
	// FollowChanges calls each for every change from revision from on (0: new
	// changes only), in order, until ctx ends or each returns an error.
	FollowChanges(ctx context.Context, from uint64, each func(bus.Change) error) error
}

// ErrStreamUnavailable means the change stream (NATS) cannot be reached.
var ErrStreamUnavailable = errors.New("change stream unavailable")

// streamKeepAlive is how often an idle stream sends an empty line, so that
// proxies and the client notice a dead connection.
const streamKeepAlive = 15 * time.Second

// streamEvents serves GET /_plugins/_authz/events/_stream?from=REV: the change
// stream as newline-delimited JSON, one {revision,type,keys,actor,at} per line,
// until the client goes away. Clients that cannot reach NATS themselves
// (authzctl events --follow) follow the cluster this way.
func (a *API) streamEvents(w http.ResponseWriter, r *request) error {
	f, ok := a.cfg.Backend.(ChangeFollower)
	if !ok {
		return fmt.Errorf("follow changes: %w", ErrStreamUnavailable)
	}
	var from uint64
	if s := r.URL.Query().Get("from"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("from must be a revision, got '%s'", s))
		}
		from = n
	}
	rc := http.NewResponseController(w)
	// The server's write timeout bounds ordinary answers; a stream has none.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("follow changes: clear write deadline: %w", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			setRevision(w, r.view.Rev)
			w.WriteHeader(http.StatusOK)
			_ = rc.Flush()
		}
	}
	lines := make(chan []byte)
	errc := make(chan error, 1)
	go func() {
		errc <- f.FollowChanges(ctx, from, func(c bus.Change) error {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			select {
			case lines <- append(b, '\n'):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tick := time.NewTicker(streamKeepAlive)
	defer tick.Stop()
	// The header goes out after a moment even when no change comes, so a
	// client sees the stream is open; errors found before that (revision
	// gone, NATS down) still get their own status.
	first := time.NewTimer(200 * time.Millisecond)
	defer first.Stop()
	for {
		select {
		case err := <-errc:
			if started || errors.Is(err, context.Canceled) {
				return nil // the client went away, or the stream ended mid-way
			}
			if errors.Is(err, bus.ErrRevisionGone) {
				return authz.StatusMessage(http.StatusGone, err.Error())
			}
			return fmt.Errorf("follow changes: %w: %w", err, ErrStreamUnavailable)
		case <-first.C:
			start()
		case b := <-lines:
			start()
			if _, err := w.Write(b); err != nil {
				return nil
			}
			_ = rc.Flush()
		case <-tick.C:
			start()
			if _, err := w.Write([]byte("\n")); err != nil {
				return nil
			}
			_ = rc.Flush()
		}
	}
}
