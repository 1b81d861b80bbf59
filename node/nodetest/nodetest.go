// Package nodetest starts real authzd nodes (Raft, bolt stores, embedded NATS, TLS, HTTPS) in the
// test process on 127.0.0.1 ports chosen by the OS, like net/http/httptest does
// for one server. It is imported only by tests.
package nodetest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/api"
	"github.com/authzd/authzd/transport"
	"github.com/authzd/authzd/transport/bus"
	"github.com/authzd/authzd/transport/bustest"
)

// AdminPassword is the initial admin password of test clusters.
const AdminPassword = "Test-Admin-Passw0rd!x"

type options struct {
	nodes    int
	settings map[string]any
	demo     bool
	config   *authz.Config
	tune     func(*node.Config)
	edit     func(*authz.Config)
	extNATS  bool
}

// Option changes how Start builds the cluster.
type Option func(*options)

// WithNodes sets the number of nodes (default 3).
func WithNodes(n int) Option { return func(o *options) { o.nodes = n } }

// WithSettings adds flat opensearch.yml-style settings.
func WithSettings(s map[string]any) Option {
	return func(o *options) {
		for k, v := range s {
			o.settings[k] = v
		}
	}
}

// WithDemo bootstraps with the whole demo configuration instead of the production one.
func WithDemo() Option { return func(o *options) { o.demo = true } }

// WithConfig bootstraps with cfg (statics added) plus the initial admin user
// mapped to all_access, e.g. a benchmark workload's configuration.
func WithConfig(cfg *authz.Config) Option { return func(o *options) { o.config = cfg } }

// WithBootstrapConfig lets a test change the bootstrap configuration (after
// the demo or production one is built), for example to add entities the REST
// API refuses to create, such as roles with restapi:admin/* permissions.
func WithBootstrapConfig(f func(*authz.Config)) Option { return func(o *options) { o.edit = f } }

// WithNodeConfig lets a test adjust every node's Config before it is built.
func WithNodeConfig(f func(*node.Config)) Option { return func(o *options) { o.tune = f } }

// WithExternalNATS makes the nodes use one separate NATS server (started by
// Start, reachable as Cluster.ExternalNATS) through NATSConfig.URL instead of
// embedding servers, so a test can take NATS away from a running cluster.
func WithExternalNATS() Option { return func(o *options) { o.extNATS = true } }

// Cluster is a running test cluster.
type Cluster struct {
	t     testing.TB
	opts  options
	PKI   *transport.PKI
	Peers []node.Peer
	Nodes []*node.Node // nil entries are stopped nodes
	Links []*transport.Links
	dirs  []string
	tls   []*transport.TLSMaterial
	// tunes are per-node adjustments (AddNode), kept for Restart.
	tunes    map[int]func(*node.Config)
	settings authz.Settings
	api      api.Settings
	// Client talks HTTPS to the nodes, trusting the cluster CA.
	Client *http.Client
	// AdminClient presents the super admin certificate.
	AdminClient *http.Client
	// ExternalNATS is the NATS server of WithExternalNATS, nil otherwise.
	ExternalNATS *bus.Server
	extNATSURL   string
	logs         *logSink
}

