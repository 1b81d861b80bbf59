package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/authzd/authzd/node/nodetest/history"
)

// Faults adapts a Cluster to the fault scenarios of package history: it is a
// history.Cluster (HTTPS requests as the admin user, through Client) and a
// history.Nemesis (links cut in the Raft stream layer and the forwarding
// client; nodes stopped and started again on their data). Nodes cannot be
// frozen in process, so it is no history.Pauser. Stop emulates a crash: it
// cuts the node's links, so that it can neither hand leadership over nor say
// goodbye, then closes it.
//
// Do is safe for concurrent use. The nemesis methods change the cluster and
// may fail the test, so they must be called from the test's goroutine, which
// is where history.Run calls them.
type Faults struct{ c *Cluster }

// Faults returns the history adapter of c.
func (c *Cluster) Faults() *Faults { return &Faults{c: c} }

// Size is the number of nodes.
func (f *Faults) Size() int { return len(f.c.Peers) }

// Do sends one request to node i as the admin user.
func (f *Faults) Do(ctx context.Context, i int, method, path, body string) (history.Response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+f.c.Peers[i].HTTPAddr+path, rd)
	if err != nil {
		return history.Response{}, fmt.Errorf("request to node %d: %w", i, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("admin", AdminPassword)
	resp, err := f.c.Client.Do(req)
	if err != nil {
		return history.Response{}, fmt.Errorf("%s %s on node %d: %w", method, path, i, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return history.Response{}, fmt.Errorf("%s %s on node %d: read body: %w", method, path, i, err)
	}
	return history.Response{Status: resp.StatusCode, Header: resp.Header, Body: bytes.TrimSpace(b)}, nil
}

// Isolate cuts node i off from the other nodes.
func (f *Faults) Isolate(_ context.Context, i int) error {
	f.c.Isolate(i)
	return nil
}

// Rejoin restores the links Isolate(i) cut.
func (f *Faults) Rejoin(_ context.Context, i int) error {
	for j, p := range f.c.Peers {
		if j == i {
			continue
		}
		for _, a := range []string{p.RaftAddr, p.HTTPAddr} {
			f.c.Links[i].Unblock(a)
		}
		for _, a := range []string{f.c.Peers[i].RaftAddr, f.c.Peers[i].HTTPAddr} {
			f.c.Links[j].Unblock(a)
		}
	}
	return nil
}

// Stop cuts node i off and closes it, as if it had crashed; its data stays.
func (f *Faults) Stop(_ context.Context, i int) error {
	f.c.Isolate(i)
	f.c.Stop(i)
	return nil
}

// StopGracefully closes node i with its links intact: a leader hands
// leadership over first (history.GracefulStopper, used by restart-all).
func (f *Faults) StopGracefully(_ context.Context, i int) error {
	f.c.Stop(i)
	return nil
}

// Start restores node i's links and starts it again on its addresses and data.
func (f *Faults) Start(ctx context.Context, i int) error {
	if err := f.Rejoin(ctx, i); err != nil {
		return err
	}
	f.c.Restart(i)
	return nil
}
