package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// StateSource gives the current state and waits for revisions.
type StateSource interface {
	View() *fsm.View
	WaitFor(ctx context.Context, rev uint64) error
}

// Proposer commits events through Raft, forwarding to the leader when needed.
type Proposer interface {
	// Propose commits an encoded event and returns the FSM's result.
	Propose(ctx context.Context, event []byte) (fsm.Result, error)
	// ApplyLocal commits an event on this node, which must be the leader; it
	// serves writes forwarded by followers.
	ApplyLocal(ctx context.Context, event []byte) (fsm.Result, error)
}

// ClusterInfo reports the node's view of the cluster.
type ClusterInfo interface {
	// Status is the JSON-ready cluster status of this node.
	Status() ClusterStatus
}

// Backend is everything the API needs from its node.
type Backend interface {
	StateSource
	Proposer
	ClusterInfo
}

// ClusterStatus is the body of GET /_plugins/_authz/cluster.
type ClusterStatus struct {
	NodeID    string `json:"node_id"`
	State     string `json:"state"`
	LeaderID  string `json:"leader_id"`
	Leader    string `json:"leader_address"`
	Term      uint64 `json:"term"`
	Revision  uint64 `json:"applied_revision"`
	CommitIdx uint64 `json:"commit_index"`
	StateHash string `json:"state_hash"`
	// Peers is the Raft configuration, voters and non-voters, with the
	// addresses from the static peers and the member directory.
	Peers []Peer `json:"peers"`
	// NATS is the node's NATS readiness; nil when the node runs without NATS.
	NATS *NATSStatus `json:"nats,omitempty"`
}

// Peer is one member of the Raft configuration.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_address"`
	HTTPAddr string `json:"http_address,omitempty"`
	// NATSRoute is the embedded NATS route address, when known.
	NATSRoute string `json:"nats_route,omitempty"`
	// Suffrage is raft's: "Voter", "Nonvoter" (a read replica) or "Staging".
	Suffrage string `json:"suffrage"`
}

// Settings are the node settings the API enforces: the REST API settings
// (roles_enabled, endpoints_disabled, restapi.admin.enabled, password policy,
// bcrypt cost, ...; see authz.RESTSettings) and the super admin DNs.
type Settings struct {
	authz.RESTSettings
	// AdminDN are the super admin certificate DNs [plugins.security.authcz.admin_dn].
	AdminDN []string
}

// Config configures the API.
type Config struct {
	Backend  Backend
	Settings Settings
	// Logger receives request failures and lifecycle messages; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; default 2 MiB.
	MaxBodyBytes int64
	// MaxConfigBytes limits a whole configuration (PUT /_plugins/_authz/config,
	// after gzip decompression); default 48 MiB, below MaxInternalBodyBytes so
	// that its event can be forwarded to the leader.
	MaxConfigBytes int64
	// MaxInternalBodyBytes limits forwarded events; default 64 MiB.
	MaxInternalBodyBytes int64
	// RevisionWait bounds min_revision waits; default 5s.
	RevisionWait time.Duration
	// WriteTimeout bounds a write (forwarding and commit); default 10s.
	WriteTimeout time.Duration
	// Now returns the current time; default time.Now. Only for event timestamps.
	Now func() time.Time
	// NodeID names this node in the ownership records it registers.
	NodeID string
	// Registry receives the API's metrics (HTTP, decisions, caches; see
	// docs/metrics.md); nil keeps them in a private registry nobody scrapes.
	Registry prometheus.Registerer
	// Metrics, if set, serves GET /metrics (the node's registry); it gets no
	// authentication from the API, the caller wraps it if it needs one.
	Metrics http.Handler
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 2 << 20
	}
	if c.MaxInternalBodyBytes == 0 {
		c.MaxInternalBodyBytes = 64 << 20
	}
	if c.MaxConfigBytes == 0 {
		c.MaxConfigBytes = 48 << 20
	}
	if c.RevisionWait == 0 {
		c.RevisionWait = 5 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Settings.BcryptRounds == 0 {
		c.Settings.BcryptRounds = 12
	}
	if c.Settings.RolesEnabled == nil {
		c.Settings.RolesEnabled = []string{"all_access", "security_rest_api_access"}
	}
}

