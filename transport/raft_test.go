package transport

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// startStream starts a bare stream layer for node id, without Raft on top, so the
// test can call Accept itself.
func startStream(t *testing.T, m *TLSMaterial, timeout time.Duration) *streamLayer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := RaftConfig{BindAddr: ln.Addr().String(), TLS: m, Timeout: timeout, Logger: testLogger(t)}.withDefaults()
	s := newStreamLayer(ln, ln.Addr().String(), cfg)
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// acceptAsync calls s.Accept on a goroutine; the goroutine ends when s closes.
func acceptAsync(s *streamLayer) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := s.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// expectAccepted waits for the accept goroutine and checks that the accepted
// connection is the one whose local address is from.
func expectAccepted(t *testing.T, accepted <-chan net.Conn, from net.Addr) {
	t.Helper()
	select {
	case c, ok := <-accepted:
		if !ok {
			t.Fatal("Accept failed")
		}
		defer c.Close()
		if c.RemoteAddr().String() != from.String() {
			t.Fatalf("Accept returned the connection from %s, want %s", c.RemoteAddr(), from)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return the good connection within 5s")
	}
}

func TestStreamLayerRejectsUntrustedClients(t *testing.T) {
	cluster := testPKI(t, "n1", "n2")
	foreign := testPKI(t, "n1")
	server := startStream(t, nodeTLS(t, cluster, "n1"), 2*time.Second)
	accepted := acceptAsync(server)

	// Each client trusts the cluster CA, so only the server side can refuse it.
	noCert := &tls.Config{RootCAs: nodeTLS(t, cluster, "n1").ClientConfig().RootCAs, ServerName: "127.0.0.1"}
	foreignCert, err := LoadTLS(cluster.CAFile, foreign.NodeCertFile("n1"), foreign.NodeKeyFile("n1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		conf *tls.Config
	}{
		{"no client certificate", noCert},
		{"certificate of another CA", foreignCert.ClientConfig()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", server.Addr().String(), tc.conf)
			if err != nil {
				return // refused during the handshake
			}
			defer c.Close()
			// With TLS 1.3 the server verifies the client after the client's
			// handshake returns; the refusal arrives on the first read.
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte(preambleMagic))
			_, err = c.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("read after handshake: %v, want the server to refuse the connection", err)
			}
		})
	}

	// A cluster member still gets through, and is the first connection Accept
	// returns.
	client := startStream(t, nodeTLS(t, cluster, "n2"), 2*time.Second)
	c, err := client.Dial(raft.ServerAddress(server.Addr().String()), time.Second)
	if err != nil {
		t.Fatalf("cluster member dial: %v", err)
	}
	defer c.Close()
	expectAccepted(t, accepted, c.LocalAddr())
}

func TestStreamLayerRejectsUntrustedServer(t *testing.T) {
	cluster := testPKI(t, "n1", "n2")
	foreign := testPKI(t, "n1")
	foreignServer, err := LoadTLS(cluster.CAFile, foreign.NodeCertFile("n1"), foreign.NodeKeyFile("n1"))
	if err != nil {
		t.Fatal(err)
	}
	server := startStream(t, foreignServer, 2*time.Second)
	client := startStream(t, nodeTLS(t, cluster, "n2"), 2*time.Second)
	if c, err := client.Dial(raft.ServerAddress(server.Addr().String()), time.Second); err == nil {
		c.Close()
		t.Fatal("dial to a server with a certificate of another CA succeeded")
	}
}

