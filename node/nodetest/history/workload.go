package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Messages of refusals that promise the write was not applied: no leader was
// found, or the node has not initialized its state (after a restart, until it
// has replayed its log) and refused the request before proposing anything.
const (
	noLeaderMessage       = "No leader is available to accept writes, try again later"
	notInitializedMessage = "Security index not initialized"
)

// Extension adds operations on a further kind of resource to the workload, and
// a check over them, beside the built-in tenant operations. Ownership
// (ownership.go) registers ownership records and checks that none
// acknowledged is lost; it also reads the final state (FinalReader) and adds
// a report line (Summarizer).
type Extension interface {
	// Name labels the extension in reports.
	Name() string
	// Step performs one operation for a session and returns it; the workload
	// stamps Start and End around the call, records the result, and feeds an
	// acknowledged revision into the session and the frontier.
	Step(ctx context.Context, c Cluster, s StepInfo) Op
	// Check examines the whole history after the run.
	Check(h History) []Finding
}

// StepInfo is what an Extension's Step gets to know about its session.
type StepInfo struct {
	Client, Seq, Node int
	// MinRevision is the highest revision the session has seen.
	MinRevision uint64
	// Frontier is the highest revision any completed operation has seen.
	Frontier uint64
	// OpTimeout is the client timeout of one request (Config.OpTimeout).
	OpTimeout time.Duration
	Rand      *rand.Rand
}

// session is one sequential client.
type session struct {
	id  int
	rng *rand.Rand
	seq int
	rev uint64 // highest revision seen
	own string // last acknowledged unique write
}

// workload runs the clients of one scenario.
type workload struct {
	c      Cluster
	cfg    Config
	rec    *recorder
	keys   []string
	budget atomic.Int64
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newWorkload(c Cluster, cfg Config, rec *recorder) *workload {
	w := &workload{c: c, cfg: cfg, rec: rec, stop: make(chan struct{})}
	for k := range cfg.Registers {
		w.keys = append(w.keys, fmt.Sprintf("reg-%d", k))
	}
	w.budget.Store(int64(cfg.MaxOps))
	return w
}

// start starts the clients; halt stops them.
func (w *workload) start(ctx context.Context) {
	for i := range w.cfg.Clients {
		s := &session{id: i, rng: rand.New(rand.NewPCG(uint64(w.cfg.Seed), uint64(i)))}
		w.wg.Add(1)
		go w.client(ctx, s)
	}
}

// halt asks the clients to stop after their current operation and waits for
// them. It may be called more than once.
func (w *workload) halt() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// exhausted reports whether the operation budget is spent.
func (w *workload) exhausted() bool { return w.budget.Load() <= 0 }

// client runs one session until halt, ctx ends, or the budget is spent. The
// ticker paces it; a slow operation simply delays the next one.
func (w *workload) client(ctx context.Context, s *session) {
	defer w.wg.Done()
	tick := time.NewTicker(w.cfg.Pace)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case <-tick.C:
		}
		if w.budget.Add(-1) < 0 {
			return
		}
		w.step(ctx, s)
	}
}

// step picks and performs one operation.
func (w *workload) step(ctx context.Context, s *session) {
	s.seq++
	node := s.rng.IntN(w.c.Size())
	if n := len(w.cfg.Extensions); n > 0 && s.rng.Float64() < w.cfg.ExtensionShare {
		w.extension(ctx, s, w.cfg.Extensions[s.rng.IntN(n)], node)
		return
	}
	key := w.keys[s.rng.IntN(len(w.keys))]
	switch p := s.rng.Float64(); {
	case p < 0.25:
		w.write(ctx, s, Op{Kind: WriteUnique, Node: node, Key: fmt.Sprintf("u-%d-%d", s.id, s.seq)})
	case p < 0.55:
		w.write(ctx, s, Op{Kind: WriteRegister, Node: node, Key: key, Value: fmt.Sprintf("c%d-%d", s.id, s.seq)})
	case p < 0.80:
		w.read(ctx, s, Op{Kind: ReadRegister, Node: node, Key: key})
	default:
		op := Op{Kind: ReadSession, Node: node, Key: key}
		if s.own != "" {
			op.Key, op.Own = s.own, true
		}
		w.read(ctx, s, op)
	}
}

// write PUTs op.Key with op.Value as its description and records the outcome.
func (w *workload) write(ctx context.Context, s *session, op Op) Op {
	op.Client, op.Seq = s.id, s.seq
	if op.Value == "" {
		op.Value = op.Key
	}
	body, _ := json.Marshal(map[string]string{"description": op.Value}) // strings always encode
	op.Start = w.rec.now()
	resp, timedOut, err := w.do(ctx, op.Node, http.MethodPut, tenantPath(op.Key), string(body))
	classifyWrite(&op, resp, err, timedOut)
	w.finish(s, &op)
	return op
}

