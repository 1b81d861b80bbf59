package node

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/transport"
)

// Config configures one node. Zero values mean the defaults of withDefaults.
type Config struct {
	// ID is the node's Raft server id, unique in the cluster.
	ID string
	// DataDir holds raft.db (log and stable store) and snapshots.
	DataDir string
	// HTTPAddr is the HTTPS listen address; "127.0.0.1:0" picks a port.
	HTTPAddr string
	// RaftAddr is the Raft listen address; "127.0.0.1:0" picks a port.
	RaftAddr string
	// RaftAdvertise is the Raft address other nodes dial ("n1:9300"); empty
	// means RaftAddr, which must then name a specific interface, not 0.0.0.0.
	RaftAdvertise string
	// TLS is the node's certificate material (cluster CA, node certificate).
	TLS *transport.TLSMaterial
	// Links, if set, lets tests cut this node's links to peers (Raft and forwarding).
	Links *transport.Links
	// Bootstrap returns the first configuration of a new cluster (authz.Bootstrap
	// or authz.Demo with the initial admin hash). Called at most once, on the
	// leader of a cluster whose configuration is not initialized.
	Bootstrap func() (*authz.Config, error)
	// Settings are the decision-relevant node settings.
	Settings authz.Settings
	// API holds the REST API settings.
	API api.Settings
	// Logger receives structured logs; nil discards.
	Logger *slog.Logger
	// NATS configures the embedded NATS server or the external cluster.
	NATS NATSConfig
	// MetricsRequireCert serves GET /metrics only to clients presenting a
	// certificate of the cluster CA. Default false: /metrics needs no
	// authentication, like a Prometheus exporter (it holds no names of users,
	// roles or resources; docs/metrics.md).
	MetricsRequireCert bool
	// Join lists HTTPS base URLs of running members ("https://10.0.0.1:9200",
	// authzd serve --join). A node whose data dir holds no Raft state asks
	// them to add it instead of bootstrapping; with state it is ignored.
	Join []string
	// NonVoter makes a joining node a non-voter: a read replica that applies
	// the log and serves reads and decisions but does not vote (--non-voter).
	NonVoter bool

	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout tune Raft;
	// defaults 1s, 1s, 500ms.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long the leader waits without new entries before it
	// tells followers the commit index; followers apply (and swap their
	// evaluator) only then. Default 5ms: raft's 50ms would leave followers that
	// far behind after each quiet write. Must be at least 1ms.
	CommitTimeout time.Duration
	// SnapshotThreshold is the number of log entries between snapshots; default 8192.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot; default 10240.
	TrailingLogs uint64
	// WriteTimeout bounds one write including forwarding and the wait for a leader; default 10s.
	WriteTimeout time.Duration
	// LeaderWait bounds how long a write waits for a leader to be known; default 5s.
	LeaderWait time.Duration
	// ShutdownTimeout bounds the HTTP drain at Close; default 10s.
	ShutdownTimeout time.Duration
}

// Peer is one member of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
	HTTPAddr string
	// NATSRoute is the host:port of the peer's embedded NATS route listener;
	// empty with an external NATS cluster.
	NATSRoute string
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = 500 * time.Millisecond
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 5 * time.Millisecond
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = 5 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	c.NATS.withDefaults()
}

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("node id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("http address is required"))
	}
	if c.RaftAddr == "" {
		errs = append(errs, errors.New("raft address is required"))
	}
	if c.TLS == nil {
		errs = append(errs, errors.New("TLS material is required"))
	}
	if c.Bootstrap == nil {
		errs = append(errs, errors.New("bootstrap configuration is required"))
	}
	for _, u := range c.Join {
		if !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("join url must start with https://, got %q", u))
		}
	}
	if c.NonVoter && len(c.Join) == 0 {
		errs = append(errs, errors.New("non-voter needs join urls: a bootstrapped node is a voter"))
	}
	errs = append(errs, c.NATS.validate())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid node config: %w", err)
	}
	return nil
}