func TestStreamLayerSilentClientDoesNotBlockAccept(t *testing.T) {
	p := testPKI(t, "n1", "n2")
	const handshakeTimeout = 300 * time.Millisecond
	server := startStream(t, nodeTLS(t, p, "n1"), handshakeTimeout)
	accepted := acceptAsync(server)

	silent, err := net.Dial("tcp", server.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	client := startStream(t, nodeTLS(t, p, "n2"), 2*time.Second)
	c, err := client.Dial(raft.ServerAddress(server.Addr().String()), time.Second)
	if err != nil {
		t.Fatalf("dial while a silent client is connected: %v", err)
	}
	defer c.Close()
	expectAccepted(t, accepted, c.LocalAddr())

	// The server drops the silent client once its handshake deadline passes.
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent client read: %v, want the server to close the connection", err)
	}
}

func TestRaftConfigValidate(t *testing.T) {
	m := &TLSMaterial{}
	tests := []struct {
		name    string
		cfg     RaftConfig
		wantErr bool
	}{
		{"minimal", RaftConfig{BindAddr: "127.0.0.1:0", TLS: m}, false},
		{"advertise host name", RaftConfig{BindAddr: ":0", Advertise: "node1:7000", TLS: m}, false},
		{"no bind address", RaftConfig{TLS: m}, true},
		{"no tls", RaftConfig{BindAddr: "127.0.0.1:0"}, true},
		{"unspecified advertise", RaftConfig{BindAddr: ":0", Advertise: "0.0.0.0:7000", TLS: m}, true},
		{"advertise port 0", RaftConfig{BindAddr: ":0", Advertise: "node1:0", TLS: m}, true},
		{"negative timeout", RaftConfig{BindAddr: ":0", TLS: m, Timeout: -1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tc.wantErr)
			}
		})
	}
	if _, err := NewRaftTransport(RaftConfig{BindAddr: "0.0.0.0:0", TLS: m}); err == nil {
		t.Error("NewRaftTransport on 0.0.0.0 without Advertise succeeded")
	}
}

// countFSM counts applied entries.
type countFSM struct{ n atomic.Uint64 }

func (f *countFSM) Apply(*raft.Log) any { return f.n.Add(1) }

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return countSnapshot(f.n.Load()), nil }

func (f *countFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.n.Store(binary.BigEndian.Uint64(b[:]))
	return nil
}

type countSnapshot uint64

func (s countSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, uint64(s))); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnapshot) Release() {}

type testNode struct {
	id    string
	raft  *raft.Raft
	trans *RaftTransport
	fsm   *countFSM
}

// startCluster starts n Raft nodes over RaftTransport; links(i) gives node i's
// Links (nil: a private one). Node 0 bootstraps the cluster.
func startCluster(t *testing.T, n int, links func(i int) *Links) []*testNode {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	p := testPKI(t, ids...)
	log := testLogger(t)

	nodes := make([]*testNode, n)
	t.Cleanup(func() {
		for _, nd := range nodes {
			if nd != nil && nd.raft != nil {
				if err := nd.raft.Shutdown().Error(); err != nil {
					t.Errorf("shutdown %s: %v", nd.id, err)
				}
			}
		}
		for _, nd := range nodes {
			if nd != nil {
				_ = nd.trans.Close()
			}
		}
	})
	var servers []raft.Server
	for i, id := range ids {
		tr, err := NewRaftTransport(RaftConfig{
			BindAddr: "127.0.0.1:0",
			TLS:      nodeTLS(t, p, id),
			Timeout:  2 * time.Second,
			Links:    links(i),
			Logger:   log.With("node", id),
		})
		if err != nil {
			t.Fatalf("transport %s: %v", id, err)
		}
		nodes[i] = &testNode{id: id, trans: tr, fsm: &countFSM{}}
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: tr.Addr()})
	}
	for _, nd := range nodes {
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(nd.id)
		conf.HeartbeatTimeout = 300 * time.Millisecond
		conf.ElectionTimeout = 300 * time.Millisecond
		conf.LeaderLeaseTimeout = 100 * time.Millisecond
		conf.CommitTimeout = 10 * time.Millisecond
		conf.Logger = HCLog(log.With("node", nd.id))
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(conf, nd.fsm, store, store, raft.NewInmemSnapshotStore(), nd.trans)
		if err != nil {
			t.Fatalf("raft %s: %v", nd.id, err)
		}
		nd.raft = r
	}
	if err := nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return nodes
}

