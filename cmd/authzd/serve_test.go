package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/nodetest"
	"github.com/authzd/authzd/transport/bustest"
)

// freePorts reserves n loopback ports for this test process (see
// bustest.FreeAddr), so the peers list can be written before the nodes start.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = bustest.FreeAddr(t)
	}
	return addrs
}

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestServeThreeNodes runs the binary's own commands in-process: `certs`, then
// three `serve --config FILE` nodes and a fourth that joins them as a read
// replica (--join --non-voter), a write on one node read back on others, and
// a clean stop of every node when the context ends.
func TestServeThreeNodes(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AUTHZD_INITIAL_ADMIN_PASSWORD", "Serve-Test-Passw0rd!")
	if out, err := run(t, t.Context(), "certs", "--dir", filepath.Join(dir, "certs"), "--nodes", "n1,n2,n3,n4"); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	// HTTPS, Raft, NATS client and NATS route ports of the four nodes.
	ports := freePorts(t, 16)
	var peers []string
	for i := range 4 {
		peers = append(peers, fmt.Sprintf("n%d=%s=%s=%s", i+1, ports[4+i], ports[i], ports[12+i]))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		// n1-n3 bootstrap with each other; n4 names all four and joins.
		nodePeers, extra := strings.Join(peers[:3], ","), []string(nil)
		if i == 3 {
			nodePeers, extra = strings.Join(peers, ","), []string{"--join", "https://" + ports[1], "--non-voter"}
		}
		id := fmt.Sprintf("n%d", i+1)
		cfg := fmt.Sprintf(`node_id: %s
data_dir: %s
http_addr: %s
raft_addr: %s
peers: %s
ca_file: %s
cert_file: %s
key_file: %s
nats_client_addr: %s
nats_route_addr: %s
settings:
  plugins.security.password.hashing.bcrypt.rounds: 4
`, id, filepath.Join(dir, id), ports[i], ports[4+i], nodePeers,
			filepath.Join(dir, "certs", "ca.pem"), filepath.Join(dir, "certs", "node-"+id+".pem"), filepath.Join(dir, "certs", "node-"+id+"-key.pem"),
			ports[8+i], ports[12+i])
		file := filepath.Join(dir, id+".yml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := run(t, ctx, append([]string{"serve", "--config", file, "--log-level", "error"}, extra...)...); err != nil {
				errs <- fmt.Errorf("serve %s: %v\n%s", id, err, out)
			}
		}()
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		}
	}
	defer stop()

	client := httpsClient(t, filepath.Join(dir, "certs", "ca.pem"))
	do := func(method, addr, path, body string) (int, http.Header, string) {
		req, err := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "Serve-Test-Passw0rd!")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for i := range 4 {
		nodetest.Eventually(t, 30*time.Second, func() error {
			out, err := run(t, t.Context(), "health", "--url", "https://"+ports[i], "--ca-file", filepath.Join(dir, "certs", "ca.pem"))
			if err != nil {
				return fmt.Errorf("node %d: %v %s", i+1, err, out)
			}
			return nil
		})
	}
	var rev string
	nodetest.Eventually(t, 30*time.Second, func() error {
		// The configuration is initialized right after the first leader is elected.
		code, hdr, body := do("PUT", ports[0], "/_plugins/_security/api/tenants/ops", `{"description":"Operations"}`)
		if code != http.StatusCreated {
			return fmt.Errorf("PUT tenant = %d %s", code, body)
		}
		rev = hdr.Get("X-Authz-Revision")
		return nil
	})
	for _, i := range []int{2, 3} {
		code, _, body := do("GET", ports[i], "/_plugins/_security/api/tenants/ops?min_revision="+rev, "")
		if code != http.StatusOK || !strings.Contains(body, `"description":"Operations"`) {
			t.Fatalf("GET on node %d = %d %s", i+1, code, body)
		}
	}
	code, _, body := do("GET", ports[0], "/_plugins/_authz/cluster", "")
	if code != http.StatusOK || !strings.Contains(body, `"id":"n4"`) || !strings.Contains(body, `"suffrage":"Nonvoter"`) {
		t.Fatalf("cluster status = %d %s", code, body)
	}
	stop()
}

func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestPasswordCommand(t *testing.T) {
	out, err := run(t, t.Context(), "password")
	if err != nil || len(strings.TrimSpace(out)) < 20 {
		t.Fatalf("password = %q, %v", out, err)
	}
	root := newRoot()
	var buf bytes.Buffer
	root.SetOut(&buf)
	root.SetIn(strings.NewReader("Correct-Horse-9\n"))
	root.SetArgs([]string{"password", "--hash", "--rounds", "4"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if h := strings.TrimSpace(buf.String()); !authz.VerifyPassword(h, "Correct-Horse-9") {
		t.Fatalf("hash %q does not verify", h)
	}
}

// TestMergeMetricsRequireCert: metrics_require_cert comes from the file
// unless --metrics-require-cert is given.
func TestMergeMetricsRequireCert(t *testing.T) {
	for _, tc := range []struct {
		name string
		file bool
		args []string
		want bool
	}{
		{"file only", true, nil, true},
		{"flag overrides file", true, []string{"--metrics-require-cert=false"}, false},
		{"flag alone", false, []string{"--metrics-require-cert"}, true},
		{"neither", false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := serveCmd()
			if err := cmd.Flags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var flags serveFile
			flags.MetricsRequireCert, _ = cmd.Flags().GetBool("metrics-require-cert")
			dst := serveFile{MetricsRequireCert: tc.file}
			mergeServe(&dst, flags, cmd)
			if dst.MetricsRequireCert != tc.want {
				t.Errorf("MetricsRequireCert = %v, want %v", dst.MetricsRequireCert, tc.want)
			}
		})
	}
}
