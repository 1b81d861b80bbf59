package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// History is a finished run: every operation, and every node's state at the
// end, read after the cluster converged.
type History struct {
	Ops   []Op
	Final []NodeState
}

// NodeState is what one node holds at the end of a run.
type NodeState struct {
	Node      int
	Revision  uint64
	StateHash string
	// Tenants maps every tenant's name to its description.
	Tenants map[string]string
	// Err is set when the node's state could not be read.
	Err string
	// Extra is what each FinalReader extension read of the node, by its
	// Name; ExtraErr why it could not.
	Extra    map[string]map[string]string `json:",omitempty"`
	ExtraErr map[string]string            `json:",omitempty"`
}

// The kinds of Finding.
const (
	FindingLost            = "lost"             // an acknowledged write is missing at the end
	FindingPhantom         = "phantom"          // a write answered "surely not applied" was applied
	FindingDuplicate       = "duplicate"        // a write of a new resource answered "updated": applied twice
	FindingStale           = "stale"            // a read below its min_revision, a session back in time, a missed own write
	FindingUnexpected      = "unexpected"       // a response the workload has no reason to get
	FindingNonLinearizable = "non-linearizable" // a register history no order explains
	FindingDiverged        = "diverged"         // nodes disagree at the end
	FindingUnavailable     = "unavailable"      // a node's final state could not be read
	FindingFault           = "fault"            // the cluster misbehaved under a fault (a hang, a wrong answer)
)

// Finding is one violation, with enough detail to find it in the history.
type Finding struct {
	Kind   string
	Detail string
}

func (f Finding) String() string { return f.Kind + ": " + f.Detail }

// Result is the checker's verdict.
type Result struct {
	// Lost counts acknowledged unique writes missing on some node at the end.
	Lost int
	// Phantom counts definitely failed writes found applied.
	Phantom int
	// Stale counts reads and writes that broke a session's revision order.
	Stale int
	// Linearizable is porcupine's verdict over the register keys.
	Linearizable porcupine.CheckResult
	// RegisterOps is the number of operations the linearizability check saw.
	RegisterOps int
	// UnknownApplied counts unique writes of unknown outcome found applied.
	UnknownApplied int
	Findings       []Finding

	// illegal keeps the first non-linearizable key for Visualize.
	illegal *porcupine.LinearizationInfo
}

// OK reports whether the history passed every check.
func (r Result) OK() bool { return len(r.Findings) == 0 && r.Linearizable == porcupine.Ok }

// Count returns the number of findings of a kind.
func (r Result) Count(kind string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Timeout bounds the linearizability search per key; 0 means 2 minutes.
	// A search that runs out gives porcupine.Unknown, which is not OK.
	Timeout time.Duration
	// Extensions check their own operations.
	Extensions []Extension
}

