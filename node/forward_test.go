package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/transport"
)

// TestForwardGivesUpOnAFrozenLeader is the regression test of a stall the
// container fault tests found (docs/testing.md, pause-leader): a follower that
// had forwarded a write to a leader which then froze (docker pause: the
// kernel still accepts the bytes, nothing answers) waited for the whole
// WriteTimeout, 10s, although the cluster had elected a new leader after
// about 2s. Now a forward is abandoned as soon as the node knows a different
// leader: the write's outcome is unknown (it reached the old leader), so the
// client gets the 503 that says so, seconds earlier.
//
// Here node n1 leads a one-node cluster and forwards to "n2", a TLS server
// with n2's certificate that accepts the request and never answers.
func TestForwardGivesUpOnAFrozenLeader(t *testing.T) {
	dir := t.TempDir()
	pki, err := transport.EnsureDevPKI(filepath.Join(dir, "certs"), []string{"n1", "n2"})
	if err != nil {
		t.Fatal(err)
	}
	frozen := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-frozen:
		case <-r.Context().Done():
		}
	}))
	n2, err := transport.LoadTLS(pki.CAFile, pki.NodeCertFile("n2"), pki.NodeKeyFile("n2"))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = n2.ServerConfig(tls.VerifyClientCertIfGiven)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(frozen) })

	tm, err := transport.LoadTLS(pki.CAFile, pki.NodeCertFile("n1"), pki.NodeKeyFile("n1"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		ID: "n1", DataDir: filepath.Join(dir, "n1"), HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", TLS: tm,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		// Longer than the test's deadline, so that only giving up on the old
		// leader can end the forward in time.
		WriteTimeout: time.Minute,
		Bootstrap: func() (*authz.Config, error) {
			hash, err := authz.HashPassword("Forward-Test-Passw0rd!", 4)
			return authz.Bootstrap(hash), err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start([]Peer{{ID: "n1", RaftAddr: n.RaftAddr(), HTTPAddr: n.HTTPAddr()}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !n.IsLeader(); {
		if time.Now().After(deadline) {
			t.Fatal("n1 did not become leader")
		}
		select {
		case <-time.After(20 * time.Millisecond): // polling for a condition, as nodetest.Eventually does
		case <-t.Context().Done():
		}
	}

	// The forward would otherwise wait for this deadline: the test fails if
	// it ends only with it.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	_, err = n.forward(ctx, Peer{ID: "n2", HTTPAddr: strings.TrimPrefix(srv.URL, "https://")}, []byte("event"))
	if ctx.Err() != nil {
		t.Fatalf("the forward waited for its deadline: %v", err)
	}
	// Unknown once the request was written (it may have reached the old
	// leader), retry if it was not; either way because the leader changed.
	if !errors.Is(err, errLeaderChanged) || !(errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, errRetry)) {
		t.Fatalf("forward to a frozen old leader = %v, want it abandoned because the leader changed", err)
	}
}
