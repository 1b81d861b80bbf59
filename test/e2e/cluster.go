//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest/history"
	"github.com/authzd/authzd/transport"
)

// label marks every container, network and image a run creates, with the
// run's project name as value: `docker ps -a --filter label=authzd.e2e`
// finds leftovers of a run that was killed before its cleanup.
const label = "authzd.e2e"

// containers is a three-node authzd cluster in Docker, one run's own: a
// unique project name prefixes its image, networks and containers, so
// parallel runs and leftovers never collide.
//
// Each container sits on two networks: <project>-raft (internal, where the
// nodes find each other by the aliases n1..n3 for Raft and leader forwarding)
// and <project>-client (where 9200 is published on a loopback port of the
// host). Isolate disconnects a node from the Raft network only, so the test
// still reaches its API and can check what the cut-off side answers.
//
// It is a history.Cluster, history.Nemesis, history.Pauser and
// history.GracefulStopper. Do is safe for concurrent use; the nemesis methods
// are called one at a time.
type containers struct {
	t        testing.TB
	project  string
	image    string
	ids      []string
	dir      string
	password string
	user     string
	client   *http.Client

	mu    sync.RWMutex
	addrs []string // host:port of each node's 9200, refreshed on every start
}

// startContainers builds the image (unless E2E_IMAGE names one), creates the
// certificates, data directories and networks, and starts three nodes. It
// registers the cleanup first: containers, networks and the image are
// removed whatever happens, and the nodes' logs are printed when the test failed.
func startContainers(ctx context.Context, t testing.TB) *containers {
	t.Helper()
	c := &containers{
		t: t, project: "authzd-e2e-" + randomHex(4), ids: []string{"n1", "n2", "n3"},
		dir: t.TempDir(), password: "E2e-" + randomHex(12) + "!x",
	}
	c.addrs = make([]string, len(c.ids))
	t.Cleanup(c.cleanup)
	t.Logf("docker project %s", c.project)

	c.image = os.Getenv("E2E_IMAGE")
	if c.image == "" {
		c.image = c.project + ":latest"
		if err := c.buildImage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.prepareFiles(); err != nil {
		t.Fatal(err)
	}
	if _, err := docker(ctx, nil, "network", "create", "--internal", "--label", label+"="+c.project, c.project+"-raft"); err != nil {
		t.Fatal(err)
	}
	if _, err := docker(ctx, nil, "network", "create", "--label", label+"="+c.project, c.project+"-client"); err != nil {
		t.Fatal(err)
	}
	for i := range c.ids {
		if err := c.create(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.ids {
		if err := c.Start(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	pki := &transport.PKI{Dir: filepath.Join(c.dir, "pki"), CAFile: filepath.Join(c.dir, "pki", "ca.pem")}
	tm, err := transport.LoadTLS(pki.CAFile, pki.AdminCertFile(), pki.AdminKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg := tm.ClientConfig()
	cfg.Certificates = nil // the admin authenticates with its password
	c.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     cfg,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 64,
	}}
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the repository root: the test runs in test/e2e.
func moduleRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	return root, nil
}

// buildImage builds the static binary and the image from deploy/Dockerfile,
// as `make image` does, under the run's own tag.
func (c *containers) buildImage(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	stage := filepath.Join(c.dir, "image")
	if err := os.MkdirAll(filepath.Join(stage, "data"), 0o755); err != nil {
		return fmt.Errorf("stage image: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(stage, "authzd"), "./cmd/authzd")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	if _, err := docker(ctx, nil, "build", "-q", "--label", label+"="+c.project, "-t", c.image, "-f", filepath.Join(root, "deploy", "Dockerfile"), stage); err != nil {
		return err
	}
	return nil
}

// prepareFiles creates the PKI and, per node, a directory with only its own
// certificate and key and an empty data directory. The image runs as uid
// 65532; when the test runs as root the files are handed to that uid,
// otherwise the containers run as the test's own user.
func (c *containers) prepareFiles() error {
	pki, err := transport.EnsureDevPKI(filepath.Join(c.dir, "pki"), c.ids)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	c.user = fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	if os.Getuid() == 0 {
		c.user = "65532:65532"
	}
	for _, id := range c.ids {
		certs := filepath.Join(c.dir, id, "certs")
		if err := os.MkdirAll(filepath.Join(c.dir, id, "data"), 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if err := os.MkdirAll(certs, 0o700); err != nil {
			return fmt.Errorf("cert dir: %w", err)
		}
		for src, dst := range map[string]string{pki.CAFile: "ca.pem", pki.NodeCertFile(id): "node.pem", pki.NodeKeyFile(id): "node-key.pem"} {
			b, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("copy certificate: %w", err)
			}
			if err := os.WriteFile(filepath.Join(certs, dst), b, 0o600); err != nil {
				return fmt.Errorf("copy certificate: %w", err)
			}
		}
		if os.Getuid() == 0 {
			for _, p := range []string{filepath.Join(c.dir, id, "data"), certs, filepath.Join(certs, "ca.pem"), filepath.Join(certs, "node.pem"), filepath.Join(certs, "node-key.pem")} {
				if err := os.Chown(p, 65532, 65532); err != nil {
					return fmt.Errorf("hand files to the container user: %w", err)
				}
			}
		}
	}
	return nil
}

func (c *containers) name(i int) string { return c.project + "-" + c.ids[i] }

// create creates node i's container on the client network with 9200
// published on a loopback port, then connects it to the Raft network under
// its alias.
func (c *containers) create(ctx context.Context, i int) error {
	id := c.ids[i]
	var peers []string
	for _, p := range c.ids {
		peers = append(peers, fmt.Sprintf("%s=%s:9300=%s:9200=%s:6222", p, p, p, p))
	}
	_, err := docker(ctx, []string{"AUTHZD_INITIAL_ADMIN_PASSWORD=" + c.password}, "create",
		"--name", c.name(i), "--label", label+"="+c.project,
		"--user", c.user, "--network", c.project+"-client", "-p", "127.0.0.1::9200",
		"-e", "AUTHZD_INITIAL_ADMIN_PASSWORD",
		"-v", filepath.Join(c.dir, id, "data")+":/data",
		"-v", filepath.Join(c.dir, id, "certs")+":/certs:ro",
		c.image, "serve",
		"--node-id="+id, "--data-dir=/data", "--http-addr=0.0.0.0:9200", "--raft-addr=0.0.0.0:9300",
		"--nats-client-addr=0.0.0.0:4222", "--nats-route-addr=0.0.0.0:6222",
		"--peers="+strings.Join(peers, ","),
		"--ca-file=/certs/ca.pem", "--cert-file=/certs/node.pem", "--key-file=/certs/node-key.pem",
		"--log-json",
	)
	if err != nil {
		return err
	}
	return c.Rejoin(ctx, i)
}

// Size is the number of nodes.
func (c *containers) Size() int { return len(c.ids) }

// Do sends one request to node i's published port as the admin user.
func (c *containers) Do(ctx context.Context, i int, method, path, body string) (history.Response, error) {
	c.mu.RLock()
	addr := c.addrs[i]
	c.mu.RUnlock()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, rd)
	if err != nil {
		return history.Response{}, fmt.Errorf("request to node %d: %w", i, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("admin", c.password)
	resp, err := c.client.Do(req)
	if err != nil {
		return history.Response{}, fmt.Errorf("%s %s on node %d: %w", method, path, i, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return history.Response{}, fmt.Errorf("%s %s on node %d: read body: %w", method, path, i, err)
	}
	return history.Response{Status: resp.StatusCode, Header: resp.Header, Body: bytes.TrimSpace(b)}, nil
}

// Isolate disconnects node i from the Raft network.
func (c *containers) Isolate(ctx context.Context, i int) error {
	_, err := docker(ctx, nil, "network", "disconnect", c.project+"-raft", c.name(i))
	return err
}

// Rejoin connects node i to the Raft network again under its alias.
func (c *containers) Rejoin(ctx context.Context, i int) error {
	_, err := docker(ctx, nil, "network", "connect", "--alias", c.ids[i], c.project+"-raft", c.name(i))
	return err
}

// Stop kills node i with SIGKILL and waits until the container has exited.
func (c *containers) Stop(ctx context.Context, i int) error {
	if _, err := docker(ctx, nil, "kill", "-s", "KILL", c.name(i)); err != nil {
		return err
	}
	_, err := docker(ctx, nil, "wait", c.name(i))
	return err
}

// StopGracefully stops node i with SIGTERM (SIGKILL after 15s, as compose does).
func (c *containers) StopGracefully(ctx context.Context, i int) error {
	_, err := docker(ctx, nil, "stop", "-t", "15", c.name(i))
	return err
}

// Start starts node i's container and reads back its published port, which
// Docker may change on every start.
func (c *containers) Start(ctx context.Context, i int) error {
	if _, err := docker(ctx, nil, "start", c.name(i)); err != nil {
		return err
	}
	out, err := docker(ctx, nil, "port", c.name(i), "9200/tcp")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "127.0.0.1:") {
			c.mu.Lock()
			c.addrs[i] = l
			c.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("node %d: no loopback port published: %q", i, out)
}

// Pause freezes node i's processes.
func (c *containers) Pause(ctx context.Context, i int) error {
	_, err := docker(ctx, nil, "pause", c.name(i))
	return err
}

// Resume thaws node i.
func (c *containers) Resume(ctx context.Context, i int) error {
	_, err := docker(ctx, nil, "unpause", c.name(i))
	return err
}

// cleanup prints the nodes' last log lines when the test failed (and keeps
// the whole logs in FAULTS_ARTIFACTS when that is set), then removes the
// containers, networks and image of this run.
func (c *containers) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	var errs []error
	for i := range c.ids {
		if dir := os.Getenv("FAULTS_ARTIFACTS"); dir != "" {
			if out, err := exec.CommandContext(ctx, "docker", "logs", c.name(i)).CombinedOutput(); err == nil {
				_ = os.MkdirAll(dir, 0o755)
				if err := os.WriteFile(filepath.Join(dir, c.ids[i]+".log"), out, 0o644); err != nil {
					errs = append(errs, fmt.Errorf("keep the log of %s: %w", c.name(i), err))
				}
			}
		}
		if c.t.Failed() {
			if out, err := exec.CommandContext(ctx, "docker", "logs", "--tail", "80", c.name(i)).CombinedOutput(); err == nil {
				c.t.Logf("last log lines of %s:\n%s", c.name(i), out)
			}
		}
		// A paused container must be thawed before it can be removed.
		_, _ = docker(ctx, nil, "unpause", c.name(i))
		if _, err := docker(ctx, nil, "rm", "-f", "-v", c.name(i)); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	for _, n := range []string{c.project + "-raft", c.project + "-client"} {
		if _, err := docker(ctx, nil, "network", "rm", n); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	if c.image == c.project+":latest" {
		if _, err := docker(ctx, nil, "rmi", "-f", c.image); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.t.Errorf("cleanup of %s: %v", c.project, err)
	}
}

// gone reports whether a docker error says the object does not exist.
func gone(err error) bool {
	return strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "not found")
}

var _ interface {
	history.Cluster
	history.Nemesis
	history.Pauser
	history.GracefulStopper
} = (*containers)(nil)