// API serves the HTTP endpoints of one node.
type API struct {
	cfg       Config
	log       *slog.Logger
	creds     *credCache
	dummyHash string
	mux       *http.ServeMux
	dns       dnCache
	met       *apiMetrics
}

// New builds the API. It starts no goroutines.
func New(cfg Config) (*API, error) {
	cfg.withDefaults()
	if cfg.Backend == nil {
		return nil, errors.New("api: config needs a Backend")
	}
	dummy, err := authz.HashPassword("authzd-dummy-password", cfg.Settings.BcryptRounds)
	if err != nil {
		return nil, fmt.Errorf("api: hash dummy password: %w", err)
	}
	a := &API{cfg: cfg, log: cfg.Logger, creds: newCredCache(100_000), dummyHash: dummy, mux: http.NewServeMux()}
	a.met = newAPIMetrics(cfg.Registry, a)
	a.routes()
	return a, nil
}

// ServeHTTP serves every route of the node and counts the request in the
// HTTP metrics.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.met.serve(a.mux, w, r) }

// FlushCredentials drops cached credentials: all of them, or the named users'.
func (a *API) FlushCredentials(names ...string) { a.creds.flush(names...) }

// HasCachedCredentials reports whether user's verified password is cached
// (for tests and diagnostics; never the credential itself).
func (a *API) HasCachedCredentials(user string) bool { return a.creds.has(user) }

// handlerFunc is a handler that returns its error to one adapter.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// request carries what the middleware resolved for a handler.
type request struct {
	*http.Request
	view   *fsm.View
	caller *Caller
}

// authed wraps a handler that needs an authenticated caller: it resolves
// min_revision, rejects requests before initialization, authenticates, and
// turns returned errors into responses.
func (a *API) authed(h func(w http.ResponseWriter, r *request) error) http.Handler {
	return a.plain(a.authenticated(h))
}

// authenticated is authed without the adapter, for handlers that choose
// between callers first (membersAuth).
func (a *API) authenticated(h func(w http.ResponseWriter, r *request) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := a.viewFor(r)
		if err != nil {
			return err
		}
		if !v.Initialized {
			return authz.StatusMessage(http.StatusInternalServerError, "Security index not initialized")
		}
		c, err := a.authenticate(r, v)
		if err != nil {
			return err
		}
		return h(w, &request{Request: r, view: v, caller: c})
	}
}

// plain adapts a handlerFunc: it assigns a request id and writes errors.
func (a *API) plain(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Request-Id") == "" {
			r.Header.Set("X-Request-Id", newRequestID())
		}
		w.Header().Set("X-Request-Id", requestID(r))
		if err := h(w, r); err != nil {
			writeError(w, r, a.log, err)
		}
	})
}

// viewFor returns the state to serve r from, after waiting for min_revision
// (query parameter or X-Authz-Min-Revision header) when one is given.
func (a *API) viewFor(r *http.Request) (*fsm.View, error) {
	var s string
	if r.URL.RawQuery != "" {
		s = r.URL.Query().Get("min_revision")
	}
	if s == "" {
		s = r.Header.Get("X-Authz-Min-Revision")
	}
	if s != "" {
		rev, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("min_revision must be a non-negative integer, got '%s'", s))
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RevisionWait)
		defer cancel()
		if err := a.cfg.Backend.WaitFor(ctx, rev); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("wait for revision %d: %w", rev, ErrRevisionTimeout)
			}
			return nil, fmt.Errorf("wait for revision %d: %w", rev, err)
		}
	}
	return a.cfg.Backend.View(), nil
}

// readBody reads a request body within the size limit.
func (a *API) readBody(r *http.Request, limit int64) ([]byte, error) {
	return readBodyInto(nil, r, limit)
}

// readBodyInto appends the request body to dst, reading at most one byte past
// limit before it refuses with ErrBodyTooLarge.
func readBodyInto(dst []byte, r *http.Request, limit int64) ([]byte, error) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, 1024)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := dst[len(dst):cap(dst)]
		if left := limit + 1 - int64(len(dst)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Body.Read(room)
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, ErrBodyTooLarge
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("read body: %w", err)
		}
	}
}

// jsonContentType is the Content-Type value of every JSON answer; handlers
// may share it because net/http copies header values before writing them.
var jsonContentType = []string{"application/json; charset=UTF-8"}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }
