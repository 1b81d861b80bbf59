package history

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

const ms = time.Millisecond

// good is a small correct history: three sessions, a unique write read back
// by its session, register writes and reads, an unknown write that later
// reads observe, and an unknown write nobody observes.
func good() History {
	ops := []Op{
		{Client: 0, Seq: 1, Kind: WriteUnique, Key: "u-0-1", Value: "u-0-1", Start: 0, End: 5 * ms, Outcome: OK, Status: 201, Created: true, Rev: 10},
		{Client: 0, Seq: 2, Kind: WriteRegister, Key: "reg-0", Value: "c0-2", Start: 6 * ms, End: 9 * ms, Outcome: OK, Status: 200, Rev: 11},
		{Client: 1, Seq: 1, Kind: ReadRegister, Key: "reg-0", MinRev: 11, Start: 10 * ms, End: 12 * ms, Outcome: OK, Found: true, Value: "c0-2", Rev: 11},
		{Client: 0, Seq: 3, Kind: ReadSession, Key: "u-0-1", Own: true, MinRev: 11, Start: 13 * ms, End: 14 * ms, Outcome: OK, Found: true, Value: "u-0-1", Rev: 12},
		{Client: 2, Seq: 1, Kind: WriteRegister, Key: "reg-0", Value: "c2-1", Start: 15 * ms, End: 20 * ms, Outcome: Unknown, Status: 503},
		{Client: 1, Seq: 2, Kind: ReadRegister, Key: "reg-0", MinRev: 12, Start: 30 * ms, End: 31 * ms, Outcome: OK, Found: true, Value: "c2-1", Rev: 13},
		{Client: 2, Seq: 2, Kind: WriteRegister, Key: "reg-1", Value: "c2-2", Start: 32 * ms, End: 40 * ms, Outcome: Unknown, Err: "timeout", TimedOut: true},
		{Client: 2, Seq: 3, Kind: WriteUnique, Key: "u-2-3", Value: "u-2-3", Start: 41 * ms, End: 42 * ms, Outcome: Failed, Status: 503},
		{Client: 1, Seq: 3, Kind: ReadSession, Key: "reg-1", MinRev: 13, Start: 43 * ms, End: 44 * ms, Outcome: OK, Rev: 13},
	}
	final := func(node int) NodeState {
		return NodeState{Node: node, Revision: 13, StateHash: "abc", Tenants: map[string]string{"global_tenant": "", "u-0-1": "u-0-1", "reg-0": "c2-1"}}
	}
	return History{Ops: ops, Final: []NodeState{final(0), final(1), final(2)}}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(h *History)
		want   string // finding kind; "" for a clean history
		lin    porcupine.CheckResult
	}{
		{"correct history passes", func(*History) {}, "", porcupine.Ok},
		{"acknowledged write lost on one node", func(h *History) {
			h.Final[1].Tenants = map[string]string{"reg-0": "c2-1"}
		}, FindingLost, porcupine.Ok},
		{"surely failed write applied", func(h *History) {
			h.Final[0].Tenants["u-2-3"] = "u-2-3"
		}, FindingPhantom, porcupine.Ok},
		{"surely failed register write read", func(h *History) {
			h.Ops[4].Outcome = Failed
		}, FindingPhantom, porcupine.Illegal},
		{"new resource answered updated", func(h *History) {
			h.Ops[0].Created, h.Ops[0].Status = false, 200
		}, FindingDuplicate, porcupine.Ok},
		{"read below its min_revision", func(h *History) {
			h.Ops[2].Rev = 9
		}, FindingStale, porcupine.Ok},
		{"session goes back in time", func(h *History) {
			h.Ops[8].MinRev, h.Ops[8].Rev = 0, 12
		}, FindingStale, porcupine.Ok},
		{"write lands before what its session saw", func(h *History) {
			h.Ops[1].Rev = 10
		}, FindingStale, porcupine.Ok},
		{"session misses its own write", func(h *History) {
			h.Ops[3].Found, h.Ops[3].Value = false, ""
		}, FindingStale, porcupine.Ok},
		{"read after an acknowledged write returns the old value", func(h *History) {
			h.Ops[2].Found, h.Ops[2].Value = false, ""
		}, FindingNonLinearizable, porcupine.Illegal},
		{"reads see a new value, then the old one", func(h *History) {
			h.Ops = append(h.Ops, Op{Client: 0, Seq: 4, Kind: ReadRegister, Key: "reg-0", MinRev: 13, Start: 50 * ms, End: 51 * ms, Outcome: OK, Found: true, Value: "c0-2", Rev: 14})
		}, FindingNonLinearizable, porcupine.Illegal},
		{"final state disagrees with the last read", func(h *History) {
			for i := range h.Final {
				h.Final[i].Tenants["reg-0"] = "c0-2"
			}
		}, FindingNonLinearizable, porcupine.Illegal},
		{"nodes diverge at the end", func(h *History) {
			h.Final[2].StateHash = "def"
		}, FindingDiverged, porcupine.Ok},
		{"a node's final state is missing", func(h *History) {
			h.Final[2] = NodeState{Node: 2, Err: "connection refused"}
		}, FindingUnavailable, porcupine.Ok},
		{"acknowledged write without a revision", func(h *History) {
			h.Ops[1].Unexpected = true
		}, FindingUnexpected, porcupine.Ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := good()
			tc.mutate(&h)
			r := Check(h, CheckOptions{Timeout: 10 * time.Second})
			if r.Linearizable != tc.lin {
				t.Errorf("linearizable = %s, want %s; findings %v", r.Linearizable, tc.lin, r.Findings)
			}
			if tc.want == "" {
				if !r.OK() {
					t.Fatalf("a correct history was flagged: %v", r.Findings)
				}
				return
			}
			if r.OK() || r.Count(tc.want) == 0 {
				t.Fatalf("want a %s finding, got %v", tc.want, r.Findings)
			}
		})
	}
}

