package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config describes one scenario. Zero values mean the defaults of withDefaults.
type Config struct {
	// Seed drives every random choice: each client's operations, nodes and
	// keys, the fault schedule and its targets. The same seed replays the
	// same choices (timing still differs from run to run).
	Seed int64
	// Clients is the number of concurrent sessions; default 6.
	Clients int
	// Registers is the number of register keys reg-0..; default 5.
	Registers int
	// Pace is each client's interval between operations; default 10ms.
	Pace time.Duration
	// OpTimeout is the client timeout of one request; default 10s.
	OpTimeout time.Duration
	// MaxOps bounds the workload's operations; default 200000.
	MaxOps int
	// Faults is the number of faults to inject, one after the other.
	Faults int
	// Kinds are the faults to choose from; the schedule is a seeded shuffle
	// in which each kind comes up equally often. Default: isolate-leader.
	Kinds []FaultKind
	// Hold is how many operations (of any outcome) the workload must complete
	// while a fault is in place (after writes succeed again) and again after
	// it healed, before the driver moves on; default 20.
	Hold int
	// RecoverTimeout bounds every wait of the driver: for a write to succeed
	// after a fault, for a node to catch up, for the cluster to converge;
	// default 60s.
	RecoverTimeout time.Duration
	// CheckTimeout bounds the linearizability search per key; default 2m.
	CheckTimeout time.Duration
	// Extensions add operations to the workload (see Extension), chosen for
	// ExtensionShare (0 to 1) of the operations; 0 runs none.
	Extensions     []Extension
	ExtensionShare float64
	// Logf, if set, receives one line per fault as the run goes.
	Logf func(format string, args ...any)
}