// waitLeader waits until exactly one of nodes is leader and the others follow it.
func waitLeader(t *testing.T, nodes []*testNode, timeout time.Duration) *testNode {
	t.Helper()
	var leader *testNode
	eventually(t, timeout, func() error {
		leader = nil
		for _, nd := range nodes {
			if nd.raft.State() == raft.Leader {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and %s", leader.id, nd.id)
				}
				leader = nd
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		for _, nd := range nodes {
			if _, id := nd.raft.LeaderWithID(); id != raft.ServerID(leader.id) {
				return fmt.Errorf("%s follows %q, want %s", nd.id, id, leader.id)
			}
		}
		return nil
	})
	return leader
}

func apply(t *testing.T, leader *testNode) {
	t.Helper()
	if err := leader.raft.Apply([]byte("x"), 5*time.Second).Error(); err != nil {
		t.Fatalf("apply on %s: %v", leader.id, err)
	}
}

// waitApplied waits until every node's FSM has applied want entries.
func waitApplied(t *testing.T, nodes []*testNode, want uint64, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		for _, nd := range nodes {
			if got := nd.fsm.n.Load(); got != want {
				return fmt.Errorf("%s applied %d entries, want %d", nd.id, got, want)
			}
		}
		return nil
	})
}

func without(nodes []*testNode, skip *testNode) []*testNode {
	var out []*testNode
	for _, nd := range nodes {
		if nd != skip {
			out = append(out, nd)
		}
	}
	return out
}

func TestRaftClusterReplicates(t *testing.T) {
	nodes := startCluster(t, 3, func(int) *Links { return nil })
	leader := waitLeader(t, nodes, 10*time.Second)
	apply(t, leader)
	waitApplied(t, nodes, 1, 5*time.Second)
}

func TestRaftClusterPartition(t *testing.T) {
	tests := []struct {
		name string
		// shared reports whether all nodes use one Links.
		shared bool
		// cut isolates leader from the others, through the Links of node i.
		cut func(links []*Links, leader *testNode, others []*testNode)
	}{
		{
			name:   "shared links block the leader's address",
			shared: true,
			cut: func(links []*Links, leader *testNode, _ []*testNode) {
				links[0].Block(string(leader.trans.Addr()))
			},
		},
		{
			name:   "shared links block the leader's node id",
			shared: true,
			cut: func(links []*Links, leader *testNode, _ []*testNode) {
				links[0].Block(leader.id)
			},
		},
		{
			name: "the leader's own links block its peers",
			cut: func(_ []*Links, leader *testNode, others []*testNode) {
				for _, o := range others {
					leader.trans.Links().Block(string(o.trans.Addr()))
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			links := make([]*Links, 3)
			for i := range links {
				if tc.shared && i > 0 {
					links[i] = links[0]
				} else {
					links[i] = &Links{}
				}
			}
			nodes := startCluster(t, 3, func(i int) *Links { return links[i] })
			old := waitLeader(t, nodes, 10*time.Second)
			apply(t, old)
			waitApplied(t, nodes, 1, 5*time.Second)

			others := without(nodes, old)
			tc.cut(links, old, others)
			leader := waitLeader(t, others, 10*time.Second)
			apply(t, leader)
			waitApplied(t, others, 2, 5*time.Second)
			if got := old.fsm.n.Load(); got != 1 {
				t.Fatalf("isolated old leader applied %d entries, want 1", got)
			}

			for _, l := range links {
				l.UnblockAll()
			}
			waitApplied(t, nodes, 2, 15*time.Second)
			leader = waitLeader(t, nodes, 15*time.Second)
			apply(t, leader)
			waitApplied(t, nodes, 3, 5*time.Second)
		})
	}
}
