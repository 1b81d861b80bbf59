package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream assets and subjects (DESIGN.md §1, §5).
const (
	// ChangesStream is the stream of committed configuration changes.
	ChangesStream = "AUTHZ_CHANGES"
	// ChangesPrefix prefixes change subjects: authz.changes.<event type>.
	ChangesPrefix = "authz.changes."
	// FlushSubject is the core NATS subject of cache flush broadcasts.
	FlushSubject = "authz.cache.flush"
	// OwnersBucket is the KV bucket of ownership records.
	OwnersBucket = "authz_owners"
)

// Errors callers branch on.
var (
	// ErrUnavailable means NATS or JetStream could not be reached or did not
	// answer in time; nothing was written (a write whose acknowledgement
	// timed out gets ErrOutcomeUnknown instead).
	ErrUnavailable = errors.New("nats unavailable")
	// ErrOutcomeUnknown means a write was sent but its acknowledgement did
	// not arrive in time: it may or may not have been stored.
	ErrOutcomeUnknown = errors.New("write outcome unknown")
	// ErrNotReady means WaitReady has not succeeded yet.
	ErrNotReady = errors.New("jetstream not ready")
	// ErrExists means a key to be created already exists.
	ErrExists = errors.New("key exists")
	// ErrNotFound means a key does not exist (or was deleted).
	ErrNotFound = errors.New("key not found")
	// ErrChanged means a conditional write found a newer revision of the key.
	ErrChanged = errors.New("key changed")
	// ErrRevisionGone means the change stream no longer holds the requested
	// revision (it was removed by the retention limits).
	ErrRevisionGone = errors.New("revision no longer in the change stream")
	// ErrClosed means the subscription or bus was closed.
	ErrClosed = errors.New("closed")
)

// Config configures a Bus. Zero values mean the defaults of withDefaults.
type Config struct {
	// URLs are the NATS servers to connect to (tls://host:port or
	// nats://host:port). The client learns the rest of the cluster from them.
	URLs []string
	// Name is the connection name shown by the servers (the node id).
	Name string
	// TLS, if set, is used for the connection (mutual TLS with the cluster CA
	// for embedded servers). A tls:// URL without TLS uses the system roots.
	TLS *tls.Config
	// CredsFile is a NATS credentials file (user JWT and nkey seed) for an
	// external cluster; empty for none.
	CredsFile string
	// Replicas is the replica count of the change stream and the ownership
	// bucket; 0 means min(3, number of servers the client knows), which is
	// the cluster size once connected. authzd sets min(3, cluster size) for
	// its embedded servers.
	Replicas int
	// ChangesMaxAge is how long the change stream keeps a change; default 7 days.
	ChangesMaxAge time.Duration
	// ChangesMaxMsgs bounds the number of changes kept; default 1,000,000.
	ChangesMaxMsgs int64
	// DedupWindow is the stream's duplicate window: two publications of one
	// revision within it are stored once; default 2 minutes.
	DedupWindow time.Duration
	// RequestTimeout bounds each JetStream request (publish, get, put) that
	// has no earlier deadline; default 5s.
	RequestTimeout time.Duration
	// Logger receives connection lifecycle messages; nil discards.
	Logger *slog.Logger
}

func (c *Config) withDefaults() {
	if c.ChangesMaxAge == 0 {
		c.ChangesMaxAge = 7 * 24 * time.Hour
	}
	if c.ChangesMaxMsgs == 0 {
		c.ChangesMaxMsgs = 1_000_000
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 2 * time.Minute
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("at least one nats url is required"))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas must be 0 (auto) to 5, got %d", c.Replicas))
	}
	if c.DedupWindow > c.ChangesMaxAge {
		errs = append(errs, errors.New("dedup window must not exceed the change stream max age"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid nats client config: %w", errors.Join(errs...))
	}
	return nil
}

// Bus is authzd's connection to NATS: the change stream, cache flush
// broadcasts and the ownership bucket, all through nats.go and its jetstream
// package. It works the same against the embedded servers and an external
// cluster. A Bus is safe for concurrent use.
type Bus struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	mu       sync.Mutex // guards stream, kv and replicas, set by WaitReady
	stream   jetstream.Stream
	kv       jetstream.KeyValue
	replicas int
	ready    atomic.Bool
	discAt   atomic.Int64 // unix nanos of the last disconnect; 0 while connected
	closing  atomic.Bool
}

// New validates cfg and returns an unconnected Bus. It starts no goroutines.
func New(cfg Config) (*Bus, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg, log: cfg.Logger.With("component", "bus")}, nil
}

// Connect opens the connection. It does not fail when no server is
// reachable: the client keeps reconnecting in the background (forever, with
// backoff), and operations fail with ErrUnavailable meanwhile. It returns an
// error only for a bad configuration (for example an unreadable creds file).
func (b *Bus) Connect() error {
	opts := []nats.Option{
		nats.Name(b.cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 500*time.Millisecond),
		nats.Timeout(b.cfg.RequestTimeout),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DrainTimeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.discAt.CompareAndSwap(0, time.Now().UnixNano())
			if !b.closing.Load() {
				b.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.discAt.Store(0)
			b.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	if b.cfg.TLS != nil {
		opts = append(opts, nats.Secure(b.cfg.TLS))
	}
	if b.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(b.cfg.CredsFile))
	}
	// Disconnected until the first connect succeeds.
	b.discAt.Store(time.Now().UnixNano())
	nc, err := nats.Connect(strings.Join(b.cfg.URLs, ","), opts...)
	if err != nil {
		return fmt.Errorf("nats connect: %w", err)
	}
	if nc.IsConnected() {
		b.discAt.Store(0)
	}
	// The async publish timeout resolves every PublishChanges future, even
	// one whose message or acknowledgement was lost.
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(b.cfg.RequestTimeout),
		jetstream.WithPublishAsyncTimeout(b.cfg.RequestTimeout))
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	return nil
}