// Start builds and starts a cluster, waits until a leader exists and every node
// has applied the bootstrap configuration, and stops it in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{nodes: 3, settings: map[string]any{
		"plugins.security.authcz.admin_dn":                []any{"CN=kirk,OU=client,O=client,L=test,C=de"},
		"plugins.security.password.hashing.bcrypt.rounds": 4,
	}}
	for _, f := range opts {
		f(&o)
	}
	root := t.TempDir()
	ids := make([]string, o.nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	pki, err := transport.EnsureDevPKI(filepath.Join(root, "certs"), append(slices.Clone(ids), "nats-ext"))
	if err != nil {
		t.Fatalf("pki: %v", err)
	}
	s, err := authz.ParseSettings(o.settings)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	c := &Cluster{t: t, opts: o, PKI: pki, settings: s, api: apiSettings(t, o.settings), logs: newLogSink(t)}
	c.Client = c.httpClient(nil)
	admin, err := tls.LoadX509KeyPair(pki.AdminCertFile(), pki.AdminKeyFile())
	if err != nil {
		t.Fatalf("admin cert: %v", err)
	}
	c.AdminClient = c.httpClient(&admin)
	if o.extNATS {
		c.startExternalNATS(root)
	}
	for i, id := range ids {
		tm, err := transport.LoadTLS(pki.CAFile, pki.NodeCertFile(id), pki.NodeKeyFile(id))
		if err != nil {
			t.Fatalf("tls: %v", err)
		}
		c.tls = append(c.tls, tm)
		c.Links = append(c.Links, &transport.Links{})
		c.dirs = append(c.dirs, filepath.Join(root, id))
		// Every embedded server must know every route address before any
		// starts (JetStream sizes its meta group from them).
		route := ""
		if !o.extNATS && o.nodes > 1 {
			route = bustest.FreeAddr(t)
		}
		c.Peers = append(c.Peers, node.Peer{ID: id, NATSRoute: route})
		n := c.build(i, id, bustest.FreeAddr(c.t), bustest.FreeAddr(c.t))
		c.Nodes = append(c.Nodes, n)
		c.Peers[i].RaftAddr, c.Peers[i].HTTPAddr = n.RaftAddr(), n.HTTPAddr()
	}
	t.Cleanup(c.Close)
	for _, n := range c.Nodes {
		if err := n.Start(c.Peers); err != nil {
			t.Fatalf("start %s: %v", n.ID(), err)
		}
	}
	c.WaitReady()
	return c
}

func apiSettings(t testing.TB, flat map[string]any) api.Settings {
	t.Helper()
	as, err := api.NewSettings(flat)
	if err != nil {
		t.Fatalf("api settings: %v", err)
	}
	return as
}

