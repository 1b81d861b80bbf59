package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEventsFollow: `authzctl events --follow` connected to node 1 prints a
// change made on node 3 as it is committed, and replays from --from.
func TestEventsFollow(t *testing.T) {
	c := nodetest.Start(t)
	first := c.Admin(2, http.MethodPut, "/_plugins/_security/api/tenants/before", `{"description":"x"}`)
	if first.Status != http.StatusCreated {
		t.Fatalf("setup: %s", first)
	}
	envs := map[string]string{
		"AUTHZD_URL":       "https://" + c.Peers[0].HTTPAddr,
		"AUTHZD_CA_FILE":   c.PKI.CAFile,
		"AUTHZD_CERT_FILE": c.PKI.AdminCertFile(),
		"AUTHZD_KEY_FILE":  c.PKI.AdminKeyFile(),
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json", "--from", first.Header.Get("X-Authz-Revision")},
			env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return envs[k] }})
	}()
	// The change from before the follow started is replayed from --from.
	nodetest.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(out.String(), `"tenants/before"`) {
			return fmt.Errorf("replayed change not printed yet; stdout %q stderr %q", out.String(), errOut.String())
		}
		return nil
	})
	later := c.Admin(2, http.MethodPut, "/_plugins/_security/api/tenants/later", `{"description":"x"}`)
	if later.Status != http.StatusCreated {
		t.Fatalf("later change: %s", later)
	}
	want := fmt.Sprintf(`"revision":%s,"type":"tenant.put","keys":["tenants/later"]`, later.Header.Get("X-Authz-Revision"))
	nodetest.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(out.String(), want) {
			return fmt.Errorf("change not printed yet; stdout %q", out.String())
		}
		return nil
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("follow exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
}