// WaitReady waits until JetStream answers (a meta leader is elected) and the
// change stream and ownership bucket exist, creating them when needed. Each
// attempt is bounded by RequestTimeout; attempts are retried with backoff
// until ctx ends, and the last error is returned then.
func (b *Bus) WaitReady(ctx context.Context) error {
	if b.nc == nil {
		return ErrNotReady
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := b.setup(ctx)
		if err == nil {
			b.ready.Store(true)
			b.log.Info("jetstream ready", "attempts", attempt, "replicas", b.Replicas())
			return nil
		}
		b.log.Debug("jetstream not ready yet", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for jetstream after %d attempts: %w (last error: %v)", attempt, ErrUnavailable, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (b *Bus) setup(ctx context.Context) error {
	actx, cancel := b.timeout(ctx)
	defer cancel()
	if _, err := b.js.AccountInfo(actx); err != nil {
		return fmt.Errorf("jetstream account info: %w", err)
	}
	replicas := b.cfg.Replicas
	if replicas == 0 {
		replicas = min(3, max(1, len(b.nc.Servers())))
	}
	st, err := b.js.CreateOrUpdateStream(actx, jetstream.StreamConfig{
		Name:        ChangesStream,
		Description: "authzd committed configuration changes, one message per revision",
		Subjects:    []string{ChangesPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.ChangesMaxAge,
		MaxMsgs:     b.cfg.ChangesMaxMsgs,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  b.cfg.DedupWindow,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", ChangesStream, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{
		Bucket:      OwnersBucket,
		Description: "authzd ownership records of async searches, detectors, monitors and models",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", OwnersBucket, err)
	}
	b.mu.Lock()
	b.stream, b.kv, b.replicas = st, kv, replicas
	b.mu.Unlock()
	return nil
}

// WaitAttached is WaitReady for clients that must not create or change
// JetStream assets (a PEP): it waits until the change stream and the
// ownership bucket exist and binds to them.
func (b *Bus) WaitAttached(ctx context.Context) error {
	if b.nc == nil {
		return ErrNotReady
	}
	backoff := 100 * time.Millisecond
	for {
		actx, cancel := b.timeout(ctx)
		st, err := b.js.Stream(actx, ChangesStream)
		var kv jetstream.KeyValue
		if err == nil {
			kv, err = b.js.KeyValue(actx, OwnersBucket)
		}
		cancel()
		if err == nil {
			b.mu.Lock()
			b.stream, b.kv = st, kv
			b.mu.Unlock()
			b.ready.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("attach to jetstream: %w (last error: %v)", ErrUnavailable, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// IsReady reports whether WaitReady has succeeded.
func (b *Bus) IsReady() bool { return b.ready.Load() }

// IsConnected reports whether the connection to a server is up now.
func (b *Bus) IsConnected() bool { return b.nc != nil && b.nc.IsConnected() }

// DisconnectedSince is the time the connection was lost, zero while connected.
func (b *Bus) DisconnectedSince() time.Time {
	if n := b.discAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// ConnectedURL is the server the connection uses now (credentials redacted).
func (b *Bus) ConnectedURL() string {
	if b.nc == nil {
		return ""
	}
	return b.nc.ConnectedUrlRedacted()
}

// Replicas is the replica count in use (0 before WaitReady succeeded).
func (b *Bus) Replicas() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.replicas
}

// Close drains the connection (pending publications are flushed and
// subscriptions finish their in-flight messages), bounded by timeout, then
// closes it.
func (b *Bus) Close(timeout time.Duration) error {
	if b.nc == nil {
		return nil
	}
	b.closing.Store(true)
	if !b.nc.IsConnected() {
		b.nc.Close()
		return nil
	}
	closed := make(chan struct{})
	b.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return nil
	}
	select {
	case <-closed:
		return nil
	case <-time.After(timeout):
		b.nc.Close()
		return fmt.Errorf("nats drain did not finish within %s", timeout)
	}
}

// handles returns the stream and bucket, or ErrNotReady.
func (b *Bus) handles() (jetstream.Stream, jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stream == nil || b.kv == nil {
		return nil, nil, ErrNotReady
	}
	return b.stream, b.kv, nil
}

// timeout applies RequestTimeout unless ctx has an earlier deadline.
func (b *Bus) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < b.cfg.RequestTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.RequestTimeout)
}

// unavailableWrite is unavailable for a write that may have reached the
// stream: a publish times out while waiting for its acknowledgement (also
// when the client buffered it during a reconnect and sends it later), so a
// timeout leaves the outcome unknown instead of "nothing was written".
func unavailableWrite(op string, err error) error {
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w: %w", op, ErrOutcomeUnknown, err)
	}
	return unavailable(op, err)
}

// unavailable wraps err with ErrUnavailable when it means that NATS or
// JetStream did not answer, so callers can tell "try later" from other errors.
func unavailable(op string, err error) error {
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, nats.ErrDrainTimeout), errors.Is(err, ErrNotReady):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