func (c *Cluster) build(i int, id, httpAddr, raftAddr string) *node.Node {
	c.t.Helper()
	cfg := node.Config{
		ID: id, DataDir: c.dirs[i], HTTPAddr: httpAddr, RaftAddr: raftAddr, TLS: c.tls[i], Links: c.Links[i],
		Settings: c.settings, API: c.api,
		Logger: slog.New(slog.NewTextHandler(c.logs.writer(id), &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Raft's defaults: shorter timeouts made -race runs on two busy cores
		// lose leadership mid-test.
		HeartbeatTimeout: time.Second, ElectionTimeout: time.Second, LeaderLeaseTimeout: 500 * time.Millisecond,
		LeaderWait: 5 * time.Second, WriteTimeout: 10 * time.Second, ShutdownTimeout: 5 * time.Second,
		Bootstrap: func() (*authz.Config, error) {
			hash, err := authz.HashPassword(AdminPassword, 4)
			if err != nil {
				return nil, err
			}
			cfg := authz.Bootstrap(hash)
			if c.opts.demo {
				cfg = authz.Demo(hash)
			}
			if c.opts.config != nil {
				cfg = c.opts.config.Clone()
				base := authz.Bootstrap(hash)
				cfg.InternalUsers["admin"] = base.InternalUsers["admin"]
				cfg.RolesMapping["all_access"] = base.RolesMapping["all_access"]
				cfg.AddStatics()
			}
			if c.opts.edit != nil {
				c.opts.edit(cfg)
			}
			return cfg, nil
		},
	}
	cfg.NATS = node.NATSConfig{ClientAddr: "127.0.0.1:0", RouteAddr: c.Peers[i].NATSRoute, OwnerWait: 5 * time.Second}
	if c.opts.extNATS {
		cfg.NATS = node.NATSConfig{URL: c.extNATSURL, TLS: c.tls[i].ClientConfig(), ReadyAttempt: 2 * time.Second}
	}
	if c.opts.tune != nil {
		c.opts.tune(&cfg)
	}
	if f := c.tunes[i]; f != nil {
		f(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		c.t.Fatalf("new node %s: %v", id, err)
	}
	return n
}

// AddNode starts one more node, n<k>, with a node certificate of the cluster
// CA, an empty data dir and the running nodes as its static peers (it is not
// one of them, so it does not bootstrap). tune adjusts its Config, e.g. Join
// and NonVoter; without Join the node waits until a test adds it with POST
// /_plugins/_authz/cluster/peers (see PeerBody). It returns the node's index
// and does not wait for anything.
func (c *Cluster) AddNode(tune func(*node.Config)) int {
	c.t.Helper()
	i := len(c.Nodes)
	id := fmt.Sprintf("n%d", i+1)
	if _, err := transport.EnsureDevPKI(c.PKI.Dir, []string{id}); err != nil {
		c.t.Fatalf("pki for %s: %v", id, err)
	}
	tm, err := transport.LoadTLS(c.PKI.CAFile, c.PKI.NodeCertFile(id), c.PKI.NodeKeyFile(id))
	if err != nil {
		c.t.Fatalf("tls: %v", err)
	}
	c.tls = append(c.tls, tm)
	c.Links = append(c.Links, &transport.Links{})
	c.dirs = append(c.dirs, filepath.Join(filepath.Dir(c.dirs[0]), id))
	route := ""
	if !c.opts.extNATS {
		route = bustest.FreeAddr(c.t)
	}
	existing := slices.Clone(c.Peers)
	c.Peers = append(c.Peers, node.Peer{ID: id, NATSRoute: route})
	if tune != nil {
		if c.tunes == nil {
			c.tunes = map[int]func(*node.Config){}
		}
		c.tunes[i] = tune
	}
	n := c.build(i, id, bustest.FreeAddr(c.t), bustest.FreeAddr(c.t))
	c.Peers[i].RaftAddr, c.Peers[i].HTTPAddr = n.RaftAddr(), n.HTTPAddr()
	c.Nodes = append(c.Nodes, n)
	if err := n.Start(existing); err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	return i
}

// PeerBody is the JSON body that adds node i with POST
// /_plugins/_authz/cluster/peers.
func (c *Cluster) PeerBody(i int, voter bool) string {
	p := c.Peers[i]
	return fmt.Sprintf(`{"id":%q,"raft_address":%q,"http_address":%q,"nats_route":%q,"voter":%t}`, p.ID, p.RaftAddr, p.HTTPAddr, p.NATSRoute, voter)
}

// WaitReady waits until some node leads, every running node is initialized
// and every running node's NATS is ready (JetStream answers, ownership index
// loaded).
func (c *Cluster) WaitReady() {
	c.t.Helper()
	Eventually(c.t, 30*time.Second, func() error {
		if c.Leader() < 0 {
			return fmt.Errorf("no leader")
		}
		for _, n := range c.Nodes {
			if n == nil {
				continue
			}
			if !n.Machine().View().Initialized {
				return fmt.Errorf("%s not initialized", n.ID())
			}
			if st := n.Status().NATS; st == nil || !st.Ready {
				return fmt.Errorf("%s nats not ready: %+v", n.ID(), st)
			}
		}
		return nil
	})
}

// startExternalNATS starts the single server of WithExternalNATS.
func (c *Cluster) startExternalNATS(root string) {
	c.t.Helper()
	tm, err := transport.LoadTLS(c.PKI.CAFile, c.PKI.NodeCertFile("nats-ext"), c.PKI.NodeKeyFile("nats-ext"))
	if err != nil {
		c.t.Fatalf("tls: %v", err)
	}
	s, err := bus.NewServer(bus.ServerConfig{Name: "nats-ext", DataDir: filepath.Join(root, "nats-ext"), ClientAddr: "127.0.0.1:0", TLS: tm})
	if err != nil {
		c.t.Fatalf("external nats: %v", err)
	}
	if err := s.Start(); err != nil {
		c.t.Fatalf("external nats: %v", err)
	}
	c.ExternalNATS, c.extNATSURL = s, s.ClientURL()
}

// StopExternalNATS shuts the WithExternalNATS server down.
func (c *Cluster) StopExternalNATS() {
	c.t.Helper()
	if c.ExternalNATS == nil {
		return
	}
	if err := c.ExternalNATS.Close(10 * time.Second); err != nil {
		c.t.Errorf("stop external nats: %v", err)
	}
	c.ExternalNATS = nil
}

// Leader returns the index of the node that is leader, or -1.
func (c *Cluster) Leader() int {
	for i, n := range c.Nodes {
		if n != nil && n.IsLeader() {
			return i
		}
	}
	return -1
}

// Stop closes node i (its data stays).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if c.Nodes[i] == nil {
		return
	}
	if err := c.Nodes[i].Close(); err != nil {
		c.t.Errorf("close %s: %v", c.Nodes[i].ID(), err)
	}
	c.Nodes[i] = nil
}

// Restart starts node i again on its old addresses and data.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	n := c.build(i, c.Peers[i].ID, c.Peers[i].HTTPAddr, c.Peers[i].RaftAddr)
	if err := n.Start(c.Peers); err != nil {
		c.t.Fatalf("restart %s: %v", n.ID(), err)
	}
	c.Nodes[i] = n
}

