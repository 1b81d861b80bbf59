package decisionload

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// connPool is the default client: kept connections, each used by one call at
// a time, on which a call writes its whole HTTP/1.1 request at once and
// reads the answer with http.ReadResponse. net/http's Transport hands every
// call to a read and a write goroutine of its connection and back, so each
// call costs several goroutine wake-ups on top of the syscalls; on a machine
// the node shares with its load, that is CPU the node does not get (in the
// closed loop, the Transport client used as much CPU as the node itself).
// The node under test is measured through its real net/http server either
// way.
type connPool struct {
	addr       string
	tls        *tls.Config // nil: plain TCP
	host, auth string      // Host header; Authorization header value or ""
	timeout    time.Duration
	// maxIdle retires a connection idle for longer, before a server's idle
	// timeout (authzd's is 120 s) closes it under a call: in a long phase
	// that needs few connections at once, most of the pool sits idle.
	maxIdle  time.Duration
	newConns *atomic.Int64

	mu   sync.Mutex
	idle []*conn
}

// conn is one kept connection and its buffers.
type conn struct {
	c         net.Conn
	br        *bufio.Reader
	req       []byte    // the request being written
	idleSince time.Time // when it was last put back
}

// newConnPool makes the pool for base (https:// or http://) with the TLS
// settings of client's Transport, if it has any; auth is the Authorization
// header to send, or "".
func newConnPool(base string, client *http.Client, auth string, newConns *atomic.Int64) (*connPool, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("decision load: bad URL %q: %w", base, err)
	}
	p := &connPool{addr: u.Host, host: u.Host, auth: auth, timeout: 30 * time.Second, maxIdle: 30 * time.Second, newConns: newConns}
	if client != nil && client.Timeout > 0 {
		p.timeout = client.Timeout
	}
	switch u.Scheme {
	case "https":
		p.tls = &tls.Config{}
		if client != nil {
			if tr, ok := client.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
				p.tls = tr.TLSClientConfig.Clone()
			}
		}
		p.tls.NextProtos = []string{"http/1.1"}
		if p.tls.ServerName == "" {
			p.tls.ServerName = u.Hostname()
		}
		if u.Port() == "" {
			p.addr = net.JoinHostPort(u.Hostname(), "443")
		}
	case "http":
		if u.Port() == "" {
			p.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	default:
		return nil, fmt.Errorf("decision load: URL %q: scheme must be https or http", base)
	}
	return p, nil
}

// get returns the idle connection put back last, or dials a new one.
func (p *connPool) get() (*conn, error) {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n-- {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if time.Since(c.idleSince) <= p.maxIdle {
			p.mu.Unlock()
			return c, nil
		}
		c.c.Close()
	}
	p.mu.Unlock()
	d := &net.Dialer{Timeout: p.timeout}
	var nc net.Conn
	var err error
	if p.tls != nil {
		nc, err = (&tls.Dialer{NetDialer: d, Config: p.tls}).Dial("tcp", p.addr)
	} else {
		nc, err = d.Dial("tcp", p.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("decision load: dial %s: %w", p.addr, err)
	}
	p.newConns.Add(1)
	return &conn{c: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (p *connPool) put(c *conn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// warm makes the pool hold at least n idle connections, so that n calls at
// once find one each.
func (p *connPool) warm(n int) error {
	held := make([]*conn, 0, n)
	defer func() {
		for _, c := range held {
			p.put(c)
		}
	}()
	for len(held) < n {
		c, err := p.get()
		if err != nil {
			return err
		}
		held = append(held, c)
	}
	return nil
}

// close closes the idle connections.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.c.Close()
	}
	p.idle = nil
}

// post sends one POST of a JSON payload to path and reads the answer's body
// into buf. A connection that failed, or that the server closes, is not
// reused.
func (p *connPool) post(path string, payload []byte, buf *bytes.Buffer) (int, error) {
	c, err := p.get()
	if err != nil {
		return 0, err
	}
	status, keep, err := c.post(p, path, payload, buf)
	if err != nil || !keep {
		c.c.Close()
		return status, err
	}
	p.put(c)
	return status, nil
}

func (c *conn) post(p *connPool, path string, payload []byte, buf *bytes.Buffer) (status int, keep bool, err error) {
	b := append(c.req[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	if p.auth != "" {
		b = append(b, "\r\nAuthorization: "...)
		b = append(b, p.auth...)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, payload...)
	c.req = b
	if err := c.c.SetDeadline(time.Now().Add(p.timeout)); err != nil {
		return 0, false, err
	}
	if _, err := c.c.Write(b); err != nil {
		return 0, false, fmt.Errorf("decision load: write: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, false, fmt.Errorf("decision load: read answer: %w", err)
	}
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, false, fmt.Errorf("decision load: read answer body: %w", err)
	}
	return resp.StatusCode, !resp.Close, nil
}