func (c *Config) withDefaults() {
	if c.Clients == 0 {
		c.Clients = 6
	}
	if c.Registers == 0 {
		c.Registers = 5
	}
	if c.Pace == 0 {
		c.Pace = 10 * time.Millisecond
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 10 * time.Second
	}
	if c.MaxOps == 0 {
		c.MaxOps = 200000
	}
	if len(c.Kinds) == 0 {
		c.Kinds = []FaultKind{IsolateLeader}
	}
	if c.Hold == 0 {
		c.Hold = 20
	}
	if c.RecoverTimeout == 0 {
		c.RecoverTimeout = time.Minute
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 2 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// validate checks the configuration against what the nemesis can do.
func (c *Config) validate(n Nemesis) error {
	var errs []error
	for _, k := range c.Kinds {
		if err := k.valid(); err != nil {
			errs = append(errs, err)
		} else if k.action() == "pause" {
			if _, ok := n.(Pauser); !ok {
				errs = append(errs, fmt.Errorf("fault %s needs a nemesis that can pause", k))
			}
		}
	}
	if c.Clients < 0 || c.Registers < 0 || c.Faults < 0 || c.Hold < 0 {
		errs = append(errs, errors.New("clients, registers, faults and hold must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid scenario: %w", errors.Join(errs...))
	}
	return nil
}

// driver runs one scenario: the workload, the nemesis, the waits.
type driver struct {
	c     Cluster
	n     Nemesis
	cfg   Config
	rec   *recorder
	wl    *workload
	rng   *rand.Rand
	index map[string]int // node id -> index

	probeMu  sync.Mutex
	probeSeq int            // client ids for probes, above the workload's
	probes   sync.WaitGroup // probe writes still in flight
	findings []Finding      // misbehaviour under faults, from the driver goroutine only
}

// Run runs the workload against c while n injects cfg.Faults faults, then
// reads every node's final state and checks the history. It returns the
// report, also when it returns an error: the error says why the run could not
// go on (a nemesis action failed, the cluster did not recover in time), and
// the report then covers what ran. Findings in the report do not make an
// error: check Report.OK.
//
// Run owns the goroutines it starts (clients, probes) and waits for them
// before it returns.
func Run(ctx context.Context, c Cluster, n Nemesis, cfg Config) (*Report, error) {
	cfg.withDefaults()
	if err := cfg.validate(n); err != nil {
		return nil, err
	}
	d := &driver{c: c, n: n, cfg: cfg, rec: newRecorder(), rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 1<<62)), index: map[string]int{}}
	d.probeSeq = cfg.Clients
	rep := &Report{Seed: cfg.Seed, Nodes: c.Size(), Clients: cfg.Clients}
	begin := time.Now()
	defer func() { rep.Duration = time.Since(begin) }()

	if _, _, err := d.healthy(ctx); err != nil {
		return rep, fmt.Errorf("before the workload: %w", err)
	}
	d.wl = newWorkload(c, cfg, d.rec)
	d.wl.start(ctx)
	defer d.probes.Wait()
	defer d.wl.halt()

	// Let the workload build some history before the first fault.
	runErr := d.hold(ctx)
	for i, kind := range d.schedule() {
		if runErr != nil {
			break
		}
		f, err := d.fault(ctx, i+1, kind)
		rep.Faults = append(rep.Faults, f)
		cfg.Logf("%s", f)
		if err != nil {
			runErr = fmt.Errorf("fault %d (%s): %w", i+1, kind, err)
		}
	}
	d.wl.halt()
	d.probes.Wait()
	final, err := d.final(ctx)
	h := History{Ops: d.rec.snapshot(), Final: final}
	d.readExtra(ctx, h)
	rep.History = h
	rep.extensions = cfg.Extensions
	rep.Result = Check(h, CheckOptions{Timeout: cfg.CheckTimeout, Extensions: cfg.Extensions})
	rep.Result.Findings = append(d.findings, rep.Result.Findings...)
	if err != nil {
		rep.Result.Findings = append(rep.Result.Findings, Finding{Kind: FindingDiverged, Detail: err.Error()})
	}
	rep.Err = errors.Join(runErr, err)
	return rep, rep.Err
}

// readExtra lets every FinalReader extension read each node's final state
// into h.Final.
func (d *driver) readExtra(ctx context.Context, h History) {
	for _, e := range d.cfg.Extensions {
		fr, ok := e.(FinalReader)
		if !ok {
			continue
		}
		for i := range h.Final {
			s := &h.Final[i]
			got, err := fr.ReadFinal(ctx, d.c, s.Node, h.Ops)
			if err != nil {
				if s.ExtraErr == nil {
					s.ExtraErr = map[string]string{}
				}
				s.ExtraErr[e.Name()] = err.Error()
				continue
			}
			if s.Extra == nil {
				s.Extra = map[string]map[string]string{}
			}
			s.Extra[e.Name()] = got
		}
	}
}

// schedule is the seeded sequence of fault kinds.
func (d *driver) schedule() []FaultKind {
	s := make([]FaultKind, d.cfg.Faults)
	for i := range s {
		s[i] = d.cfg.Kinds[i%len(d.cfg.Kinds)]
	}
	d.rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// others is every node but the excluded ones.
func (d *driver) others(exclude ...int) []int {
	var out []int
	for i := range d.c.Size() {
		if !slices.Contains(exclude, i) {
			out = append(out, i)
		}
	}
	return out
}

// status asks node i for its view with a short timeout of its own.
func (d *driver) status(ctx context.Context, i int) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, min(d.cfg.OpTimeout, 3*time.Second))
	defer cancel()
	return NodeStatus(ctx, d.c, i)
}

// leader asks the given nodes who leads; it returns the index of the node a
// majority of the cluster names and that calls itself leader, or -1.
func (d *driver) leader(ctx context.Context, nodes []int) (int, map[int]Status) {
	sts := map[int]Status{}
	votes := map[string]int{}
	for _, i := range nodes {
		st, err := d.status(ctx, i)
		if err != nil {
			continue
		}
		sts[i] = st
		d.index[st.NodeID] = i
		if st.LeaderID != "" {
			votes[st.LeaderID]++
		}
	}
	for id, v := range votes {
		i, ok := d.index[id]
		if ok && v > d.c.Size()/2 && sts[i].State == "Leader" {
			return i, sts
		}
	}
	return -1, sts
}

