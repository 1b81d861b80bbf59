// Package pep is the client side of authzd for a policy enforcement point
// (an OpenSearch plugin replacement, a gateway): it asks a node over HTTPS
// for ownership decisions and keeps them in a local cache keyed by the
// configuration revision they were made at, invalidated from NATS: a
// change on the change stream makes every older decision stale, an update
// of an ownership record drops that record's decisions, and a cache flush
// broadcast drops everything.
//
// It lives in transport because it is network plumbing over the bus and
// the HTTPS API that makes no decision of its own (those come from the
// node); it must not import node, so a PEP binary does not link Raft or the
// server. Concurrency: Start runs one goroutine per subscription (changes,
// ownership watch) until Close; Check is safe for concurrent use, and the
// cache is guarded by one mutex.
package pep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authzd/authzd/transport/bus"
)

// Config configures a Client.
type Config struct {
	// Bus is the NATS connection (URLs of any authzd node's NATS or the
	// external cluster, TLS, credentials).
	Bus bus.Config
	// URL is the base HTTPS URL of an authzd node, e.g. https://10.0.0.3:9200.
	URL string
	// HTTP is the client for URL (its TLS must trust the cluster CA); it
	// should have a timeout.
	HTTP *http.Client
	// Username and Password authenticate the PEP's service account, which
	// needs cluster:admin/authz/resources/check_as.
	Username, Password string
	// MaxEntries bounds the cache; default 100,000 (full: cleared).
	MaxEntries int
	// Logger receives subscription problems; nil discards.
	Logger *slog.Logger
}

// Decision is one cached ownership decision.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Rule    string `json:"rule"`
	Status  int    `json:"status"`
	Reason  string `json:"reason"`
	// Revision is the configuration revision the decision was made at.
	Revision uint64 `json:"revision"`
	// Seq is the ownership KV sequence the deciding node had applied.
	Seq uint64 `json:"seq"`
}

type entry struct {
	d   Decision
	rec string // kind/id, for record invalidation
}

// Client is a PEP's connection to authzd with its decision cache.
type Client struct {
	cfg Config
	log *slog.Logger
	bus *bus.Bus

	mu     sync.Mutex // guards cache and minRev
	cache  map[string]entry
	minRev uint64 // decisions made before this revision are stale

	misses, hits atomic.Uint64
	maxSeq       atomic.Uint64 // newest ownership sequence seen on the watch
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	flushSub     *bus.Subscription
}

// New validates cfg. It starts nothing; call Start.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.HTTP == nil {
		return nil, errors.New("pep: URL and HTTP client are required")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := bus.New(cfg.Bus)
	if err != nil {
		return nil, fmt.Errorf("pep: %w", err)
	}
	return &Client{cfg: cfg, log: cfg.Logger, bus: b, cache: map[string]entry{}}, nil
}

// Start connects to NATS, waits (bounded by ctx) until the stream and bucket
// exist, and subscribes to changes, ownership updates and flushes. Once it
// returns, every later change invalidates the cache.
func (c *Client) Start(ctx context.Context) error {
	if err := c.bus.Connect(); err != nil {
		return err
	}
	if err := c.bus.WaitAttached(ctx); err != nil {
		return err
	}
	sub, err := c.bus.Changes(ctx, 0)
	if err != nil {
		return err
	}
	w, err := c.bus.WatchOwners(context.Background())
	if err != nil {
		sub.Close()
		return err
	}
	if c.flushSub, err = c.bus.SubscribeFlush(func(bus.Flush) { c.Clear() }); err != nil {
		sub.Close()
		_ = w.Stop()
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		defer sub.Close()
		for {
			ch, err := sub.Next(rctx)
			if err != nil {
				if rctx.Err() == nil {
					c.log.Warn("pep: change subscription ended", "err", err)
				}
				return
			}
			c.advance(ch.Revision)
		}
	}()
	go func() {
		defer c.wg.Done()
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			e, done, err := w.Next(rctx)
			if err != nil {
				return
			}
			if done {
				initial = false
				continue
			}
			if e.Seq > c.maxSeq.Load() {
				c.maxSeq.Store(e.Seq)
			}
			// The replay of existing records at start changes nothing.
			if kind, id, ok := bus.ParseOwnerKey(e.Key); ok && !initial {
				c.evictRecord(kind + "/" + id)
			}
		}
	}()
	return nil
}

// Close stops the subscriptions and the NATS connection.
func (c *Client) Close() {
	if c.cancel != nil {
		c.cancel()
		if c.flushSub != nil {
			_ = c.flushSub.Stop()
		}
	}
	_ = c.bus.Close(5 * time.Second)
	c.wg.Wait()
}

// advance records that revision rev is committed: older decisions go.
func (c *Client) advance(rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.minRev {
		return
	}
	c.minRev = rev
	for k, e := range c.cache {
		if e.d.Revision < rev {
			delete(c.cache, k)
		}
	}
}

func (c *Client) evictRecord(rec string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.cache {
		if e.rec == rec {
			delete(c.cache, k)
		}
	}
}

// Clear drops every cached decision.
func (c *Client) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cache)
}

// Len is the number of cached decisions.
func (c *Client) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cache)
}

// Stats returns cache hits and misses.
func (c *Client) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Check answers whether user (an internal user name) may run action on the
// resource kind/id, from the cache when a current decision is there, else
// from the node (POST .../_check), caching the answer.
func (c *Client) Check(ctx context.Context, kind, id, user, action string) (Decision, error) {
	key := kind + "\x00" + id + "\x00" + user + "\x00" + action
	c.mu.Lock()
	e, ok := c.cache[key]
	fresh := ok && e.d.Revision >= c.minRev
	c.mu.Unlock()
	if fresh {
		c.hits.Add(1)
		return e.d, nil
	}
	c.misses.Add(1)
	c.mu.Lock()
	minRev := c.minRev
	c.mu.Unlock()
	d, err := c.ask(ctx, kind, id, user, action, minRev)
	if err != nil {
		return Decision{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A change that arrived while asking makes the answer stale: not cached.
	if d.Revision >= c.minRev {
		if len(c.cache) >= c.cfg.MaxEntries {
			clear(c.cache)
		}
		c.cache[key] = entry{d: d, rec: kind + "/" + id}
	}
	return d, nil
}

// ask queries the node, at least at revision minRev and ownership sequence
// maxSeq (the newest this client has seen), so an answer is never older
// than an invalidation.
func (c *Client) ask(ctx context.Context, kind, id, user, action string, minRev uint64) (Decision, error) {
	body, _ := json.Marshal(map[string]string{"user": user, "action": action})
	u := strings.TrimRight(c.cfg.URL, "/") + "/_plugins/_authz/resources/" + url.PathEscape(kind) + "/" + url.PathEscape(id) +
		"/_check?min_revision=" + strconv.FormatUint(minRev, 10) + "&min_seq=" + strconv.FormatUint(c.maxSeq.Load(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Decision{}, fmt.Errorf("pep check: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return Decision{}, fmt.Errorf("pep check %s/%s: %w", kind, id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Decision{}, fmt.Errorf("pep check %s/%s: read: %w", kind, id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Decision{}, fmt.Errorf("pep check %s/%s: status %d: %s", kind, id, resp.StatusCode, bytes.TrimSpace(b))
	}
	var d Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return Decision{}, fmt.Errorf("pep check %s/%s: decode: %w", kind, id, err)
	}
	if d.Revision == 0 {
		d.Revision, _ = strconv.ParseUint(resp.Header.Get("X-Authz-Revision"), 10, 64)
	}
	return d, nil
}
