package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// FaultKind names a fault: "<action>-<target>", with action isolate (cut the
// node off from its peers), kill (stop it abruptly, start it again) or pause
// (freeze it, thaw it), and target leader, follower or any (a seeded choice);
// or restart-all, which stops and starts every node one by one, gracefully
// when the nemesis can (GracefulStopper), each after the previous caught up.
type FaultKind string

// The fault kinds the scenarios use.
const (
	IsolateLeader   FaultKind = "isolate-leader"
	IsolateFollower FaultKind = "isolate-follower"
	KillLeader      FaultKind = "kill-leader"
	KillFollower    FaultKind = "kill-follower"
	KillAny         FaultKind = "kill-any"
	PauseLeader     FaultKind = "pause-leader"
	PauseAny        FaultKind = "pause-any"
	RestartAll      FaultKind = "restart-all"
)

// GracefulStopper is a Nemesis that can also stop a node gracefully (SIGTERM,
// HTTP drain, Raft shutdown); restart-all uses it when present.
type GracefulStopper interface {
	StopGracefully(ctx context.Context, i int) error
}

func (k FaultKind) action() string {
	a, _, _ := strings.Cut(string(k), "-")
	return a
}

func (k FaultKind) target() string {
	_, t, _ := strings.Cut(string(k), "-")
	return t
}

func (k FaultKind) valid() error {
	if k == RestartAll {
		return nil
	}
	switch k.action() {
	case "isolate", "kill", "pause":
	default:
		return fmt.Errorf("fault %q: unknown action %q", k, k.action())
	}
	switch k.target() {
	case "leader", "follower", "any":
	default:
		return fmt.Errorf("fault %q: unknown target %q", k, k.target())
	}
	return nil
}

// ParseFaultKinds parses a comma-separated list of fault kinds.
func ParseFaultKinds(s string) ([]FaultKind, error) {
	var out []FaultKind
	var errs []error
	for _, f := range strings.Split(s, ",") {
		k := FaultKind(strings.TrimSpace(f))
		if err := k.valid(); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

// Fault is one injected fault and what the driver measured.
type Fault struct {
	N    int
	Kind FaultKind
	// Nodes are the nodes hit, in order (all of them for restart-all).
	Nodes []int
	// LeaderHit is true when a node hit was the leader at that moment.
	LeaderHit bool
	// At is when the fault began, since the history began.
	At time.Duration
	// Failover is the longest time without an acknowledged write from
	// hitting a node until a write started after the hit was acknowledged:
	// for a crash, the time until writes succeed again; for restart-all, the
	// worst of its steps.
	Failover time.Duration
	// CatchUp is, per node hit, the time from healing it (rejoin, start,
	// thaw) until it had applied what the leader had applied then.
	CatchUp []time.Duration
	// Minority is, for isolate faults, the verdict on the cut-off side.
	Minority string
	// Err is why the fault did not complete.
	Err string
}

func (f Fault) String() string {
	var nodes []string
	for _, n := range f.Nodes {
		nodes = append(nodes, fmt.Sprint(n))
	}
	var cu []string
	for _, c := range f.CatchUp {
		cu = append(cu, fmtDur(c))
	}
	s := fmt.Sprintf("#%-3d %-8s %-16s node %-5s", f.N, "+"+f.At.Round(100*time.Millisecond).String(), f.Kind, strings.Join(nodes, ","))
	if f.LeaderHit {
		s += " (leader)"
	} else {
		s += "         "
	}
	s += fmt.Sprintf(" failover %-7s catch-up %s", fmtDur(f.Failover), strings.Join(cu, ","))
	if f.Minority != "" {
		s += " minority " + f.Minority
	}
	if f.Err != "" {
		s += " ERROR " + f.Err
	}
	return s
}

// fault injects one fault of the given kind, waits for the cluster to take
// writes again, holds the fault while the workload runs, heals it, waits for
// the nodes hit to catch up, and holds again.
func (d *driver) fault(ctx context.Context, n int, kind FaultKind) (f Fault, err error) {
	f = Fault{N: n, Kind: kind, At: d.rec.now()}
	defer func() {
		if err != nil {
			f.Err = err.Error()
		}
	}()
	leader, sts, err := d.healthy(ctx)
	if err != nil {
		return f, fmt.Errorf("before the fault: %w", err)
	}
	if kind == RestartAll {
		for k, i := range d.rng.Perm(d.c.Size()) {
			if k > 0 {
				if leader, sts, err = d.healthy(ctx); err != nil {
					return f, err
				}
			}
			if err := d.step(ctx, &f, "restart", i, i == leader, sts[i].Revision); err != nil {
				return f, err
			}
		}
		return f, d.hold(ctx)
	}
	target := leader
	switch kind.target() {
	case "follower":
		others := d.others(leader)
		target = others[d.rng.IntN(len(others))]
	case "any":
		target = d.rng.IntN(d.c.Size())
	}
	if err := d.step(ctx, &f, kind.action(), target, target == leader, sts[target].Revision); err != nil {
		return f, err
	}
	return f, d.hold(ctx)
}

// step hits node i with action, measures the failover, holds (but not
// between the steps of a restart), checks the minority side of an isolation,
// heals, and measures the catch-up. On an error it still heals the node, so
// that the run can read the final state.
func (d *driver) step(ctx context.Context, f *Fault, action string, i int, isLeader bool, before uint64) error {
	inject, heal := d.actions(action)
	f.Nodes = append(f.Nodes, i)
	f.LeaderHit = f.LeaderHit || isLeader
	// Probing starts with the fault, not once the nemesis call has returned:
	// a graceful stop takes seconds during which the cluster may well take
	// writes.
	at := d.rec.now()
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	hit := make(chan struct{})
	type measured struct {
		failover time.Duration
		err      error
	}
	probed := make(chan measured, 1)
	go func() {
		fo, err := d.probe(pctx, ctx, at, d.others(i), hit)
		probed <- measured{fo, err}
	}()
	err := inject(ctx, i)
	close(hit)
	if err != nil {
		stopProbe()
		<-probed
		return fmt.Errorf("%s node %d: %w", action, i, err)
	}
	healed := false
	defer func() {
		if !healed {
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RecoverTimeout)
			defer cancel()
			if err := heal(hctx, i); err != nil {
				d.cfg.Logf("heal node %d after a failed fault: %v", i, err)
			}
		}
	}()
	m := <-probed
	if m.err != nil {
		return m.err
	}
	f.Failover = max(f.Failover, m.failover)
	if action != "restart" {
		if err := d.hold(ctx); err != nil {
			return err
		}
	}
	if action == "isolate" {
		d.minority(ctx, f, i, before)
	}
	healAt := d.rec.now()
	healed = true
	if err := heal(ctx, i); err != nil {
		return fmt.Errorf("heal node %d: %w", i, err)
	}
	cu, err := d.catchUp(ctx, i, healAt)
	f.CatchUp = append(f.CatchUp, cu)
	return err
}

// actions maps an action to the nemesis calls that inject and heal it.
func (d *driver) actions(action string) (inject, heal func(context.Context, int) error) {
	switch action {
	case "isolate":
		return d.n.Isolate, d.n.Rejoin
	case "pause":
		p := d.n.(Pauser) // validate checked it
		return p.Pause, p.Resume
	case "restart":
		if g, ok := d.n.(GracefulStopper); ok {
			return g.StopGracefully, d.n.Start
		}
	}
	return d.n.Stop, d.n.Start
}