// poll calls f every 20ms until it returns true, ctx ends, or
// RecoverTimeout passes; then it returns an error with f's last word.
func (d *driver) poll(ctx context.Context, what string, f func() (bool, string)) error {
	deadline := time.Now().Add(d.cfg.RecoverTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := f()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %s", what, d.cfg.RecoverTimeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// healthy waits until every node answers and a majority names a leader that
// knows it leads; it returns the leader and every node's status.
func (d *driver) healthy(ctx context.Context) (leader int, sts map[int]Status, err error) {
	err = d.poll(ctx, "cluster healthy", func() (bool, string) {
		leader, sts = d.leader(ctx, d.others())
		if len(sts) < d.c.Size() || leader < 0 {
			return false, fmt.Sprintf("%d of %d nodes answer, leader %d", len(sts), d.c.Size(), leader)
		}
		return true, ""
	})
	return leader, sts, err
}

// hold waits until the workload completed cfg.Hold more operations, unless it
// has spent its budget.
func (d *driver) hold(ctx context.Context) error {
	base := d.rec.done.Load()
	return d.poll(ctx, "workload progress", func() (bool, string) {
		n := d.rec.done.Load() - base
		return n >= int64(d.cfg.Hold) || d.wl.exhausted(), fmt.Sprintf("%d of %d operations completed", n, d.cfg.Hold)
	})
}

// probe measures failover. From since it starts a unique write every 100ms,
// round robin over nodes, each in its own goroutine (a write stuck on a
// frozen leader must not delay the next), until hit is closed (the node has
// been hit: the nemesis call returned) and a write started after that was
// acknowledged. It returns the longest time without an acknowledgement, from
// since to the first one or between two: the time the cluster took writes
// again after a crash, and the blip of a graceful handover, which a stop that
// takes seconds would otherwise hide or inflate. ctx ends the probing; the
// writes run on wctx, and those still in flight finish in the background (Run
// waits for them) and are recorded like any other.
func (d *driver) probe(ctx, wctx context.Context, since time.Duration, nodes []int, hit <-chan struct{}) (time.Duration, error) {
	type ack struct{ start, end time.Duration }
	acks, done := make(chan ack), make(chan struct{})
	defer close(done)
	var last sync.Mutex
	lastErr := "no write answered yet"
	launch := func(k int) {
		s, node := d.probeSession(), nodes[k%len(nodes)]
		d.probes.Add(1)
		go func() {
			defer d.probes.Done()
			op := d.wl.write(wctx, s, Op{Kind: WriteUnique, Node: node, Key: fmt.Sprintf("u-%d-%d", s.id, 1)})
			if op.Outcome == OK {
				select {
				case acks <- ack{op.Start, op.End}:
				case <-done:
				}
				return
			}
			last.Lock()
			lastErr = fmt.Sprintf("node %d: %s %s", node, op.Outcome, op.Err)
			last.Unlock()
		}()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(d.cfg.RecoverTimeout)
	hitAt := time.Duration(-1)
	var ends []time.Duration
	launch(0)
	for k := 1; ; {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-hit:
			hitAt, hit = d.rec.now(), nil
		case a := <-acks:
			ends = append(ends, a.end)
			if hitAt >= 0 && a.start >= hitAt {
				return longestGap(since, ends), nil
			}
		case <-tick.C:
			if time.Now().After(deadline) {
				last.Lock()
				defer last.Unlock()
				return 0, fmt.Errorf("no write acknowledged within %s: %s", d.cfg.RecoverTimeout, lastErr)
			}
			launch(k)
			k++
		}
	}
}

// longestGap is the longest stretch from since without one of the times in ends.
func longestGap(since time.Duration, ends []time.Duration) time.Duration {
	slices.Sort(ends)
	gap, prev := time.Duration(0), since
	for _, e := range ends {
		gap, prev = max(gap, e-prev), max(prev, e)
	}
	return gap
}

// probeSession is a fresh one-operation session for a probe.
func (d *driver) probeSession() *session {
	d.probeMu.Lock()
	defer d.probeMu.Unlock()
	d.probeSeq++
	return &session{id: d.probeSeq, seq: 1}
}

// catchUp waits until node i has applied what the leader had applied when the
// wait began and knows a leader; it returns the time since since.
func (d *driver) catchUp(ctx context.Context, i int, since time.Duration) (time.Duration, error) {
	var target uint64
	err := d.poll(ctx, fmt.Sprintf("node %d catching up", i), func() (bool, string) {
		if target == 0 {
			l, sts := d.leader(ctx, d.others(i))
			if l < 0 {
				return false, "no leader among the other nodes"
			}
			target = sts[l].Revision
		}
		st, err := d.status(ctx, i)
		if err != nil {
			return false, err.Error()
		}
		if st.LeaderID == "" || st.Revision < target {
			return false, fmt.Sprintf("at revision %d of %d, leader %q", st.Revision, target, st.LeaderID)
		}
		return true, ""
	})
	return d.rec.now() - since, err
}

// minority checks the cut-off node i: a write answers 503 JSON within the
// client timeout (never a hang), and a read is served from its last state
// (at least before, the revision it had when cut off), reporting that revision.
func (d *driver) minority(ctx context.Context, f *Fault, i int, before uint64) {
	var problems []string
	w := d.wl.write(ctx, d.probeSession(), Op{Kind: WriteUnique, Node: i, Key: fmt.Sprintf("minority-%d", f.N)})
	switch {
	case w.TimedOut:
		problems = append(problems, fmt.Sprintf("write hung past the client timeout (%s)", d.cfg.OpTimeout))
	case w.Status != http.StatusServiceUnavailable || statusField([]byte(w.Err)) != "UNAVAILABLE":
		problems = append(problems, fmt.Sprintf("write answered %d %s, want 503 UNAVAILABLE", w.Status, w.Err))
	}
	r := d.wl.read(ctx, d.probeSession(), Op{Kind: ReadProbe, Node: i, Key: "reg-0"})
	st, err := d.status(ctx, i)
	switch {
	case r.Outcome != OK:
		problems = append(problems, fmt.Sprintf("read failed: %d %s", r.Status, r.Err))
	case r.Rev < before:
		problems = append(problems, fmt.Sprintf("read served at revision %d, below the %d it had when cut off", r.Rev, before))
	case err != nil:
		problems = append(problems, fmt.Sprintf("status: %v", err))
	case r.Rev > st.Revision:
		problems = append(problems, fmt.Sprintf("read reports revision %d, the node reports %d applied", r.Rev, st.Revision))
	}
	if len(problems) == 0 {
		f.Minority = fmt.Sprintf("ok (write %d in %s, read at revision %d)", w.Status, fmtDur(w.End-w.Start), r.Rev)
		return
	}
	f.Minority = strings.Join(problems, "; ")
	d.findings = append(d.findings, Finding{Kind: FindingFault, Detail: fmt.Sprintf("fault %d (%s) node %d minority side: %s", f.N, f.Kind, i, f.Minority)})
}

// final waits until every node has applied the same revision with the same
// state hash, then reads each node's tenants. The error says the cluster did
// not converge; the states are read anyway.
func (d *driver) final(ctx context.Context) ([]NodeState, error) {
	var sts map[int]Status
	convErr := d.poll(ctx, "cluster converging", func() (bool, string) {
		var l int
		l, sts = d.leader(ctx, d.others())
		if l < 0 || len(sts) < d.c.Size() {
			return false, fmt.Sprintf("%d of %d nodes answer, leader %d", len(sts), d.c.Size(), l)
		}
		var desc []string
		same := true
		for i := range d.c.Size() {
			desc = append(desc, fmt.Sprintf("node %d at %d hash %.12s", i, sts[i].Revision, sts[i].StateHash))
			same = same && sts[i].Revision == sts[0].Revision && sts[i].StateHash == sts[0].StateHash
		}
		return same, strings.Join(desc, ", ")
	})
	out := make([]NodeState, d.c.Size())
	for i := range out {
		out[i] = d.nodeState(ctx, i, sts[i].Revision)
	}
	return out, convErr
}

// nodeState reads node i's tenants at (at least) revision rev.
func (d *driver) nodeState(ctx context.Context, i int, rev uint64) NodeState {
	s := NodeState{Node: i}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.OpTimeout)
	defer cancel()
	r, err := d.c.Do(rctx, i, http.MethodGet, fmt.Sprintf("/_plugins/_security/api/tenants?min_revision=%d", rev), "")
	if err != nil {
		s.Err = fmt.Sprintf("read tenants: %v", err)
		return s
	}
	if r.Status != http.StatusOK {
		s.Err = fmt.Sprintf("read tenants: %s", r)
		return s
	}
	var body map[string]struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		s.Err = fmt.Sprintf("read tenants: decode: %v", err)
		return s
	}
	s.Tenants = map[string]string{}
	for k, v := range body {
		s.Tenants[k] = v.Description
	}
	s.Revision = r.Revision()
	st, err := d.status(ctx, i)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if st.Revision != s.Revision {
		s.Err = fmt.Sprintf("applied revision moved from %d to %d while reading the final state", s.Revision, st.Revision)
	}
	s.StateHash = st.StateHash
	return s
}
