package history

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Cluster is what the workload and the fault driver need of a cluster: its
// size and one HTTPS request to one node as the admin user.
type Cluster interface {
	// Size is the number of nodes, addressed 0 to Size()-1.
	Size() int
	// Do sends one request to node i as the admin user and returns the whole
	// response. ctx carries the per-request timeout. An error means no
	// response arrived (the connection failed, was cut, or ctx ended); Do
	// must be safe for concurrent use.
	Do(ctx context.Context, i int, method, path, body string) (Response, error)
}

// Nemesis injects faults on the nodes of a Cluster. Methods are called one at
// a time, from the goroutine that called Run, and return once the action is
// done (the node is cut, stopped, started again).
type Nemesis interface {
	// Isolate cuts node i off from the other nodes (Raft and leader
	// forwarding) while clients can still reach it.
	Isolate(ctx context.Context, i int) error
	// Rejoin undoes Isolate.
	Rejoin(ctx context.Context, i int) error
	// Stop stops node i, as abruptly as the implementation can (a container
	// is killed; an in-process node is closed). Its data stays.
	Stop(ctx context.Context, i int) error
	// Start starts a stopped node i again on its data.
	Start(ctx context.Context, i int) error
}

// Pauser is a Nemesis that can freeze a node's processes, so it neither
// answers nor notices time passing in its peers' eyes (docker pause).
type Pauser interface {
	Pause(ctx context.Context, i int) error
	Resume(ctx context.Context, i int) error
}

// Restarter is a Nemesis that can restart node i gracefully (SIGTERM, drain);
// restart-all uses it when present and Stop then Start otherwise.
type Restarter interface {
	Restart(ctx context.Context, i int) error
}

// Response is a finished HTTP exchange with a node.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Revision is the X-Authz-Revision header, 0 when it is absent or malformed.
func (r Response) Revision() uint64 {
	v, err := strconv.ParseUint(r.Header.Get("X-Authz-Revision"), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// Status is a node's view of the cluster (GET /_plugins/_authz/cluster).
type Status struct {
	NodeID      string `json:"node_id"`
	State       string `json:"state"`
	LeaderID    string `json:"leader_id"`
	Term        uint64 `json:"term"`
	Revision    uint64 `json:"applied_revision"`
	CommitIndex uint64 `json:"commit_index"`
	StateHash   string `json:"state_hash"`
}

// NodeStatus asks node i for its view of the cluster.
func NodeStatus(ctx context.Context, c Cluster, i int) (Status, error) {
	r, err := c.Do(ctx, i, http.MethodGet, "/_plugins/_authz/cluster", "")
	if err != nil {
		return Status{}, fmt.Errorf("status of node %d: %w", i, err)
	}
	if r.Status != http.StatusOK {
		return Status{}, fmt.Errorf("status of node %d: %s", i, r)
	}
	var s Status
	if err := json.Unmarshal(r.Body, &s); err != nil {
		return Status{}, fmt.Errorf("status of node %d: decode: %w", i, err)
	}
	return s, nil
}
