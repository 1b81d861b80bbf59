package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/authzd/authzd/authz"
)

// client talks to one authzd node.
type client struct {
	base     *url.URL
	http     *http.Client
	user     string
	password string
	minRev   uint64
}

// newClient builds the HTTPS client of the global flags: the CA file to trust
// (the system roots without it), an optional client certificate, basic auth
// when a user is given, and timeouts on connecting, the TLS handshake, the
// response headers and the whole request.
func (g *globals) newClient() (*client, error) {
	u, err := url.Parse(strings.TrimRight(g.url, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want https://host:port", g.url)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", g.caFile)
		}
	}
	switch {
	case g.certFile != "" && g.keyFile != "":
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case g.certFile != "" || g.keyFile != "":
		return nil, errors.New("--cert-file and --key-file go together")
	}
	if g.user == "" && len(tc.Certificates) == 0 {
		return nil, errors.New("no credentials: give --user/--password (AUTHZD_USER, AUTHZD_PASSWORD) or --cert-file/--key-file")
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &client{
		base: u,
		http: &http.Client{
			Timeout: g.timeout,
			Transport: &http.Transport{
				TLSClientConfig:       tc,
				DialContext:           dialer.DialContext,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: g.timeout,
				IdleConnTimeout:       30 * time.Second,
				ForceAttemptHTTP2:     true,
			},
		},
		user: g.user, password: g.password, minRev: g.minRev,
	}, nil
}

// close releases idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// apiError is a refusal by the cluster: the status and the plugin-shaped body.
type apiError struct {
	Status   int
	Body     []byte
	Problems []authz.Problem
}

func (e *apiError) Error() string {
	var b struct {
		Status  any    `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(e.Body, &b) == nil {
		switch {
		case b.Message != "":
			return fmt.Sprintf("%d %s", e.Status, b.Message)
		case len(e.Problems) > 0:
			return fmt.Sprintf("%d %s (%d problems)", e.Status, b.Reason, len(e.Problems))
		case b.Reason != "":
			return fmt.Sprintf("%d %s: %s", e.Status, b.Reason, bytes.TrimSpace(e.Body))
		}
	}
	return fmt.Sprintf("%d %s", e.Status, bytes.TrimSpace(e.Body))
}

// stream sends a GET whose answer is newline-delimited JSON and calls each
// for every non-empty line until the answer ends, ctx ends or each fails.
// The client's overall timeout does not apply (a stream is long-lived); the
// wait for the answer's header does.
func (c *client) stream(ctx context.Context, path string, each func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	long := *c.http
	long.Timeout = 0
	resp, err := long.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return &apiError{Status: resp.StatusCode, Body: b}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue // keep-alive
		}
		if err := each(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("GET %s: read stream: %w", path, err)
	}
	return ctx.Err()
}

// do sends one request and decodes a 2xx JSON answer into out (when not nil).
// body, if set, is sent as is with the given headers.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, header http.Header, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	if c.minRev > 0 {
		req.Header.Set("X-Authz-Min-Revision", fmt.Sprint(c.minRev))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode, Body: b}
		var pb struct {
			Problems []authz.Problem `json:"problems"`
		}
		if json.Unmarshal(b, &pb) == nil {
			ae.Problems = pb.Problems
		}
		return resp.Header, ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// configDocs is the body of GET and PUT /_plugins/_authz/config.
type configDocs struct {
	Revision uint64                     `json:"revision,omitempty"`
	Docs     map[string]json.RawMessage `json:"docs"`
}

// replaceAnswer is the answer of PUT /_plugins/_authz/config.
type replaceAnswer struct {
	Revision  uint64          `json:"revision"`
	DryRun    bool            `json:"dry_run"`
	Unchanged bool            `json:"unchanged"`
	Added     int             `json:"added"`
	Changed   int             `json:"changed"`
	Removed   int             `json:"removed"`
	Changes   []authz.Change  `json:"changes"`
	Truncated bool            `json:"truncated"`
	Warnings  []authz.Problem `json:"warnings"`
}

// live fetches the cluster's configuration of the given types (all when nil)
// and builds it as authz.Replace would, statics included.
func (c *client) live(ctx context.Context, types []string) (*authz.Config, uint64, error) {
	path := "/_plugins/_authz/config"
	if types != nil {
		path += "?types=" + url.QueryEscape(strings.Join(types, ","))
	}
	var docs configDocs
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &docs); err != nil {
		return nil, 0, fmt.Errorf("read the live configuration: %w", err)
	}
	raw := map[string][]byte{}
	for t, d := range docs.Docs {
		raw[t] = d
	}
	cfg, e := authz.Replace(authz.NewConfig(), raw)
	if e != nil {
		return nil, 0, fmt.Errorf("the live configuration does not load: %s", e.Body)
	}
	return cfg, docs.Revision, nil
}
