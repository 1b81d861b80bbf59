package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/fsm"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/transport/bus"
)

// NATSConfig configures a node's NATS: by default an embedded server
// clustered with the peers' embedded servers; with URL set, an external
// cluster instead. Zero values mean the defaults of withDefaults.
type NATSConfig struct {
	// URL, if set, is the external NATS cluster (comma-separated URLs,
	// --nats-url); no server is embedded then.
	URL string
	// CredsFile is the NATS credentials file for an external cluster.
	CredsFile string
	// TLS is the client TLS configuration for an external cluster; nil means
	// the node's cluster TLS material (mutual TLS). It is always the cluster
	// material for the embedded servers.
	TLS *tls.Config
	// ClientAddr is the embedded server's client listen address; default
	// 127.0.0.1:4222, "127.0.0.1:0" picks a port.
	ClientAddr string
	// RouteAddr is the embedded server's route listen address (its port must
	// be known to the peers: see Peer.NATSRoute); default 127.0.0.1:6222.
	RouteAddr string
	// Replicas is the replica count of the change stream and ownership
	// bucket; default min(3, number of peers) for embedded servers and
	// min(3, servers in the cluster) for an external one.
	Replicas int
	// ReadyAttempt bounds one attempt to reach JetStream at start-up; attempts
	// repeat with backoff until JetStream is ready or the node closes.
	// Default 5s.
	ReadyAttempt time.Duration
	// ChangeQueue is the capacity of the change publication queue; default 4096.
	ChangeQueue int
	// OwnerWait bounds how long a request waits for min_seq (read-your-writes
	// on ownership records); default 5s.
	OwnerWait time.Duration
}

func (c *NATSConfig) withDefaults() {
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:4222"
	}
	if c.RouteAddr == "" {
		c.RouteAddr = "127.0.0.1:6222"
	}
	if c.ReadyAttempt == 0 {
		c.ReadyAttempt = 5 * time.Second
	}
	if c.ChangeQueue == 0 {
		c.ChangeQueue = 4096
	}
	if c.OwnerWait == 0 {
		c.OwnerWait = 5 * time.Second
	}
}

func (c *NATSConfig) validate() error {
	var errs []error
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("nats replicas must be 0 (default) to 5, got %d", c.Replicas))
	}
	if c.URL == "" && (c.CredsFile != "" || c.TLS != nil) {
		errs = append(errs, errors.New("nats creds and TLS options apply only to an external cluster (nats url)"))
	}
	return errors.Join(errs...)
}

// Bus is what the node uses of NATS (transport/bus.Bus implements it),
// composed from the roles its parts call.
type Bus interface {
	busLifecycle
	flushBus
	ownerBus
	ownerWatcher
	changeReader
}

// changeReader follows the change stream for clients without NATS access.
type changeReader interface {
	Changes(ctx context.Context, from uint64) (*bus.ChangeSub, error)
}

// busLifecycle is start-up readiness, status and shutdown.
type busLifecycle interface {
	WaitReady(ctx context.Context) error
	IsReady() bool
	IsConnected() bool
	ConnectedURL() string
	Replicas() int
	Close(timeout time.Duration) error
}

// flushBus broadcasts and receives credential cache flushes.
type flushBus interface {
	PublishFlush(ctx context.Context, f bus.Flush) error
	SubscribeFlush(fn func(bus.Flush)) (*bus.Subscription, error)
}

// ownerBus writes and reads ownership records.
type ownerBus interface {
	CreateOwner(ctx context.Context, key string, value []byte) (uint64, error)
	GetOwner(ctx context.Context, key string) (bus.Entry, error)
	DeleteOwner(ctx context.Context, key string, seq uint64) (uint64, error)
}

// ownerWatcher feeds the ownership index.
type ownerWatcher interface {
	WatchOwners(ctx context.Context) (*bus.OwnerWatch, error)
	IsConnected() bool
}

// IsExternal reports whether the node uses an external NATS cluster.
func (c *NATSConfig) IsExternal() bool { return c.URL != "" }

