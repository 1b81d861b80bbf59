// Package decisionload drives a node's REST decision API over HTTPS and
// measures it: closed-loop throughput of single decisions, latency of single
// decisions at a fixed rate (open loop, so a slow answer cannot hide the
// requests queued behind it), and throughput of _batch calls. Before each
// phase it opens as many connections as the phase has workers, untimed: a
// phase measures decisions on kept connections, as a PEP's connection pool
// serves them, not TLS handshakes (a phase reports the connections it still
// had to open, NewConns). Its callers are
// `authzctl bench --http` and node's BenchmarkDecisionHTTP. Every run is
// bounded by a request count, and it refuses any target but loopback.
package decisionload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one decision to ask, with the answer the workload expects.
type Request struct {
	User         string
	BackendRoles []string
	Action       string
	Indices      []string
	// Expect is the expected decision; Check false means it is not compared
	// (the bench's reference judges some requests differently from the API).
	Expect, Check bool
}

// Config describes a run.
type Config struct {
	// URL is the node, e.g. https://127.0.0.1:9200. Only loopback hosts are
	// accepted.
	URL string
	// Client carries TLS (its Transport's TLSClientConfig) and credentials
	// allowed to decide for others (cluster:admin/authz/evaluate). Calls go
	// through it only with NetHTTP; otherwise each worker writes its
	// requests on a kept connection of its own (see connPool).
	Client *http.Client
	// NetHTTP sends the calls through Client (net/http's Transport, and
	// HTTP/2 if Client speaks it) instead of the cheaper kept connections.
	NetHTTP bool
	// User and Password, when set, are sent as basic auth.
	User, Password string
	// Requests are cycled through.
	Requests []Request
	// Count bounds each phase (decisions); default 20,000.
	Count int
	// Concurrency is the number of closed-loop workers; default 16.
	Concurrency int
	// BatchSize is the size of _batch calls; default 100.
	BatchSize int
	// Rates are extra open-loop phases of single decisions, at these fixed
	// rates (calls per second), run after the half-load phase: the latency
	// at each offered load, Count/2 calls each.
	Rates []float64
}

// Phase is the outcome of one measured phase.
type Phase struct {
	// Decisions answered and calls made.
	Decisions int `json:"decisions"`
	Calls     int `json:"calls"`
	// PerSec is decisions per second.
	PerSec float64 `json:"per_sec"`
	// Rate is the offered rate of an open-loop phase, calls per second.
	Rate float64 `json:"rate,omitempty"`
	// Latencies of one call, in microseconds.
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
	// Errors counts calls that failed (transport errors, non-200 answers).
	Errors int `json:"errors"`
	// NewConns counts the connections opened during the phase, after the
	// warm-up opened one per worker.
	NewConns int `json:"new_conns"`
}

// Report is the outcome of Run.
type Report struct {
	URL string `json:"url"`
	// Single is closed-loop single decisions at full speed.
	Single Phase `json:"single"`
	// SingleHalfLoad is single decisions offered at half of Single's rate.
	SingleHalfLoad Phase `json:"single_half_load"`
	// AtRates are the phases of Config.Rates, in order.
	AtRates []Phase `json:"at_rates,omitempty"`
	// Batch is closed-loop _batch calls of BatchSize decisions.
	Batch     Phase `json:"batch"`
	BatchSize int   `json:"batch_size"`
	// Mismatches counts answers that differ from Expect (checked requests).
	Mismatches int `json:"mismatches"`
}

// ErrNotLoopback refuses load aimed at anything but this machine.
var ErrNotLoopback = errors.New("load targets must be loopback addresses")

