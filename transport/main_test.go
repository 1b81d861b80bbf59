package transport

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tLogWriter forwards log lines to t.Log until the test's cleanups have run, so
// a straggling goroutine cannot log into a finished test.
type tLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// testLogger returns a logger that writes to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	w := &tLogWriter{t: t}
	// Registered first, so it runs after every cleanup registered later.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// eventually polls f until it returns nil, failing the test with f's last error
// after timeout.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// testPKI creates a dev PKI for ids in a fresh temporary directory.
func testPKI(t testing.TB, ids ...string) *PKI {
	t.Helper()
	p, err := EnsureDevPKI(t.TempDir()+"/certs", ids)
	if err != nil {
		t.Fatalf("EnsureDevPKI: %v", err)
	}
	return p
}

// nodeTLS loads node id's material from p.
func nodeTLS(t testing.TB, p *PKI, id string) *TLSMaterial {
	t.Helper()
	m, err := LoadTLS(p.CAFile, p.NodeCertFile(id), p.NodeKeyFile(id))
	if err != nil {
		t.Fatalf("LoadTLS(%s): %v", id, err)
	}
	return m
}