// Check judges a history.
func Check(h History, opts CheckOptions) Result {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	var r Result
	add := func(kind, format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	checkFinal(h, add)
	r.Lost, r.Phantom, r.UnknownApplied = checkUnique(h, add)
	r.Phantom += checkRegisterPhantoms(h, add)
	r.Stale = checkSessions(h.Ops, add)
	for _, op := range h.Ops {
		if op.Unexpected {
			add(FindingUnexpected, "%s: %s", describe(op), op.Err)
		}
	}
	r.Linearizable, r.RegisterOps, r.illegal = checkLinearizable(h, opts.Timeout, add)
	for _, e := range opts.Extensions {
		r.Findings = append(r.Findings, e.Check(h)...)
	}
	return r
}

// checkFinal reports nodes whose final state is missing or disagrees.
func checkFinal(h History, add func(kind, format string, args ...any)) {
	var ref *NodeState
	for i := range h.Final {
		s := &h.Final[i]
		if s.Err != "" {
			add(FindingUnavailable, "node %d: %s", s.Node, s.Err)
			continue
		}
		if ref == nil {
			ref = s
			continue
		}
		if s.Revision != ref.Revision || s.StateHash != ref.StateHash {
			add(FindingDiverged, "node %d at revision %d hash %.12s, node %d at revision %d hash %.12s",
				ref.Node, ref.Revision, ref.StateHash, s.Node, s.Revision, s.StateHash)
		}
	}
}

// checkUnique checks the unique writes against every final state.
func checkUnique(h History, add func(kind, format string, args ...any)) (lost, phantom, unknownApplied int) {
	for _, op := range h.Ops {
		if op.Kind != WriteUnique {
			continue
		}
		var missing, present []string
		for _, s := range h.Final {
			if s.Err != "" {
				continue
			}
			if _, ok := s.Tenants[op.Key]; ok {
				present = append(present, fmt.Sprint(s.Node))
			} else {
				missing = append(missing, fmt.Sprint(s.Node))
			}
		}
		switch {
		case op.Outcome == OK && len(missing) > 0:
			lost++
			add(FindingLost, "%s missing on node(s) %s", describe(op), strings.Join(missing, ","))
		case op.Outcome == Failed && len(present) > 0:
			phantom++
			add(FindingPhantom, "%s present on node(s) %s", describe(op), strings.Join(present, ","))
		case op.Outcome == Unknown && len(present) > 0:
			unknownApplied++
		}
		if op.Outcome == OK && !op.Created {
			add(FindingDuplicate, "%s answered %d for a resource nothing else writes", describe(op), op.Status)
		}
	}
	return lost, phantom, unknownApplied
}

// checkRegisterPhantoms reports definitely failed register writes whose value
// was read or is in a final state.
func checkRegisterPhantoms(h History, add func(kind, format string, args ...any)) int {
	seen := map[string]string{} // value -> where
	for _, op := range h.Ops {
		if op.Outcome == OK && op.Found && (op.Kind == ReadRegister || op.Kind == ReadSession) {
			seen[op.Value] = describe(op)
		}
	}
	for _, s := range h.Final {
		for k, v := range s.Tenants {
			if strings.HasPrefix(k, "reg-") {
				seen[v] = fmt.Sprintf("the final state of node %d", s.Node)
			}
		}
	}
	n := 0
	for _, op := range h.Ops {
		if op.Kind == WriteRegister && op.Outcome == Failed {
			if where, ok := seen[op.Value]; ok {
				n++
				add(FindingPhantom, "%s, yet %s holds its value", describe(op), where)
			}
		}
	}
	return n
}

// checkSessions checks each session's operations in its own order: a read is
// served at or above the min_revision it asked for and never below a revision
// the session saw before; a write lands after everything the session saw; a
// session reads its own acknowledged writes.
func checkSessions(ops []Op, add func(kind, format string, args ...any)) int {
	bySession := map[int][]Op{}
	for _, op := range ops {
		if op.Kind == ReadProbe {
			continue
		}
		bySession[op.Client] = append(bySession[op.Client], op)
	}
	stale := 0
	flag := func(format string, args ...any) {
		stale++
		add(FindingStale, format, args...)
	}
	for _, s := range slices.Sorted(maps.Keys(bySession)) {
		list := bySession[s]
		slices.SortFunc(list, func(a, b Op) int { return cmp.Compare(a.Seq, b.Seq) })
		var seen uint64
		var seenBy Op
		for _, op := range list {
			if op.Outcome != OK || op.Rev == 0 {
				continue
			}
			switch {
			case !op.Kind.IsWrite() && op.MinRev > 0 && op.Rev < op.MinRev:
				flag("%s asked min_revision %d and was served at revision %d", describe(op), op.MinRev, op.Rev)
			case !op.Kind.IsWrite() && op.Rev < seen:
				flag("%s was served at revision %d after the session saw revision %d (%s)", describe(op), op.Rev, seen, describe(seenBy))
			case op.Kind.IsWrite() && op.Rev <= seen:
				flag("%s was acknowledged at revision %d, not after revision %d the session saw before (%s)", describe(op), op.Rev, seen, describe(seenBy))
			case op.Own && !op.Found:
				flag("%s missed the session's own acknowledged write at revision %d", describe(op), op.Rev)
			}
			if op.Rev > seen {
				seen, seenBy = op.Rev, op
			}
		}
	}
	return stale
}

// describe names an operation for a finding.
func describe(op Op) string {
	s := fmt.Sprintf("client %d op %d %s %s on node %d [%s..%s] %s", op.Client, op.Seq, op.Kind, op.Key, op.Node,
		fmtDur(op.Start), fmtDur(op.End), op.Outcome)
	if op.Kind.IsWrite() && op.Value != op.Key {
		s += fmt.Sprintf(" value %q", op.Value)
	}
	if op.Found {
		s += fmt.Sprintf(" read %q", op.Value)
	} else if !op.Kind.IsWrite() && op.Outcome == OK {
		s += " read not-found"
	}
	if op.Rev > 0 {
		s += fmt.Sprintf(" rev %d", op.Rev)
	}
	if op.MinRev > 0 {
		s += fmt.Sprintf(" min_rev %d", op.MinRev)
	}
	return s
}

func fmtDur(d time.Duration) string { return d.Round(time.Millisecond).String() }