// TestCheckCounts pins the counters next to the findings.
func TestCheckCounts(t *testing.T) {
	h := good()
	h.Final[1].Tenants = map[string]string{}
	h.Ops[2].Rev = 9
	h.Final[0].Tenants["u-2-3"] = "u-2-3"
	r := Check(h, CheckOptions{})
	if r.Lost != 1 || r.Stale != 1 || r.Phantom != 1 {
		t.Fatalf("lost %d stale %d phantom %d, want 1 each; %v", r.Lost, r.Stale, r.Phantom, r.Findings)
	}
}

// TestUnknownWritesInfiniteReturn: an unknown write may take effect any time
// after it began, even after reads that did not see it, but not before it began.
func TestUnknownWritesInfiniteReturn(t *testing.T) {
	h := good()
	ops := registerOps(h)["reg-0"]
	i := slices.IndexFunc(ops, func(o porcupine.Operation) bool { return o.Input == regInput{Write: true, Value: "c2-1"} })
	if i < 0 || ops[i].Return != math.MaxInt64 {
		t.Fatalf("unknown write not in the check with an infinite return: %+v", ops)
	}
	if _, ok := registerOps(h)["reg-1"]; !ok {
		t.Fatal("reg-1 has no final reads")
	}
	for _, o := range registerOps(h)["reg-1"] {
		if o.Input.(regInput).Write {
			t.Fatalf("an unknown write nothing observed stayed in the check: %+v", o)
		}
	}
	// A read that returns the unknown write's value before the write began is illegal.
	h.Ops = append(h.Ops, Op{Client: 3, Seq: 1, Kind: ReadRegister, Key: "reg-0", Start: 1 * ms, End: 2 * ms, Outcome: OK, Found: true, Value: "c2-1", Rev: 10})
	if r := Check(h, CheckOptions{}); r.Linearizable != porcupine.Illegal {
		t.Fatalf("a read of a value before its write began passed: %v", r.Findings)
	}
}

func TestVisualizeWritesTheIllegalRegister(t *testing.T) {
	h := good()
	h.Ops[2].Found, h.Ops[2].Value = false, ""
	r := Check(h, CheckOptions{})
	path := filepath.Join(t.TempDir(), "lin.html")
	if err := r.Visualize(path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Findings[0].Detail, "client 1 op 1 read-register reg-0") {
		t.Errorf("the finding does not name the read that cannot be placed: %s", r.Findings[0])
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}}
	for _, tc := range tests {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("empty percentile not 0")
	}
}

func TestLongestGap(t *testing.T) {
	tests := []struct {
		name string
		ends []time.Duration
		want time.Duration
	}{
		{"first acknowledgement ends the only gap", []time.Duration{1500 * ms}, 1500 * ms},
		{"writes kept succeeding: the pacing", []time.Duration{30 * ms, 130 * ms, 230 * ms}, 100 * ms},
		{"a blip after the first acknowledgements", []time.Duration{30 * ms, 130 * ms, 900 * ms, 1000 * ms}, 770 * ms},
		{"out of order", []time.Duration{900 * ms, 30 * ms, 130 * ms}, 770 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := longestGap(0, tc.ends); got != tc.want {
				t.Fatalf("longestGap = %v, want %v", got, tc.want)
			}
		})
	}
}
