package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/fsm"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/transport"
	"github.com/authzd/authzd/transport/bus"
)

// Node is one member of an authzd cluster.
type Node struct {
	cfg     Config
	log     *slog.Logger
	machine *fsm.Machine
	api     *api.API
	met     *metrics
	trans   *transport.RaftTransport
	httpLn  net.Listener
	srv     *http.Server
	client  *http.Client

	raft  *raft.Raft
	store *raftboltdb.BoltStore

	// NATS (nats.go): started by Start, stopped by Close after HTTP.
	natsSrv   *bus.Server
	bus       Bus
	conn      *bus.Bus // the same connection, concrete, for Node.Bus
	pub       *bus.Publisher
	owners    *owners
	busCancel context.CancelFunc
	busWG     sync.WaitGroup

	peersMu sync.RWMutex
	peers   map[string]Peer // the static peers given to Start

	// membersMu serializes membership changes on the leader (members.go),
	// and keeps them out of a backup restore (backup.go).
	membersMu sync.Mutex

	restoreMu sync.Mutex // one backup restore at a time (backup.go)

	stop chan struct{}
	// life ends when stop closes: the context of work that outlives the
	// request that started it (join, JetStream peer removal).
	life    context.Context
	endLife context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

// New validates cfg, binds the HTTP and Raft listeners and builds the node. It
// starts no goroutines; call Start.
func New(cfg Config) (*Node, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node_id", cfg.ID), peers: map[string]Peer{}, stop: make(chan struct{})}
	n.life, n.endLife = context.WithCancel(context.Background())
	n.owners = newOwners(n.log)
	m, err := fsm.New(fsm.Config{Settings: cfg.Settings, Logger: n.log, OnApply: n.onApply})
	if err != nil {
		return nil, err
	}
	n.machine = m
	if n.met, err = newMetrics(n); err != nil {
		return nil, err
	}
	n.api, err = api.New(api.Config{Backend: n, Settings: cfg.API, Logger: n.log, WriteTimeout: cfg.WriteTimeout, NodeID: cfg.ID,
		Registry: n.met.reg, Metrics: n.met.handler(cfg.MetricsRequireCert)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err)
	}
	n.httpLn = tls.NewListener(ln, cfg.TLS.ServerConfig(tls.VerifyClientCertIfGiven))
	n.trans, err = transport.NewRaftTransport(transport.RaftConfig{
		BindAddr: cfg.RaftAddr, Advertise: cfg.RaftAdvertise, TLS: cfg.TLS, Links: cfg.Links, Logger: n.log,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	dial := dialer.DialContext
	if cfg.Links != nil {
		dial = cfg.Links.DialContext(dialer)
	}
	n.client = &http.Client{
		Timeout: cfg.WriteTimeout,
		Transport: &http.Transport{
			TLSClientConfig:     cfg.TLS.ClientConfig(),
			DialContext:         dial,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 128, // every concurrent forwarded write keeps its connection: no TLS handshake churn
			IdleConnTimeout:     90 * time.Second,
		},
	}
	n.srv = &http.Server{
		Handler:           n.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

// HTTPAddr is the bound HTTPS address.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// RaftAddr is the bound Raft address.
func (n *Node) RaftAddr() string { return string(n.trans.Addr()) }

// ID is the node id.
func (n *Node) ID() string { return n.cfg.ID }

// Machine is the node's state machine (for tests and the decision path).
func (n *Node) Machine() *fsm.Machine { return n.machine }

// API is the node's HTTP handler.
func (n *Node) API() *api.API { return n.api }

// Start opens the Raft stores, bootstraps a new cluster from peers (which must
// include this node) when the data dir holds no state, and starts serving.
// With Config.Join and no state it does not bootstrap but asks the cluster to
// add it (join.go); peers then name the running members (their NATS routes
// seed the embedded server) and, optionally, this node's own addresses. A node
// with state neither bootstraps nor joins: Raft's stored configuration rules.
func (n *Node) Start(peers []Peer) error {
	n.setPeers(peers)
	if err := n.startNATS(peers); err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(n.cfg.DataDir, "raft.db"),
		// The freelist is rebuilt by scanning on open instead of being written
		// with every commit: each StoreLogs then writes fewer pages before its
		// fsync. Consul runs its raft-boltdb the same way.
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return fmt.Errorf("open raft store: %w", err)
	}
	n.store = store
	hlog := transport.HCLog(n.log.With("component", "raft"))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.Logger = hlog
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	joining := !has && len(n.cfg.Join) > 0
	_, named := n.staticPeer(n.cfg.ID)
	switch {
	case has, joining:
	case !named:
		// Not one of the initial peers: wait to be added by
		// POST /_plugins/_authz/cluster/peers on a member.
		n.log.Info("not in the initial peers and no join urls: waiting to be added to a cluster")
	default:
		var servers []raft.Server
		for _, p := range peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("bootstrap raft: %w", err)
		}
		n.log.Info("bootstrapped new raft cluster", "peers", len(peers))
	}
	// Raft reads the previous entry of every AppendEntries and the entries it
	// replicates back from the log store; the cache serves recent entries from
	// memory instead of decoding them from bolt again (a whole configuration
	// of 100k users is one entry of megabytes).
	logs, err := raft.NewLogCache(256, store)
	if err != nil {
		return fmt.Errorf("raft log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, &meteredFSM{m: n.machine, met: n.met}, logs, store, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	leaders := n.watchLeaders()
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.initializeConfig()
	}()
	go func() {
		defer n.wg.Done()
		leaders()
	}()
	if joining {
		// No bootstrap: the node waits, as a member of no configuration, until
		// the leader adds it and sends it the log or a snapshot.
		self, ok := n.staticPeer(n.cfg.ID)
		if !ok {
			self = Peer{ID: n.cfg.ID, NATSRoute: n.natsRoute()}
		}
		if self.RaftAddr == "" {
			self.RaftAddr = n.RaftAddr()
		}
		if self.HTTPAddr == "" {
			self.HTTPAddr = n.HTTPAddr()
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.join(self)
		}()
	}
	n.log.Info("node started", "http", n.HTTPAddr(), "raft", n.RaftAddr())
	return nil
}

// initializeConfig proposes the bootstrap configuration once this node leads a
// cluster whose configuration is not initialized. The event is marked Bootstrap,
// so a duplicate from a racing leader is a no-op in the FSM.
func (n *Node) initializeConfig() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.machine.View().Initialized {
			return
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		// Apply everything already in the log before deciding.
		if err := n.raft.Barrier(n.cfg.WriteTimeout).Error(); err != nil || n.machine.View().Initialized {
			continue
		}
		cfg, err := n.cfg.Bootstrap()
		if err != nil {
			n.log.Error("build bootstrap configuration", "err", err)
			return
		}
		data, err := events.Encode(events.ConfigReplace, events.Meta{Actor: "authzd", At: time.Now().UnixMilli(), RequestID: "bootstrap"},
			events.Replace{Docs: fsm.ReplaceDocs(cfg), Bootstrap: true})
		if err != nil {
			n.log.Error("encode bootstrap event", "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.WriteTimeout)
		res, err := n.ApplyLocal(ctx, data)
		cancel()
		if err != nil {
			n.log.Warn("bootstrap configuration not committed, will retry", "err", err)
			continue
		}
		n.log.Info("configuration initialized", "revision", res.Rev)
	}
}

// View is the current state (api.StateSource).
func (n *Node) View() *fsm.View { return n.machine.View() }

// WaitFor waits until rev is applied (api.StateSource).
func (n *Node) WaitFor(ctx context.Context, rev uint64) error { return n.machine.WaitFor(ctx, rev) }

// Close stops the node: leadership handed over when it leads, HTTP drained,
// then NATS (bus goroutines stopped, connection drained, embedded server shut
// down), then Raft shut down and the stores closed; each step is bounded by
// ShutdownTimeout.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	close(n.stop)
	n.endLife()
	var errs []error
	n.handOver()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		// Connections still busy (or opened and never used) after the drain
		// deadline are cut; that is the point of the deadline, not a failure.
		n.log.Debug("http drain deadline passed, closing remaining connections", "err", err)
		_ = n.srv.Close()
	}
	errs = append(errs, n.stopNATS()...)
	if n.raft != nil {
		if err := n.shutdownRaft(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	if err := n.trans.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close raft transport: %w", err))
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft store: %w", err))
		}
	}
	n.client.CloseIdleConnections()
	return errors.Join(errs...)
}

// shutdownRaft shuts Raft down and waits for it at most ShutdownTimeout.
// hashicorp/raft v1.7.3 can wait forever: when a pipelined replication's
// decoder stops (the leader stepped down, a stale term) while the sender's
// select picks another pipelined send over the closed finish channel, the send
// blocks handing its request to a decoder that waits for the stopped consumer
// (replication.go pipelineReplicate, net_transport.go netPipeline). Seen once
// in about 20 -race runs of TestMembership. Bounded, Close still returns (the
// stuck goroutine is left behind) and a stopping process can exit.
func (n *Node) shutdownRaft() error {
	done := make(chan error, 1)
	go func() { done <- n.raft.Shutdown().Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown raft: %w", err)
		}
		return nil
	case <-time.After(n.cfg.ShutdownTimeout):
		return fmt.Errorf("shutdown raft: not finished after %s (a raft replication goroutine is stuck)", n.cfg.ShutdownTimeout)
	}
}

// handOver transfers leadership to another voter when this node leads, before
// Close drains HTTP: draining, the node would still lead Raft while refusing
// the followers' forwards, so no write could commit until it had stopped and
// the others had noticed. Raft bounds the transfer (about twice the election
// timeout); if it fails, the others elect once Raft is shut down, as before.
func (n *Node) handOver() {
	if !n.IsLeader() {
		return
	}
	if f := n.raft.GetConfiguration(); f.Error() != nil || len(f.Configuration().Servers) < 2 {
		return
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		n.log.Warn("leadership transfer before shutdown failed", "err", err)
		return
	}
	n.log.Info("handed leadership over before shutdown")
}

func (n *Node) setPeers(peers []Peer) {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	for _, p := range peers {
		n.peers[p.ID] = p
	}
}

// staticPeer returns the static peer id.
func (n *Node) staticPeer(id string) (Peer, bool) {
	n.peersMu.RLock()
	defer n.peersMu.RUnlock()
	p, ok := n.peers[id]
	return p, ok
}

// peer returns the addresses of member id: the member directory's entry
// (replicated, so it knows members added at run time and moved ones), else
// the static peer.
func (n *Node) peer(id string) (Peer, bool) {
	if m, ok := n.machine.View().Member(id); ok {
		return Peer{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr, NATSRoute: m.NATSRoute}, true
	}
	return n.staticPeer(id)
}

// Status reports this node's view of the cluster (api.ClusterInfo).
func (n *Node) Status() api.ClusterStatus {
	v := n.machine.View()
	st := api.ClusterStatus{NodeID: n.cfg.ID, Revision: v.Rev, StateHash: v.Hash(), Peers: []api.Peer{}, NATS: n.natsStatus()}
	if n.raft == nil {
		st.State = "Starting"
		return st
	}
	st.State = n.raft.State().String()
	addr, id := n.raft.LeaderWithID()
	st.Leader, st.LeaderID = string(addr), string(id)
	st.CommitIdx = n.raft.CommitIndex()
	st.Term, _ = strconv.ParseUint(n.raft.Stats()["term"], 10, 64)
	st.Peers = n.peerList()
	return st
}

// Certificates returns the certificates the node presents: the same chain on
// HTTPS and on its Raft and forwarding links (api.CertificateSource).
func (n *Node) Certificates() (httpCerts, transportCerts []*x509.Certificate) {
	c := n.cfg.TLS.Certificates()
	return c, c
}

// ReloadCertificates reads the node's certificate and key files again
// (api.CertificateReloader); HTTPS and Raft share them, so kind does not matter.
func (n *Node) ReloadCertificates(kind string) error { return n.cfg.TLS.Reload() }

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool { return n.raft != nil && n.raft.State() == raft.Leader }

// Raft exposes the raft instance to tests in this module (leadership transfer, stats).
func (n *Node) Raft() *raft.Raft { return n.raft }
