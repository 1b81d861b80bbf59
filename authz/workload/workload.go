package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/authzd/authzd/authz"
)

// RequestsFile is the name of the request list inside a workload directory.
const RequestsFile = "requests.jsonl"

// Request is one line of requests.jsonl.
type Request struct {
	User         string   `json:"user"`
	BackendRoles []string `json:"backend_roles"`
	Action       string   `json:"action"`
	Indices      []string `json:"indices"`
	// Expect is the reference evaluator's decision.
	Expect bool `json:"expect"`
}

// Workload is a loaded workload directory.
type Workload struct {
	// Name is the directory's base name (small, medium, large).
	Name string
	// Config is the directory's configuration exactly as its files say: no
	// statics are added (the bench files carry the static action groups).
	Config   *authz.Config
	Requests []Request
}

// Load reads a workload directory: its OpenSearch YAML files with
// authz.LoadDir and requests.jsonl, which must exist and hold at least one
// request. Unknown JSON keys are errors, reported with their line number.
func Load(dir string) (*Workload, error) {
	cfg, err := authz.LoadDir(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("load workload %s: %w", dir, err)
	}
	reqs, err := loadRequests(filepath.Join(dir, RequestsFile))
	if err != nil {
		return nil, fmt.Errorf("load workload %s: %w", dir, err)
	}
	return &Workload{Name: filepath.Base(filepath.Clean(dir)), Config: cfg, Requests: reqs}, nil
}

func loadRequests(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs []Request
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var r Request
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", filepath.Base(path), line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value", filepath.Base(path), line)
		}
		reqs = append(reqs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no requests", filepath.Base(path))
	}
	return reqs, nil
}

// Options tune Run. The zero value means the defaults.
type Options struct {
	// Settings are the node settings to compile with (default: none).
	Settings authz.Settings
	// Rounds is how many times the timed passes go over all requests
	// (default 5).
	Rounds int
}

func (o Options) withDefaults() Options {
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	return o
}

// Report is the outcome of Run, in the JSON shape `authzctl bench` prints.
type Report struct {
	Workload string `json:"workload"`
	// CompileMS is the wall time of authz.Compile.
	CompileMS float64 `json:"compile_ms"`
	// HeapMB is the live heap right after compiling (and a GC), in MiB:
	// configuration, requests and Evaluator.
	HeapMB float64 `json:"heap_mb"`
	// Per-decision latency percentiles and maximum, in nanoseconds.
	P50 int64 `json:"p50_ns"`
	P90 int64 `json:"p90_ns"`
	P99 int64 `json:"p99_ns"`
	Max int64 `json:"max_ns"`
	// PerSec is decisions per second on one goroutine.
	PerSec float64 `json:"per_sec"`
	// Mismatches counts decisions that differ from the requests' expect.
	Mismatches int `json:"mismatches"`
}

// ErrMismatch is returned (wrapped) by Run when a decision differs from its
// expectation; the Report is filled in all the same.
var ErrMismatch = errors.New("decisions differ from the workload's expectations")

// Run compiles w, checks every decision against its expectation and
// measures latency on the calling goroutine.
//
// Expectations follow the bench's reference evaluator (shared/bench/README.md
// "Semantics"), which judges every request with indices as an index request.
// The plugin classifies indices:data/read/mget and indices:data/read/scroll
// (and the other R-EVAL-4 cluster actions) as cluster actions even with
// indices, authorizing the per-index work on the shard-level sub-actions, so
// for such requests the expectation is checked against
// Evaluator.HasIndexPrivilege; all other requests against Evaluator.Evaluate.
//
// Timing: the check pass also warms caches and the action memo. Then every
// request is decided once per round with Evaluator.EvaluateInto into a
// reused Decision, each decision bracketed by two monotonic clock readings.
// A clock reading costs tens of nanoseconds, comparable to a decision, so the
// median cost of an empty bracket, measured beforehand, is subtracted from
// every sample (clamped at zero); the percentiles are those of the corrected
// samples. PerSec comes from a separate untimed pass over all requests, timed
// as a whole, so it carries no clock overhead.
func Run(w *Workload, opts Options) (Report, error) {
	opts = opts.withDefaults()
	rep := Report{Workload: w.Name}
	reqs := make([]authz.Request, len(w.Requests))
	for i, r := range w.Requests {
		reqs[i] = authz.Request{
			Subject: authz.Subject{Name: r.User, BackendRoles: r.BackendRoles},
			Action:  r.Action,
			Indices: r.Indices,
		}
	}

	start := time.Now()
	e, err := authz.Compile(w.Config, opts.Settings)
	if err != nil {
		return rep, fmt.Errorf("run workload %s: %w", w.Name, err)
	}
	rep.CompileMS = float64(time.Since(start).Microseconds()) / 1000
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapMB = float64(ms.HeapAlloc) / (1 << 20)

	for i := range reqs {
		if expected(e, &reqs[i]) != w.Requests[i].Expect {
			rep.Mismatches++
		}
	}

	var d authz.Decision
	overhead := clockOverhead()
	samples := make([]int64, 0, len(reqs)*opts.Rounds)
	for range opts.Rounds {
		for i := range reqs {
			t0 := time.Now()
			e.EvaluateInto(&reqs[i], &d)
			ns := int64(time.Since(t0)) - overhead
			samples = append(samples, max(ns, 0))
		}
	}
	slices.Sort(samples)
	pct := func(p float64) int64 { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
	rep.P50, rep.P90, rep.P99, rep.Max = pct(0.50), pct(0.90), pct(0.99), samples[len(samples)-1]

	start = time.Now()
	for range opts.Rounds {
		for i := range reqs {
			e.EvaluateInto(&reqs[i], &d)
		}
	}
	rep.PerSec = float64(len(reqs)*opts.Rounds) / time.Since(start).Seconds()
	runtime.KeepAlive(e)

	if rep.Mismatches > 0 {
		return rep, fmt.Errorf("run workload %s: %d of %d: %w", w.Name, rep.Mismatches, len(reqs), ErrMismatch)
	}
	return rep, nil
}

// expected is the decision the bench's reference evaluator makes (see Run).
func expected(e *authz.Evaluator, r *authz.Request) bool {
	if authz.IsClusterAction(r.Action) && len(r.Indices) > 0 {
		return e.HasIndexPrivilege(r)
	}
	return e.Evaluate(r).Allowed
}

// clockOverhead is the median duration of an empty pair of clock readings.
func clockOverhead() int64 {
	const n = 20001
	s := make([]int64, n)
	for i := range s {
		t0 := time.Now()
		s[i] = int64(time.Since(t0))
	}
	slices.Sort(s)
	return s[n/2]
}
