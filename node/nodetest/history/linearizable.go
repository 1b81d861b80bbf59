package history

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// regInput is a register operation: a write of Value, or a read.
type regInput struct {
	Write bool
	Value string
}

// regOutput is what a read returned; "" is a key that does not exist.
type regOutput struct{ Value string }

// registerModel is one register per key, initially absent (""). Writes always
// succeed; a read must return the current value.
var registerModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(regOutput).Value == state.(string), state
	},
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.Write {
			return fmt.Sprintf("put(%q)", in.Value)
		}
		return fmt.Sprintf("get() -> %q", output.(regOutput).Value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
	DescribeOperationMetadata: func(info any) string {
		if s, ok := info.(string); ok {
			return s
		}
		return ""
	},
}

// registerKey reports whether name is one of the workload's register keys.
func registerKey(name string) bool { return strings.HasPrefix(name, "reg-") }

// registerOps builds the porcupine history of each register key: acknowledged
// writes; unknown writes whose value some included read returned, with an
// infinite return time; register reads; and one final read per node and key
// after everything else. Definite failures are left out, as are unknown writes
// nothing observed (they can always be linearized last). Metadata is the
// operation's description.
func registerOps(h History) map[string][]porcupine.Operation {
	observed := map[string]bool{}
	keys := map[string]bool{}
	var end time.Duration
	maxClient := 0
	for _, op := range h.Ops {
		end = max(end, op.End)
		maxClient = max(maxClient, op.Client)
		if op.Kind == ReadRegister || op.Kind == WriteRegister {
			keys[op.Key] = true
		}
		if op.Kind == ReadRegister && op.Outcome == OK && op.Found {
			observed[op.Value] = true
		}
	}
	for _, s := range h.Final {
		for k, v := range s.Tenants {
			if registerKey(k) {
				keys[k], observed[v] = true, true
			}
		}
	}
	out := map[string][]porcupine.Operation{}
	for _, op := range h.Ops {
		p := porcupine.Operation{ClientId: op.Client, Call: int64(op.Start), Return: int64(op.End), Metadata: describe(op)}
		switch {
		case op.Kind == WriteRegister && op.Outcome == OK:
			p.Input = regInput{Write: true, Value: op.Value}
		case op.Kind == WriteRegister && op.Outcome == Unknown && observed[op.Value]:
			p.Input, p.Return = regInput{Write: true, Value: op.Value}, math.MaxInt64
		case op.Kind == ReadRegister && op.Outcome == OK:
			v := ""
			if op.Found {
				v = op.Value
			}
			p.Input, p.Output = regInput{}, regOutput{Value: v}
		default:
			continue
		}
		out[op.Key] = append(out[op.Key], p)
	}
	at := int64(end + time.Millisecond)
	for _, s := range h.Final {
		if s.Err != "" {
			continue
		}
		for k := range keys {
			out[k] = append(out[k], porcupine.Operation{
				ClientId: maxClient + 1 + s.Node, Call: at, Return: at,
				Input: regInput{}, Output: regOutput{Value: s.Tenants[k]},
				Metadata: fmt.Sprintf("final state of node %d (revision %d)", s.Node, s.Revision),
			})
		}
	}
	return out
}

// checkLinearizable runs porcupine per register key. It returns the combined
// verdict (Illegal over Unknown over Ok), the number of operations checked,
// and the linearization info of the first illegal key.
func checkLinearizable(h History, timeout time.Duration, add func(kind, format string, args ...any)) (porcupine.CheckResult, int, *porcupine.LinearizationInfo) {
	byKey := registerOps(h)
	verdict, n := porcupine.Ok, 0
	var illegal *porcupine.LinearizationInfo
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		ops := byKey[key]
		n += len(ops)
		res, info := porcupine.CheckOperationsVerbose(registerModel, ops, timeout)
		switch res {
		case porcupine.Illegal:
			add(FindingNonLinearizable, "register %s: %s", key, explain(ops, info))
			if illegal == nil {
				illegal = &info
			}
			verdict = porcupine.Illegal
		case porcupine.Unknown:
			add(FindingNonLinearizable, "register %s: the search did not finish within %s", key, timeout)
			if verdict == porcupine.Ok {
				verdict = porcupine.Unknown
			}
		}
	}
	return verdict, n, illegal
}

// explain names the operation the longest linearizable prefix cannot be
// extended with: of the operations left out, the one that returned first.
func explain(ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var longest []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	in := map[string]bool{}
	state := ""
	for _, op := range longest {
		in[op.Metadata.(string)] = true
		if w := op.Input.(regInput); w.Write {
			state = w.Value
		}
	}
	var stuck *porcupine.Operation
	for i := range ops {
		if !in[ops[i].Metadata.(string)] && (stuck == nil || ops[i].Return < stuck.Return) {
			stuck = &ops[i]
		}
	}
	if stuck == nil {
		return fmt.Sprintf("not linearizable (%d operations)", len(ops))
	}
	return fmt.Sprintf("%d of %d operations linearize, ending with value %q; then no order explains %s",
		len(longest), len(ops), state, stuck.Metadata)
}

// Visualize writes porcupine's HTML view of the first non-linearizable
// register to path; it does nothing when every register was linearizable.
func (r Result) Visualize(path string) error {
	if r.illegal == nil {
		return nil
	}
	if err := porcupine.VisualizePath(registerModel, *r.illegal, path); err != nil {
		return fmt.Errorf("visualize linearizability: %w", err)
	}
	return nil
}
