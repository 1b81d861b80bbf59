package bus

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/authzd/authzd/transport"
)

// ClusterName is the NATS cluster name of embedded servers.
const ClusterName = "authzd"

// ServerConfig configures an embedded NATS server. Zero values mean the
// defaults of withDefaults.
type ServerConfig struct {
	// Name is the server name, unique in the cluster (the authzd node id).
	Name string
	// DataDir is the directory under which JetStream stores its files
	// (DataDir/jetstream).
	DataDir string
	// ClientAddr is the client listen address; "127.0.0.1:0" picks a port.
	// Default 127.0.0.1:4222.
	ClientAddr string
	// RouteAddr is the cluster (route) listen address. Ignored for a single
	// server (Routes empty). Default 127.0.0.1:6222. Its port must be known
	// to the other servers before they start, so it should not be 0.
	RouteAddr string
	// Routes are the host:port route addresses of every server of the
	// cluster; this server's own address may be included (it is ignored).
	// JetStream needs them all at start to size its meta group, so that a
	// minority of the servers cannot elect a leader on its own.
	Routes []string
	// Advertise is the host:port the other servers dial for this one's
	// routes (its entry in Routes), gossiped instead of the bound IP so that
	// a route learned from a peer is dialed by the name the certificate
	// covers. Empty: the bound address.
	Advertise string
	// TLS is the cluster's certificate material. Routes and client
	// connections use mutual TLS with it: only holders of a certificate
	// signed by the cluster CA may connect.
	TLS *transport.TLSMaterial
	// MaxMemory bounds JetStream memory storage; default 64 MiB (authzd keeps
	// its streams on disk).
	MaxMemory int64
	// ReadyTimeout bounds the wait for the server to accept connections in
	// Start; default 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's log lines (notices at Debug, warnings at
	// Warn); nil discards them.
	Logger *slog.Logger
}

