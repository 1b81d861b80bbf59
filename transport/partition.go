package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
)

// ErrLinkBlocked is returned, wrapped, by dials to an address that Links blocks.
var ErrLinkBlocked = errors.New("link blocked")

// Links cuts network links in process, so tests can partition a node without
// touching the operating system. A RaftTransport consults it for every Raft
// connection, and an http.Transport can consult it through DialContext.
//
// A link is named by a key: an address as dialed or advertised ("127.0.0.1:7000"),
// or, for Raft connections, the peer certificate's common name (the node id).
// While a key is blocked, dials to it fail at once with ErrLinkBlocked, inbound
// Raft connections from it are rejected after the handshake, and connections
// already open to or from it are closed abruptly (no TLS close_notify), as a
// network cut would.
//
// One Links may be shared by several transports (blocking a node's address then
// isolates it from all of them) or owned by one node (then block every peer of that
// node). The zero value is ready to use; a Links is safe for concurrent use.
type Links struct {
	mu      sync.Mutex
	blocked map[string]struct{}
	conns   map[*linkConn]struct{}
}

// Block cuts the link named addr and closes the connections open on it.
func (l *Links) Block(addr string) {
	l.mu.Lock()
	if l.blocked == nil {
		l.blocked = make(map[string]struct{})
	}
	l.blocked[addr] = struct{}{}
	var cut []*linkConn
	for c := range l.conns {
		if slices.Contains(c.keys, addr) {
			cut = append(cut, c)
			delete(l.conns, c)
		}
	}
	l.mu.Unlock()

	for _, c := range cut {
		c.cut()
	}
}

// Unblock restores the link named addr; connections closed by Block stay closed.
func (l *Links) Unblock(addr string) {
	l.mu.Lock()
	delete(l.blocked, addr)
	l.mu.Unlock()
}

// UnblockAll restores every link.
func (l *Links) UnblockAll() {
	l.mu.Lock()
	clear(l.blocked)
	l.mu.Unlock()
}

// IsBlocked reports whether the link named addr is cut.
func (l *Links) IsBlocked(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.blocked[addr]
	return ok
}

// DialContext returns a dial function for http.Transport.DialContext (or any
// caller with that signature) that dials with d, fails with ErrLinkBlocked while
// the dialed address is blocked, and closes its connections when it gets blocked
// later. A nil d means a zero net.Dialer.
func (l *Links) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if l.IsBlocked(addr) {
			return nil, fmt.Errorf("dial %s: %w", addr, ErrLinkBlocked)
		}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &linkConn{Conn: raw, raw: raw, keys: []string{addr}, links: l}
		if !l.track(c) {
			_ = raw.Close()
			return nil, fmt.Errorf("dial %s: %w", addr, ErrLinkBlocked)
		}
		return c, nil
	}
}

// track registers c under its keys, unless one of them is blocked. Checking and
// registering under one lock means a concurrent Block either rejects c here or
// finds it in the registry.
func (l *Links) track(c *linkConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range c.keys {
		if _, ok := l.blocked[k]; ok {
			return false
		}
	}
	if l.conns == nil {
		l.conns = make(map[*linkConn]struct{})
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Links) untrack(c *linkConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// linkConn is a connection registered with Links. Conn is what callers use (a TLS
// connection for Raft); raw is the TCP connection underneath, closed to cut.
type linkConn struct {
	net.Conn
	raw   net.Conn
	keys  []string
	links *Links
	// onClose, if set, runs once when the connection is closed or cut.
	onClose   func()
	closeOnce sync.Once
}

// Close closes the connection and unregisters it.
func (c *linkConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// cut closes the TCP connection without a TLS goodbye; the caller has already
// removed c from Links.
func (c *linkConn) cut() {
	_ = c.raw.Close()
	c.release()
}

func (c *linkConn) release() {
	c.closeOnce.Do(func() {
		c.links.untrack(c)
		if c.onClose != nil {
			c.onClose()
		}
	})
}
