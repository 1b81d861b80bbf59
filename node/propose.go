package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/fsm"
	"github.com/authzd/authzd/node/api"
)

// Aliases of the API's sentinels, so errors.Is matches whichever layer made them.
var (
	ErrNoLeader       = api.ErrNoLeader
	ErrNotLeader      = api.ErrNotLeader
	ErrOutcomeUnknown = api.ErrOutcomeUnknown
)

// errRetry marks a forwarding failure after which the write surely was not
// applied (the leader refused it or could not be reached), so it may be retried.
var errRetry = errors.New("retry")

// Propose commits an encoded event: on the leader directly, on a follower by
// forwarding it to the leader over the cluster's internal HTTPS endpoint. It
// retries while no leader is known or the leader changes, until LeaderWait
// (for finding a leader) or ctx ends; then it returns ErrNoLeader.
func (n *Node) Propose(ctx context.Context, event []byte) (fsm.Result, error) {
	return onLeader(ctx, n,
		func() (fsm.Result, error) { return n.ApplyLocal(ctx, event) },
		func(leader Peer) (fsm.Result, error) { return n.forward(ctx, leader, event) })
}

// onLeader runs local when this node leads, else forward to the leader it
// knows, again while either fails with errRetry (local's ErrNotLeader
// counts), until LeaderWait or ctx ends; then it returns ErrNoLeader.
func onLeader[T any](ctx context.Context, n *Node, local func() (T, error), forward func(leader Peer) (T, error)) (T, error) {
	var zero T
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for {
		res, err := onLeaderOnce(n, local, forward)
		if err == nil || !errors.Is(err, errRetry) {
			return res, err
		}
		if time.Now().After(deadline) {
			return zero, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-n.stop:
			return zero, ErrNoLeader
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func onLeaderOnce[T any](n *Node, local func() (T, error), forward func(leader Peer) (T, error)) (T, error) {
	var zero T
	if n.raft == nil {
		return zero, fmt.Errorf("raft not started: %w", errRetry)
	}
	if n.raft.State() == raft.Leader {
		res, err := local()
		if errors.Is(err, ErrNotLeader) {
			return res, fmt.Errorf("%w: %w", err, errRetry)
		}
		return res, err
	}
	leader, err := n.leaderPeer()
	if err != nil {
		return zero, err
	}
	return forward(leader)
}

// leaderPeer is the peer entry of the leader this node knows; its error
// wraps errRetry when there is none yet.
func (n *Node) leaderPeer() (Peer, error) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return Peer{}, fmt.Errorf("no leader known: %w", errRetry)
	}
	p, ok := n.peer(string(id))
	if !ok || p.HTTPAddr == "" {
		return Peer{}, fmt.Errorf("leader %s has no known http address: %w", id, errRetry)
	}
	return p, nil
}

// ApplyLocal commits an event on this node, which must be the leader.
func (n *Node) ApplyLocal(ctx context.Context, event []byte) (fsm.Result, error) {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return fsm.Result{}, ErrNotLeader
	}
	timeout := n.cfg.WriteTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	start := time.Now()
	f := n.raft.Apply(event, timeout)
	err := f.Error() // returns once this node's FSM applied the entry
	if err == nil {
		n.met.applyLatency.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			// Never appended to the log: safe to retry elsewhere.
			return fsm.Result{}, ErrNotLeader
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore), errors.Is(err, raft.ErrRaftShutdown):
			// Appended, maybe replicated: a later leader may still commit it.
			return fsm.Result{}, fmt.Errorf("raft apply: %w: %w", err, ErrOutcomeUnknown)
		}
		return fsm.Result{}, fmt.Errorf("raft apply: %w", err)
	}
	res, ok := f.Response().(fsm.Result)
	if !ok {
		return fsm.Result{}, fmt.Errorf("raft apply: unexpected response %T", f.Response())
	}
	return res, nil
}

// errLeaderChanged ends a forward whose target is no longer the leader this
// node knows.
var errLeaderChanged = errors.New("leader changed")

// forward sends an event to the leader and decodes its result. It gives up as
// soon as this node knows another leader: a leader that froze (paused, stalled,
// behind a link TCP has not seen die) would otherwise hold the write for the
// whole WriteTimeout after the cluster has moved on.
func (n *Node) forward(ctx context.Context, leader Peer, event []byte) (fsm.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := n.watchLeader(leader.ID, cancel)
	defer stop()
	body, err := n.postToLeader(ctx, leader, leaderPost{
		what: "forward", path: "/_plugins/_authz/internal/propose", contentType: "application/msgpack", body: event, limit: 16 << 20,
	})
	if err != nil {
		return fsm.Result{}, err
	}
	var res fsm.Result
	if err := msgpack.Unmarshal(body, &res); err != nil {
		return fsm.Result{}, fmt.Errorf("forward to %s: decode result: %w", leader.ID, err)
	}
	return res, nil
}

// leaderPost is one request to an internal endpoint of the leader.
type leaderPost struct {
	what              string // names the request in errors
	path, contentType string
	body              []byte
	limit             int64 // on the answer's size
	// idempotent requests may be retried even when they failed after they
	// were sent: applying them twice is applying them once.
	idempotent bool
}

// postToLeader sends p to leader and returns the body of its 200 answer.
// Errors wrap errRetry when the request surely had no effect (it was never
// written, or the peer answered 421: no longer leader) and ErrOutcomeUnknown
// when it may have had one (sent, then no answer; a 503 from a leader that
// appended it and lost leadership). If ctx was cancelled with errLeaderChanged
// (watchLeader), that cause is the error.
func (n *Node) postToLeader(ctx context.Context, leader Peer, p leaderPost) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+leader.HTTPAddr+p.path, bytes.NewReader(p.body))
	if err != nil {
		return nil, fmt.Errorf("%s to %s: %w", p.what, leader.ID, err)
	}
	req.Header.Set("Content-Type", p.contentType)
	// Whether the request left this node decides whether a failure may be
	// retried: a request never written cannot have been applied.
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}))
	cause := func(err error) error {
		if c := context.Cause(ctx); errors.Is(c, errLeaderChanged) {
			return c
		}
		return err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		if !wrote.Load() || p.idempotent {
			return nil, fmt.Errorf("%s to %s: %w: %w", p.what, leader.ID, cause(err), errRetry)
		}
		return nil, fmt.Errorf("%s to %s: %w: %w", p.what, leader.ID, cause(err), ErrOutcomeUnknown)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.limit))
	if err != nil {
		return nil, fmt.Errorf("%s to %s: read response: %w: %w", p.what, leader.ID, cause(err), ErrOutcomeUnknown)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusMisdirectedRequest:
		return nil, fmt.Errorf("%s to %s: no longer leader: %w", p.what, leader.ID, errRetry)
	case http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%s to %s: %s: %w", p.what, leader.ID, bytes.TrimSpace(body), ErrOutcomeUnknown)
	default:
		return nil, fmt.Errorf("%s to %s: status %d: %s", p.what, leader.ID, resp.StatusCode, bytes.TrimSpace(body))
	}
}

// watchLeader calls cancel with errLeaderChanged once this node knows a
// leader other than id (none known, as during an election, is no change).
// The returned stop ends the watch and waits for its goroutine. It polls every
// 100ms, cheap next to a forwarded write; a Raft observer would have to be
// registered and removed per write.
func (n *Node) watchLeader(id string, cancel context.CancelCauseFunc) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if _, cur := n.raft.LeaderWithID(); cur != "" && string(cur) != id {
				cancel(fmt.Errorf("%w to %s", errLeaderChanged, cur))
				return
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