func (c *ServerConfig) withDefaults() {
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:4222"
	}
	if c.RouteAddr == "" {
		c.RouteAddr = "127.0.0.1:6222"
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = 64 << 20
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate returns every problem of the configuration at once.
func (c *ServerConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("server name is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if c.TLS == nil {
		errs = append(errs, errors.New("TLS material is required"))
	}
	if _, _, err := splitHostPort(c.ClientAddr); err != nil {
		errs = append(errs, fmt.Errorf("client address: %w", err))
	}
	if _, _, err := splitHostPort(c.RouteAddr); err != nil {
		errs = append(errs, fmt.Errorf("route address: %w", err))
	}
	for _, r := range c.Routes {
		if _, _, err := splitHostPort(r); err != nil {
			errs = append(errs, fmt.Errorf("route %q: %w", r, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid nats server config: %w", errors.Join(errs...))
	}
	return nil
}

// Server is an embedded nats-server with JetStream, clustered with the other
// authzd nodes by routes when there are any.
type Server struct {
	cfg ServerConfig
	ns  *server.Server
	// systemPassword is the password of systemUser on this server: random
	// per process, known only to it (see serverOptions).
	systemPassword string
}

// The embedded server's users. Every client that sends no credentials (the
// node's own connection, PEPs: all of them authenticate by their
// certificate) is clientUser, in the global account, which holds the
// streams. systemUser, in the system account, is for requests only the
// system account may make (RemovePeer); its password never leaves the
// process.
const (
	clientUser = "authzd"
	systemUser = "authzd-system"
)

// NewServer validates cfg and builds the server. It binds nothing and starts
// no goroutines; call Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	systemPassword, err := randomSecret()
	if err != nil {
		return nil, err
	}
	opts, err := serverOptions(cfg, systemPassword)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("new nats server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{cfg.Logger.With("component", "nats")}, false, false, false)
	return &Server{cfg: cfg, ns: ns, systemPassword: systemPassword}, nil
}

// randomSecret is 32 random bytes, hex-encoded.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func serverOptions(cfg ServerConfig, systemPassword string) (*server.Options, error) {
	host, port, _ := splitHostPort(cfg.ClientAddr)
	mtls := mutualTLS(cfg.TLS)
	opts := &server.Options{
		ServerName:             cfg.Name,
		Host:                   host,
		Port:                   port,
		NoSigs:                 true,
		MaxPayload:             8 << 20,
		JetStream:              true,
		StoreDir:               filepath.Join(cfg.DataDir, "jetstream"),
		JetStreamMaxMemory:     cfg.MaxMemory,
		DisableJetStreamBanner: true,
		TLS:                    true,
		TLSVerify:              true,
		TLSConfig:              mtls,
		TLSTimeout:             5,
		// -1 would open a monitoring port; 0 leaves it closed.
		HTTPPort: 0,
	}
	// The system account is the server's default one, named so that the
	// servers of a cluster agree on it; declaring it leaves the global
	// account the only one with JetStream.
	sys := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	clientPassword, err := randomSecret() // never used: clients send no password
	if err != nil {
		return nil, err
	}
	opts.Accounts = []*server.Account{sys}
	opts.SystemAccount = server.DEFAULT_SYSTEM_ACCOUNT
	opts.Users = []*server.User{
		{Username: clientUser, Password: clientPassword},
		{Username: systemUser, Password: systemPassword, Account: sys},
	}
	opts.NoAuthUser = clientUser
	if len(cfg.Routes) == 0 {
		return opts, nil
	}
	rhost, rport, _ := splitHostPort(cfg.RouteAddr)
	opts.Cluster = server.ClusterOpts{
		Name:      ClusterName,
		Host:      rhost,
		Port:      rport,
		TLSConfig: mutualTLS(cfg.TLS),
		// Routes must be verified like any other peer.
		TLSTimeout:     5,
		ConnectRetries: -1, // keep trying configured routes; -1 means forever
		ConnectBackoff: true,
		// Every server is given every route. What a server gossips to
		// clients would be its bound IP (in a container 172.18.x.y), which
		// the node certificates, issued for the names peers dial, do not
		// cover: not advertised. To routes it gossips Advertise: without
		// it, the peers dial the IP for the route they learn, fail the
		// certificate check, and keep retrying (seen in make e2e, in a run
		// where the servers' JetStream lost quorum for minutes).
		NoAdvertise: true,
		Advertise:   cfg.Advertise,
	}
	for _, r := range cfg.Routes {
		u, err := url.Parse("nats-route://" + r)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r, err)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return opts, nil
}

// mutualTLS is a config that presents the node certificate and verifies
// peers against the cluster CA in both directions (a route is dialed and
// accepted with the same config).
func mutualTLS(m *transport.TLSMaterial) *tls.Config {
	c := m.ServerConfig(tls.RequireAndVerifyClientCert)
	c.RootCAs = m.ClientConfig().RootCAs
	return c
}

// Start starts the server and waits, bounded by ReadyTimeout, until it
// accepts client connections. It does not wait for JetStream to be ready
// in a cluster: that needs a quorum of servers which may start later (see
// Bus.WaitReady).
func (s *Server) Start() error {
	s.ns.Start()
	if !s.ns.ReadyForConnections(s.cfg.ReadyTimeout) {
		s.ns.Shutdown()
		return fmt.Errorf("nats server %s not ready for connections after %s", s.cfg.Name, s.cfg.ReadyTimeout)
	}
	return nil
}

// ClientURL is the tls:// URL clients on this machine connect to. A server
// bound to all interfaces (0.0.0.0 or ::, as in a container) is reached on
// loopback, an address the node certificates cover.
func (s *Server) ClientURL() string {
	addr, ok := s.ns.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return ""
	}
	ip := addr.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "tls://" + net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))
}