// Isolate cuts every link between node i and the others (Raft and forwarding).
func (c *Cluster) Isolate(i int) {
	for j := range c.Peers {
		if j == i {
			continue
		}
		for _, a := range []string{c.Peers[j].RaftAddr, c.Peers[j].HTTPAddr} {
			c.Links[i].Block(a)
		}
		for _, a := range []string{c.Peers[i].RaftAddr, c.Peers[i].HTTPAddr} {
			c.Links[j].Block(a)
		}
	}
}

// Heal restores every link.
func (c *Cluster) Heal() {
	for _, l := range c.Links {
		l.UnblockAll()
	}
}

// Close stops every node.
func (c *Cluster) Close() {
	c.logs.markClosing()
	for i := range c.Nodes {
		c.Stop(i)
	}
	c.StopExternalNATS()
	c.Client.CloseIdleConnections()
	c.AdminClient.CloseIdleConnections()
}

// ClientFor returns an HTTPS client trusting the cluster CA that presents
// cert (nil: no client certificate). The cluster closes its idle connections
// when it stops.
func (c *Cluster) ClientFor(cert *tls.Certificate) *http.Client {
	cl := c.httpClient(cert)
	c.t.Cleanup(cl.CloseIdleConnections)
	return cl
}

func (c *Cluster) httpClient(cert *tls.Certificate) *http.Client {
	cfg := c.tlsFor()
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}}
}

func (c *Cluster) tlsFor() *tls.Config {
	tm, err := transport.LoadTLS(c.PKI.CAFile, c.PKI.AdminCertFile(), c.PKI.AdminKeyFile())
	if err != nil {
		c.t.Fatalf("load CA: %v", err)
	}
	cfg := tm.ClientConfig()
	cfg.Certificates, cfg.GetClientCertificate = nil, nil
	return cfg
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// Do sends a request to node i with basic auth as user:password (no auth when
// user is empty) and returns the response.
func (c *Cluster) Do(i int, method, path, user, password, body string) Response {
	c.t.Helper()
	return c.DoWith(c.Client, i, method, path, user, password, body)
}

// DoWith is Do with a given client (e.g. AdminClient).
func (c *Cluster) DoWith(client *http.Client, i int, method, path, user, password, body string) Response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+c.Peers[i].HTTPAddr+path, rd)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s on node %d: %v", method, path, i, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: bytes.TrimSpace(b)}
}

// Admin sends a request as the initial admin user.
func (c *Cluster) Admin(i int, method, path, body string) Response {
	c.t.Helper()
	return c.Do(i, method, path, "admin", AdminPassword, body)
}

// Eventually calls f until it returns nil or d passes, then fails with the
// last error (bustest.Eventually, which the bus tests use too).
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	bustest.Eventually(t, d, f)
}