// startNATS starts the embedded server (unless external), connects the bus
// and starts the goroutine that waits for JetStream and then runs the
// change publisher, the flush subscription and the ownership watch.
func (n *Node) startNATS(peers []Peer) error {
	c := n.cfg.NATS
	urls := strings.Split(c.URL, ",")
	tlsc := c.TLS
	replicas := c.Replicas
	if replicas == 0 && !c.IsExternal() {
		replicas = min(3, max(1, len(peers)))
	}
	if !c.IsExternal() {
		var routes []string
		for _, p := range peers {
			if p.NATSRoute != "" {
				routes = append(routes, p.NATSRoute)
			}
		}
		if len(peers) <= 1 {
			routes = nil // a single node runs a standalone server
		} else if len(routes) < len(peers) {
			// Without every route the servers would form separate JetStream
			// domains: ownership records and the change stream would silently
			// differ per node.
			return fmt.Errorf("embedded nats: every peer needs its route address (--peers id=raft=http=nats_route), or use an external cluster (--nats-url)")
		}
		var advertise string // the route address the peers were given for this node
		for _, p := range peers {
			if p.ID == n.cfg.ID {
				advertise = p.NATSRoute
			}
		}
		srv, err := bus.NewServer(bus.ServerConfig{
			Name: n.cfg.ID, DataDir: filepath.Join(n.cfg.DataDir, "nats"),
			ClientAddr: c.ClientAddr, RouteAddr: c.RouteAddr, Routes: routes, Advertise: advertise,
			TLS: n.cfg.TLS, Logger: n.log,
		})
		if err != nil {
			return err
		}
		if err := srv.Start(); err != nil {
			return err
		}
		n.natsSrv = srv
		urls = []string{srv.ClientURL()}
		tlsc = n.cfg.TLS.ClientConfig()
	}
	b, err := bus.New(bus.Config{
		URLs: urls, Name: n.cfg.ID, TLS: tlsc, CredsFile: c.CredsFile, Replicas: replicas,
		RequestTimeout: c.ReadyAttempt, Logger: n.log,
	})
	if err != nil {
		return err
	}
	if err := b.Connect(); err != nil {
		return err
	}
	n.bus, n.conn = b, b
	n.pub = bus.NewPublisher(meteredChanges{Bus: b, met: n.met}, c.ChangeQueue, n.log)
	ctx, cancel := context.WithCancel(context.Background())
	n.busCancel = cancel
	n.busWG.Add(1)
	go func() {
		defer n.busWG.Done()
		n.runBus(ctx)
	}()
	return nil
}

// runBus waits for JetStream, then runs the bus consumers until ctx ends.
func (n *Node) runBus(ctx context.Context) {
	if err := n.bus.WaitReady(ctx); err != nil {
		return // only when the node closes: WaitReady retries until then
	}
	sub, err := n.bus.SubscribeFlush(n.onFlush)
	if err != nil {
		n.log.Error("subscribe to cache flushes", "err", err)
	} else {
		defer func() { _ = sub.Stop() }()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.pub.Run(ctx)
	}()
	n.owners.run(ctx, n.bus)
	<-done
}

// natsShutdownTimeout is the least time the embedded server gets to shut down.
const natsShutdownTimeout = 20 * time.Second

// stopNATS stops the bus goroutines, drains the connection and shuts the
// embedded server down, each bounded by the shutdown timeout. The connection
// closes before the goroutines are waited for: one may be inside a JetStream
// call that only a closed connection ends early (the ordered consumers retry
// recreating themselves, each try with its own timeout).
func (n *Node) stopNATS() []error {
	var errs []error
	if n.busCancel != nil {
		n.busCancel()
	}
	if n.bus != nil {
		if err := n.bus.Close(n.cfg.ShutdownTimeout); err != nil {
			errs = append(errs, fmt.Errorf("close nats connection: %w", err))
		}
	}
	if n.busCancel != nil {
		done := make(chan struct{})
		go func() { n.busWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(n.cfg.ShutdownTimeout):
			errs = append(errs, fmt.Errorf("bus goroutines still running after %s", n.cfg.ShutdownTimeout))
		}
	}
	if n.natsSrv != nil {
		// A clustered JetStream server flushes its streams and steps down from
		// its raft groups on shutdown; on a loaded machine that takes longer
		// than an HTTP drain, and cutting it short leaves its goroutines behind.
		if err := n.natsSrv.Close(max(n.cfg.ShutdownTimeout, natsShutdownTimeout)); err != nil {
			errs = append(errs, fmt.Errorf("close nats server: %w", err))
		}
	}
	return errs
}