// Run runs the phases in order: full speed, half load, Rates, _batch.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Count <= 0 {
		cfg.Count = 20_000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if len(cfg.Requests) == 0 {
		return Report{}, errors.New("decision load: no requests")
	}
	for _, rate := range cfg.Rates {
		if !(rate > 0) { // NaN too
			return Report{}, fmt.Errorf("decision load: rate %v: must be positive", rate)
		}
	}
	if err := checkLoopback(cfg.URL); err != nil {
		return Report{}, err
	}
	r := &runner{cfg: cfg, base: cfg.URL, path: "/_plugins/_authz/evaluate", header: http.Header{"Content-Type": {"application/json"}}}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	if cfg.User != "" {
		(&http.Request{Header: r.header}).SetBasicAuth(cfg.User, cfg.Password) // into r.header
	}
	if !cfg.NetHTTP {
		p, err := newConnPool(cfg.URL, cfg.Client, r.header.Get("Authorization"), &r.newConns)
		if err != nil {
			return Report{}, err
		}
		defer p.close()
		r.conns = p
	} else if cfg.Client == nil {
		return Report{}, errors.New("decision load: NetHTTP needs a Client")
	}
	r.trace = &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) {
		if !c.Reused {
			r.newConns.Add(1)
		}
	}}
	for _, q := range cfg.Requests {
		b, err := json.Marshal(body(q))
		if err != nil {
			return Report{}, err
		}
		r.bodies = append(r.bodies, b)
	}
	rep := Report{URL: cfg.URL, BatchSize: cfg.BatchSize}
	var err error
	if rep.Single, err = r.closedLoop(ctx, cfg.Count, false); err != nil {
		return rep, err
	}
	rate := rep.Single.PerSec / 2
	if rep.SingleHalfLoad, err = r.openLoop(ctx, cfg.Count/2, rate); err != nil {
		return rep, err
	}
	for _, rate := range cfg.Rates {
		p, err := r.openLoop(ctx, cfg.Count/2, rate)
		if err != nil {
			return rep, err
		}
		rep.AtRates = append(rep.AtRates, p)
	}
	if rep.Batch, err = r.closedLoop(ctx, cfg.Count*5, true); err != nil {
		return rep, err
	}
	rep.Mismatches = int(r.mismatches.Load())
	return rep, nil
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("decision load: bad URL %q", raw)
	}
	if u.Hostname() == "localhost" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("decision load: %s: %w", u.Hostname(), ErrNotLoopback)
	}
	return nil
}

func body(q Request) map[string]any {
	roles := q.BackendRoles
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{"user": map[string]any{"name": q.User, "backend_roles": roles}, "action": q.Action, "indices": q.Indices}
}

type runner struct {
	cfg        Config
	base, path string    // the node's URL, and the evaluate endpoint's path
	conns      *connPool // nil: calls go through Config.Client
	bodies     [][]byte
	mismatches atomic.Int64
	newConns   atomic.Int64
	trace      *httptrace.ClientTrace
	header     http.Header // every call's, shared
	bufs       sync.Pool   // of *bytes.Buffer, for answers
}

// warm makes the client's pool hold n connections before a phase with n
// workers starts, untimed, and resets the new-connection count. The kept
// connections are dialed and held until there are n; through net/http it
// has n calls in flight at once (its transport keeps them if it keeps that
// many idle).
func (r *runner) warm(ctx context.Context, n int) {
	if r.conns != nil {
		_ = r.conns.warm(n) // a dial that fails here fails again, counted, in the phase
		r.newConns.Store(0)
		return
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_ = r.call(ctx, false, i, 1) // answers are checked like any other
		}()
	}
	close(start)
	wg.Wait()
	r.newConns.Store(0)
}