// RouteAddr is the bound route address, "" for a single server.
func (s *Server) RouteAddr() string {
	if a := s.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// RemovePeer removes the server named name from JetStream's meta group, as
// `nats server raft peer-remove` does: a member that left the authzd
// cluster must not go on counting toward JetStream's quorum, or a cluster
// that replaced two nodes could lose no further server. The request
// ($JS.API.SERVER.REMOVE) is answered by the meta leader and is accepted
// only from the system account, so it is sent as systemUser. A server
// removed while it runs disables its JetStream; when it was the meta leader
// it never answers, and while the group elects its successor nobody does,
// so an unanswered request is sent again, every removePeerWait, until ctx
// ends: ctx is the whole budget.
func (s *Server) RemovePeer(ctx context.Context, name string) error {
	nc, err := nats.Connect(s.ClientURL(), nats.Secure(s.cfg.TLS.ClientConfig()),
		nats.UserInfo(systemUser, s.systemPassword), nats.Name(s.cfg.Name+" system"),
		nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("jetstream peer remove %s: connect as the system account: %w", name, err)
	}
	defer nc.Close()
	// By peer id, not by name: the meta leader resolves a name only through
	// what it heard from that server while both ran, and a leader started
	// after the removed server stopped never did.
	req, err := json.Marshal(server.JSApiMetaServerRemoveRequest{Peer: MetaPeerID(name)})
	if err != nil {
		return err
	}
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(removePeerWait / 10):
		}
	}
	var last error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		actx, cancel := context.WithTimeout(ctx, removePeerWait)
		msg, err := nc.RequestWithContext(actx, server.JSApiRemoveServer, req)
		cancel()
		if err != nil {
			last = err
			if nc.IsClosed() {
				break // the server shut down
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				pause() // refused at once (no responders): not in a tight loop
			}
			continue
		}
		var resp server.JSApiMetaServerRemoveResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return fmt.Errorf("jetstream peer remove %s: answer %q: %w", name, msg.Data, err)
		}
		switch {
		case resp.Error == nil && resp.Success:
			return nil
		case resp.Error == nil:
			return fmt.Errorf("jetstream peer remove %s: not done", name)
		case resp.Error.ErrCode == uint16(server.JSClusterServerNotMemberErr) && attempt > 0:
			return nil // an unanswered request did it
		case resp.Error.ErrCode == uint16(server.JSClusterServerMemberChangeInflightErr):
			last = resp.Error
			pause()
			continue
		}
		return fmt.Errorf("jetstream peer remove %s: %w", name, resp.Error)
	}
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("jetstream peer remove %s: %w", name, last)
}

// MetaPeerID is the id nats-server gives the server named name in its Raft
// groups, JetStream's meta group among them: the first 8 bytes of the name's
// SHA-256, each mapped to one of 62 digits (nats-server's getHash, which it
// does not export; TestRemovePeer holds it to each server's Node()).
func MetaPeerID(name string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(name))
	id := make([]byte, 8)
	for i := range id {
		id[i] = digits[int(sum[i]%byte(len(digits)))]
	}
	return string(id)
}

// removePeerWait bounds one removal request of RemovePeer.
const removePeerWait = 3 * time.Second

// JetStreamMetaSize is the number of servers in JetStream's meta group as
// this server knows it, 0 when it knows no meta group.
func (s *Server) JetStreamMetaSize() int {
	info, err := s.ns.Jsz(nil)
	if err != nil || info.Meta == nil {
		return 0
	}
	return info.Meta.Size
}

// Config is the configuration the server was built with, defaults filled
// in: the same server started again (bustest.Restart) is NewServer(Config()).
func (s *Server) Config() ServerConfig { return s.cfg }

// IsRunning reports whether the server is running (started, not shut down).
func (s *Server) IsRunning() bool { return s.ns.Running() }

// IsJetStreamLeader reports whether this server leads the JetStream meta group.
func (s *Server) IsJetStreamLeader() bool { return s.ns.JetStreamIsLeader() }

// Close shuts the server down and waits, at most timeout, until it stopped.
func (s *Server) Close(timeout time.Duration) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("nats server %s did not shut down within %s", s.cfg.Name, timeout)
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("invalid port %q", p)
	}
	if port == 0 {
		port = -1 // nats-server: -1 lets the OS pick
	}
	return host, port, nil
}

// natsLogger writes the server's log through slog, one level down: the
// server warns about routes not up yet and JetStream without a meta leader
// during every normal cluster start, and authzd reports its own degraded
// states (bus, owners) at Warn. Notices are Debug.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Info(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  {}
