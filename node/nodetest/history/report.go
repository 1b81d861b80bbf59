package history

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is the outcome of Run: what was injected, what was measured, and
// the checker's verdict.
type Report struct {
	Seed           int64
	Nodes, Clients int
	Duration       time.Duration
	Faults         []Fault
	History        History
	Result         Result
	// Err is why the run stopped early, if it did.
	Err error

	extensions []Extension // for their report lines (Summarizer)
}

// OK reports whether the run completed and its history passed every check.
func (r *Report) OK() bool { return r.Err == nil && r.Result.OK() }

// maxFindings caps the findings String lists; the counts stay complete.
const maxFindings = 30

// Counts are operation totals by kind and outcome.
type Counts struct {
	Attempted, OK, Unknown, Failed, TimedOut int
}

func (c *Counts) add(op Op) {
	c.Attempted++
	switch op.Outcome {
	case OK:
		c.OK++
	case Unknown:
		c.Unknown++
	case Failed:
		c.Failed++
	}
	if op.TimedOut {
		c.TimedOut++
	}
}

// Counts totals the history's operations, all of them under "".
func (r *Report) Counts() map[Kind]*Counts {
	out := map[Kind]*Counts{"": {}}
	for _, op := range r.History.Ops {
		if out[op.Kind] == nil {
			out[op.Kind] = &Counts{}
		}
		out[op.Kind].add(op)
		out[""].add(op)
	}
	return out
}

// FailoverTimes are the failover times of the faults that hit the leader
// (leader true) or of all faults.
func (r *Report) FailoverTimes(leader bool) []time.Duration {
	var out []time.Duration
	for _, f := range r.Faults {
		if f.Err == "" && (f.LeaderHit || !leader) {
			out = append(out, f.Failover)
		}
	}
	return out
}

// CatchUpTimes are the catch-up times of restarted nodes (restarted true:
// kill and restart faults) or of rejoined and thawed ones.
func (r *Report) CatchUpTimes(restarted bool) []time.Duration {
	var out []time.Duration
	for _, f := range r.Faults {
		a := f.Kind.action()
		if (a == "kill" || a == "restart") == restarted {
			out = append(out, f.CatchUp...)
		}
	}
	return out
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 1) of ds, 0 when empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s p99 %s max %s (n=%d)", fmtDur(Percentile(ds, 0.5)), fmtDur(Percentile(ds, 0.99)), fmtDur(Percentile(ds, 1)), len(ds))
}

// String is the report as the tests print it.
func (r *Report) String() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s %s\n", label, fmt.Sprintf(format, args...))
	}
	b.WriteString("authzd fault test report\n")
	line("seed", "%d", r.Seed)
	line("run", "%s, %d nodes, %d clients", r.Duration.Round(100*time.Millisecond), r.Nodes, r.Clients)
	byKind := map[FaultKind]int{}
	for _, f := range r.Faults {
		byKind[f.Kind]++
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	line("faults", "%d: %s", len(r.Faults), strings.Join(kinds, ", "))
	c := r.Counts()
	all := c[""]
	line("operations", "%d attempted: %d acknowledged/answered, %d unknown, %d failed (%d client timeouts)",
		all.Attempted, all.OK, all.Unknown, all.Failed, all.TimedOut)
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if k == "" {
			continue
		}
		n := c[k]
		line("  "+string(k), "%d: %d ok, %d unknown, %d failed (%d timeouts)", n.Attempted, n.OK, n.Unknown, n.Failed, n.TimedOut)
	}
	res := r.Result
	line("lost", "%d", res.Lost)
	line("phantom", "%d", res.Phantom)
	line("stale", "%d", res.Stale)
	line("unknown", "%d unique writes of unknown outcome found applied", res.UnknownApplied)
	for _, e := range r.extensions {
		if sm, ok := e.(Summarizer); ok {
			line(e.Name(), "%s", sm.Summary(r.History))
		}
	}
	line("linearizable", "%s (%d register operations)", verdict(res), res.RegisterOps)
	line("failover", "leader hit: %s", stats(r.FailoverTimes(true)))
	line("", "all faults: %s", stats(r.FailoverTimes(false)))
	line("catch-up", "restarted: %s", stats(r.CatchUpTimes(true)))
	line("", "rejoined/thawed: %s", stats(r.CatchUpTimes(false)))
	b.WriteString("faults\n")
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	if r.Err != nil {
		line("error", "%v", r.Err)
	}
	if len(res.Findings) == 0 {
		line("findings", "none")
	} else {
		line("findings", "%d", len(res.Findings))
		for i, f := range res.Findings {
			if i == maxFindings {
				fmt.Fprintf(&b, "  ... and %d more\n", len(res.Findings)-maxFindings)
				break
			}
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if r.OK() {
		b.WriteString("verdict        PASS\n")
	} else {
		b.WriteString("verdict        FAIL\n")
	}
	return b.String()
}

func verdict(r Result) string {
	switch r.Linearizable {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "NO"
	case porcupine.Unknown:
		return "unknown (the search timed out)"
	}
	return "not checked"
}

// WriteArtifacts writes the report (report.txt), the whole history as JSON
// (history.json: operations and final states) and, when a register was not
// linearizable, porcupine's HTML view of it (linearizability.html) to dir.
func (r *Report) WriteArtifacts(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), []byte(r.String()), 0o644); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	b, err := json.MarshalIndent(r.History, "", " ")
	if err != nil {
		return fmt.Errorf("artifacts: encode history: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "history.json"), b, 0o644); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	return r.Result.Visualize(filepath.Join(dir, "linearizability.html"))
}

// Require is the end of a fault test: it logs the report of Run (rep and err
// are what Run returned), writes its artifacts to $FAULTS_ARTIFACTS when set,
// and fails t when the run did not complete or its history failed a check.
func Require(t testing.TB, rep *Report, err error, seed int64) {
	t.Helper()
	if rep != nil {
		t.Logf("\n%s", rep)
		if dir := os.Getenv("FAULTS_ARTIFACTS"); dir != "" {
			if err := rep.WriteArtifacts(dir); err != nil {
				t.Error(err)
			}
		}
	}
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if !rep.OK() {
		t.Fatalf("seed %d: the history failed the checks (report above)", seed)
	}
}