// call sends one evaluate (or _batch) request and checks the answers of the
// requests starting at index first.
func (r *runner) call(ctx context.Context, batch bool, first, n int) error {
	var payload []byte
	path := r.path
	if batch {
		var buf bytes.Buffer
		buf.WriteString(`{"requests":[`)
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(r.bodies[(first+i)%len(r.bodies)])
		}
		buf.WriteString(`]}`)
		payload, path = buf.Bytes(), r.path+"/_batch"
	} else {
		payload = r.bodies[first%len(r.bodies)]
	}
	buf := r.bufs.Get().(*bytes.Buffer)
	defer r.bufs.Put(buf)
	buf.Reset()
	var status int
	var err error
	if r.conns != nil {
		status, err = r.conns.post(path, payload, buf)
	} else {
		status, err = r.postNetHTTP(ctx, path, payload, buf)
	}
	if err != nil {
		return err
	}
	b := buf.Bytes()
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %s", status, bytes.TrimSpace(b))
	}
	type answer struct {
		Allowed bool `json:"allowed"`
	}
	var answers []answer
	switch {
	case !batch && bytes.HasPrefix(b, []byte(`{"allowed":true,`)):
		// authzd writes "allowed" first. The load generator shares the
		// machine with the node: what it spends decoding is CPU the node
		// does not get.
		answers = []answer{{Allowed: true}}
	case !batch && bytes.HasPrefix(b, []byte(`{"allowed":false,`)):
		answers = []answer{{Allowed: false}}
	case batch:
		var out struct {
			Responses []answer `json:"responses"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		answers = out.Responses
	default:
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		answers = []answer{a}
	}
	for i, a := range answers {
		q := r.cfg.Requests[(first+i)%len(r.cfg.Requests)]
		if q.Check && a.Allowed != q.Expect {
			r.mismatches.Add(1)
		}
	}
	return nil
}

// postNetHTTP sends one call through Config.Client and reads the answer into buf.
func (r *runner) postNetHTTP(ctx context.Context, path string, payload []byte, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, r.trace), http.MethodPost, r.base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header = r.header // read, never written, by the client
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// closedLoop runs Concurrency workers that send the next call as soon as the
// previous one is answered, until count decisions were asked.
func (r *runner) closedLoop(ctx context.Context, count int, batch bool) (Phase, error) {
	per := 1
	if batch {
		per = r.cfg.BatchSize
	}
	calls := max(1, count/per)
	r.warm(ctx, r.cfg.Concurrency)
	var next atomic.Int64
	lat := make([]time.Duration, calls)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= calls || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := r.call(ctx, batch, k*per, per); err != nil {
					errs.Add(1)
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Phase{}, err
	}
	p := phase(lat, calls*per, time.Since(start), int(errs.Load()))
	p.NewConns = int(r.newConns.Load())
	return p, nil
}

// openLoop offers calls at rate per second whatever the answers take. A call
// is timed from when it was sent; with many more workers than calls in
// flight, a call waits for a free worker only when the node stalls, and then
// it is timed from when it was due, so that queueing counts (a sleeping
// worker's own timer lateness, up to a millisecond, does not).
func (r *runner) openLoop(ctx context.Context, count int, rate float64) (Phase, error) {
	if rate <= 0 || count <= 0 {
		return Phase{}, nil
	}
	interval := time.Duration(float64(time.Second) / rate)
	workers := max(r.cfg.Concurrency, 64) // enough that a slow answer does not delay the next send
	r.warm(ctx, workers)
	lat := make([]time.Duration, count)
	var errs atomic.Int64
	var wg sync.WaitGroup
	due := make(chan int, 1024)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range due {
				at := start.Add(time.Duration(k) * interval)
				from := at
				if d := time.Until(at); d > 0 {
					time.Sleep(d) // pacing an open-loop workload, not waiting for a condition
					from = time.Now()
				}
				if err := r.call(ctx, false, k, 1); err != nil {
					errs.Add(1)
				}
				lat[k] = time.Since(from)
			}
		}()
	}
	for k := range count {
		if ctx.Err() != nil {
			break
		}
		due <- k
	}
	close(due)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Phase{}, err
	}
	p := phase(lat, count, time.Since(start), int(errs.Load()))
	p.Rate, p.NewConns = rate, int(r.newConns.Load())
	return p, nil
}

func phase(lat []time.Duration, decisions int, took time.Duration, errs int) Phase {
	s := slices.Clone(lat)
	slices.Sort(s)
	us := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) / 1000
	}
	return Phase{
		Decisions: decisions, Calls: len(lat), PerSec: float64(decisions) / took.Seconds(),
		P50: us(0.50), P90: us(0.90), P99: us(0.99), Max: float64(s[len(s)-1].Nanoseconds()) / 1000, Errors: errs,
	}
}