// read GETs op.Key and records what it returned. A register read asks for the
// frontier, read after Start is taken (see recorder.observe); a session read
// asks for the session's revision.
func (w *workload) read(ctx context.Context, s *session, op Op) Op {
	op.Client, op.Seq = s.id, s.seq
	op.Start = w.rec.now()
	op.MinRev = s.rev
	if op.Kind == ReadRegister {
		op.MinRev = max(s.rev, w.rec.frontier.Load())
	}
	path := tenantPath(op.Key)
	if op.MinRev > 0 {
		path += "?min_revision=" + strconv.FormatUint(op.MinRev, 10)
	}
	resp, timedOut, err := w.do(ctx, op.Node, http.MethodGet, path, "")
	classifyRead(&op, resp, err, timedOut)
	w.finish(s, &op)
	return op
}

func (w *workload) extension(ctx context.Context, s *session, e Extension, node int) {
	info := StepInfo{Client: s.id, Seq: s.seq, Node: node, MinRevision: s.rev, Frontier: w.rec.frontier.Load(), OpTimeout: w.cfg.OpTimeout, Rand: s.rng}
	start := w.rec.now()
	op := e.Step(ctx, w.c, info)
	op.Client, op.Seq, op.Node, op.Start = s.id, s.seq, node, start
	w.finish(s, &op)
}

// finish publishes an acknowledged revision, stamps End and records op.
func (w *workload) finish(s *session, op *Op) {
	if op.Outcome == OK && op.Rev > 0 {
		w.rec.observe(op.Rev)
		s.rev = max(s.rev, op.Rev)
	}
	op.End = w.rec.now()
	if op.Kind == WriteUnique && op.Outcome == OK {
		s.own = op.Key
	}
	if s.id < w.cfg.Clients {
		w.rec.done.Add(1)
	}
	w.rec.add(*op)
}

// do sends one request with the per-operation timeout; timedOut tells a client
// timeout from other failures.
func (w *workload) do(ctx context.Context, node int, method, path, body string) (Response, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	resp, err := w.c.Do(rctx, node, method, path, body)
	timedOut := err != nil && errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	return resp, timedOut, err
}

func tenantPath(name string) string {
	return "/_plugins/_security/api/tenants/" + url.PathEscape(name)
}

// classifyFailure sets the outcome of a request that got no response and
// reports whether there was such a failure. A request that failed before a
// connection was made surely did nothing; any other failure may have reached
// the node.
func classifyFailure(op *Op, err error, timedOut bool) bool {
	if err == nil {
		return false
	}
	op.Outcome, op.Err, op.TimedOut = Unknown, err.Error(), timedOut
	if notSent(err) {
		op.Outcome = Failed
	}
	return true
}

// classifyWrite sets the outcome of a write from its response (see
// classifyFailure for a write without one).
func classifyWrite(op *Op, resp Response, err error, timedOut bool) {
	if classifyFailure(op, err, timedOut) {
		return
	}
	op.Status = resp.Status
	switch {
	case resp.Status == http.StatusOK || resp.Status == http.StatusCreated:
		op.Outcome, op.Rev, op.Created = OK, resp.Revision(), resp.Status == http.StatusCreated
		op.Unexpected = op.Rev == 0
	case resp.Status == http.StatusServiceUnavailable && message(resp.Body) == noLeaderMessage:
		op.Outcome = Failed
	case resp.Status == http.StatusInternalServerError && message(resp.Body) == notInitializedMessage:
		// A node that has not replayed its log yet refuses before proposing.
		op.Outcome = Failed
	case resp.Status >= 500:
		op.Outcome = Unknown
	default:
		op.Outcome, op.Unexpected = Failed, true
	}
	if op.Outcome != OK || op.Unexpected {
		op.Err = string(bytes.TrimSpace(resp.Body))
	}
}

// classifyRead sets the outcome of a read, and the value it returned.
func classifyRead(op *Op, resp Response, err error, timedOut bool) {
	if err != nil {
		op.Outcome, op.Err, op.TimedOut = Failed, err.Error(), timedOut
		return
	}
	op.Status = resp.Status
	switch resp.Status {
	case http.StatusOK:
		var body map[string]struct {
			Description string `json:"description"`
		}
		_ = json.Unmarshal(resp.Body, &body) // a body that does not decode lacks the resource
		v, ok := body[op.Key]
		if !ok {
			op.Outcome, op.Unexpected, op.Err = Failed, true, "200 without the resource: "+string(resp.Body)
			return
		}
		op.Outcome, op.Found, op.Value, op.Rev = OK, true, v.Description, resp.Revision()
	case http.StatusNotFound:
		op.Outcome, op.Rev = OK, resp.Revision()
	default:
		op.Outcome, op.Err = Failed, string(bytes.TrimSpace(resp.Body))
		op.Unexpected = resp.Status < 500
		return
	}
	op.Unexpected = op.Rev == 0
}

// notSent reports whether err shows that the request never left the client:
// no connection could be made. (net/http resends a request only when it wrote
// nothing of it, so that case needs no care.)
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// message is the "message" of a JSON status body, or "".
func message(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &m)
	return m.Message
}

// statusField is the "status" of a JSON status body, or "".
func statusField(body []byte) string {
	var m struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &m)
	return m.Status
}
