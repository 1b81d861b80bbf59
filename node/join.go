package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/authzd/authzd/node/api"
)

// join asks the members of Config.Join to add this node, in turn, until one
// accepts or the node closes: any member will do, followers forward the
// change to the leader. The request authenticates with the node's client
// certificate (cluster CA, OU=node), like forwarded writes. A refusal (4xx:
// the id or an address is taken) ends the attempts with an Error log: retrying
// cannot help, the operator must act. Runs on its own goroutine, owned by
// Start and stopped by Close.
func (n *Node) join(self Peer) {
	ctx := n.life
	voter := !n.cfg.NonVoter
	body, err := json.Marshal(api.PeerBody{ID: self.ID, RaftAddr: self.RaftAddr, HTTPAddr: self.HTTPAddr, NATSRoute: self.NATSRoute, Voter: &voter})
	if err != nil {
		n.log.Error("encode join request", "err", err)
		return
	}
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		url := strings.TrimSuffix(n.cfg.Join[attempt%len(n.cfg.Join)], "/")
		status, err := n.joinOnce(ctx, url, body)
		switch {
		case err == nil && status == http.StatusOK:
			n.log.Info("joined the cluster", "via", url, "voter", !n.cfg.NonVoter)
			return
		case status >= 400 && status < 500:
			n.log.Error("join refused; fix the request or the cluster and restart with an empty data dir", "via", url, "status", status, "err", err)
			return
		case ctx.Err() != nil:
			return
		default:
			n.log.Warn("join attempt failed, will retry", "via", url, "status", status, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// joinOnce posts the join request to one member and returns its status. The
// answer's body is only logged when it refuses.
func (n *Node) joinOnce(ctx context.Context, base string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_plugins/_authz/cluster/peers", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("join via %s: %w", base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("join via %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("join via %s: status %d: %s", base, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, nil
}