// onApply runs on raft's FSM goroutine after every apply: it queues the
// change for the change stream (never blocking) and drops the cached
// credentials of every internal user the change touched, on this node, so
// that every node does it from its own apply.
func (n *Node) onApply(v *fsm.View, env events.Envelope, res fsm.Result) {
	if env.Type == "" { // a snapshot restore replaced everything
		n.api.FlushCredentials()
		return
	}
	if res.Err != nil || len(res.Keys) == 0 {
		return
	}
	var users []string
	for _, k := range res.Keys {
		if name, ok := strings.CutPrefix(k, "internalusers/"); ok {
			users = append(users, name)
		}
	}
	if len(users) > 0 {
		n.api.FlushCredentials(users...)
	}
	if n.pub != nil {
		n.pub.Enqueue(bus.Change{Revision: res.Rev, Type: string(env.Type), Keys: res.Keys, Actor: env.Actor, At: env.At})
	}
}

// onFlush serves a cache flush broadcast (from any node, this one included).
func (n *Node) onFlush(f bus.Flush) {
	n.api.FlushCredentials(f.Users...)
}

// BroadcastFlush drops cached credentials (all, or the users') on this node
// and asks every node to do the same (api.Flusher).
func (n *Node) BroadcastFlush(ctx context.Context, users []string) error {
	n.api.FlushCredentials(users...)
	if n.bus == nil {
		return fmt.Errorf("broadcast cache flush: %w", api.ErrBusUnavailable)
	}
	if err := n.bus.PublishFlush(ctx, bus.Flush{Users: users, Origin: n.cfg.ID}); err != nil {
		return fmt.Errorf("broadcast cache flush: %w: %w", api.ErrBusUnavailable, err)
	}
	return nil
}

// Bus is the node's NATS connection (for tests and tools in this module,
// e.g. to subscribe to the change stream).
func (n *Node) Bus() *bus.Bus { return n.conn }

// NATSClientURL is the embedded server's client URL, "" when external.
func (n *Node) NATSClientURL() string {
	if n.natsSrv == nil {
		return ""
	}
	return n.natsSrv.ClientURL()
}

// JetStreamMetaSize is the size of JetStream's meta group as the embedded
// server knows it, 0 when external or not known.
func (n *Node) JetStreamMetaSize() int {
	if n.natsSrv == nil {
		return 0
	}
	return n.natsSrv.JetStreamMetaSize()
}

// natsStatus is the nats part of the cluster status.
func (n *Node) natsStatus() *api.NATSStatus {
	if n.bus == nil {
		return nil
	}
	st := &api.NATSStatus{
		Mode: "embedded", URL: n.bus.ConnectedURL(), Connected: n.bus.IsConnected(), JetStreamReady: n.bus.IsReady(),
		Replicas: n.bus.Replicas(), ChangesPublished: n.pub.Published(), ChangesDropped: n.pub.Dropped(), ChangesPending: n.pub.Pending(),
	}
	if n.cfg.NATS.IsExternal() {
		st.Mode = "external"
	}
	if n.natsSrv != nil {
		st.MetaLeader = n.natsSrv.IsJetStreamLeader()
	}
	o := n.owners.status()
	st.OwnersLoaded, st.OwnersSeq, st.OwnersRecords, st.StaleMS = o.loaded, o.seq, o.records, o.staleMS
	st.Ready = st.Connected && st.JetStreamReady && st.OwnersLoaded
	return st
}

// FollowChanges calls each for every change of the change stream from
// revision from on (0: new changes only), in order, until ctx ends or each
// returns an error (api.ChangeFollower).
func (n *Node) FollowChanges(ctx context.Context, from uint64, each func(bus.Change) error) error {
	if n.bus == nil {
		return errors.New("no NATS connection")
	}
	sub, err := n.bus.Changes(ctx, from)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		c, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		if err := each(c); err != nil {
			return err
		}
	}
}

// natsRoute is the embedded server's route address, "" without one.
func (n *Node) natsRoute() string {
	if n.natsSrv == nil {
		return ""
	}
	return n.natsSrv.RouteAddr()
}
