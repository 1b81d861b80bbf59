package authz

import (
	"fmt"
	"slices"
	"strings"
)

// actionGroups is the flattened action-group graph (§4): for every group, the
// transitive closure of its entries (R-AG-2, R-AG-4). Computed once by Compile
// with Tarjan's strongly connected components, so cycles cost nothing and
// every member of a cycle gets the cycle's union.
type actionGroups struct {
	// direct are each group's own allowed_actions, as configured.
	direct map[string][]string
	// closure are each group's entries and the entries of every group
	// reachable from it, deduplicated and sorted.
	closure map[string][]string
	// cycles lists each cycle found, members sorted (for warnings).
	cycles [][]string
}

// flattenActionGroups computes the closure of every group in groups.
func flattenActionGroups(groups map[string]ActionGroup) *actionGroups {
	ag := &actionGroups{direct: make(map[string][]string, len(groups)), closure: make(map[string][]string, len(groups))}
	names := make([]string, 0, len(groups))
	for n, g := range groups {
		names = append(names, n)
		ag.direct[n] = g.AllowedActions
	}
	slices.Sort(names)

	// Tarjan's SCC, iterative to survive deep chains.
	index := make(map[string]int, len(names))
	low := make(map[string]int, len(names))
	onStack := make(map[string]bool, len(names))
	var stack []string
	var sccs [][]string // in reverse topological order: successors first
	next := 0
	type frame struct {
		name string
		edge int
	}
	for _, root := range names {
		if _, seen := index[root]; seen {
			continue
		}
		call := []frame{{name: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			edges := ag.direct[f.name]
			if f.edge < len(edges) {
				w := edges[f.edge]
				f.edge++
				if _, isGroup := ag.direct[w]; !isGroup {
					continue
				}
				if _, seen := index[w]; !seen {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{name: w})
				} else if onStack[w] {
					low[f.name] = min(low[f.name], index[w])
				}
				continue
			}
			v := f.name
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].name
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				var comp []string
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				sccs = append(sccs, comp)
			}
		}
	}

	// Successor components are complete before their predecessors.
	for _, comp := range sccs {
		set := map[string]struct{}{}
		inComp := make(map[string]bool, len(comp))
		for _, n := range comp {
			inComp[n] = true
		}
		selfLoop := false
		for _, n := range comp {
			for _, e := range ag.direct[n] {
				set[e] = struct{}{}
				if inComp[e] {
					if e == n {
						selfLoop = true
					}
					continue
				}
				for _, x := range ag.closure[e] {
					set[x] = struct{}{}
				}
			}
		}
		all := make([]string, 0, len(set))
		for e := range set {
			all = append(all, e)
		}
		slices.Sort(all)
		for _, n := range comp {
			ag.closure[n] = all
		}
		if len(comp) > 1 || selfLoop {
			c := slices.Clone(comp)
			slices.Sort(c)
			ag.cycles = append(ag.cycles, c)
		}
	}
	slices.SortFunc(ag.cycles, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return ag
}

// expand resolves a permission list (R-AG-2): every entry itself, plus the
// closure of each entry that names a group. The result is deduplicated and
// sorted.
func (ag *actionGroups) expand(entries []string) []string {
	set := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		set[e] = struct{}{}
		for _, x := range ag.closure[e] {
			set[x] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// isGroup reports whether name is an action group.
func (ag *actionGroups) isGroup(name string) bool {
	_, ok := ag.direct[name]
	return ok
}

// chain returns the shortest group path from entry to a leaf pattern p that
// satisfies ok (entry first, the leaf last), or nil. Used by explain only.
func (ag *actionGroups) chain(entry string, ok func(string) bool) []string {
	type node struct {
		name string
		prev int
	}
	queue := []node{{name: entry, prev: -1}}
	seen := map[string]bool{entry: true}
	for i := 0; i < len(queue); i++ {
		n := queue[i]
		if ok(n.name) {
			var path []string
			for j := i; j >= 0; j = queue[j].prev {
				path = append(path, queue[j].name)
			}
			slices.Reverse(path)
			return path
		}
		for _, e := range ag.direct[n.name] {
			if !seen[e] {
				seen[e] = true
				queue = append(queue, node{name: e, prev: i})
			}
		}
	}
	return nil
}

// warnings describes the cycles (R-AG-4: reported, not errors).
func (ag *actionGroups) warnings() []string {
	out := make([]string, 0, len(ag.cycles))
	for _, c := range ag.cycles {
		out = append(out, fmt.Sprintf("action group cycle: %s (members share the union of their actions)", strings.Join(c, ", ")))
	}
	return out
}
