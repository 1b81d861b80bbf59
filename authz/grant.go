package authz

import (
	"slices"
	"sort"
	"strings"
)

// grant is what one set of roles grants, precomputed: the roles (for
// Decision.Roles), the distinct cluster action sets and the distinct index
// entries of all of them. Every exact mapping key (user name, backend role,
// host) has the grant of the roles it maps to, and every role name has the
// grant of itself, so a request unions a handful of grants however many
// roles they stand for: the ~900 identical auditor roles of the large bench
// workload collapse into one grant with two entries.
//
// The layout serves the decision loop, whose cost on large configurations
// is cache misses: the map values are *grant, each role is one roleRef
// (rank, name, id side by side), entries are values with the common index
// pattern shapes inline, their literals packed into one string, and the
// cluster sets carry their memo ids.
type grant struct {
	// What every decision reads comes first, in one cache line; the roles
	// (read by RoleNames and the slow paths) follow.
	//
	// cluster and entries are deduplicated by interned identity.
	cluster []grantSet
	entries []grantEntry
	// restricted is set when some role carries DLS, FLS or masking: then
	// DLS/FLS collection walks the roles themselves.
	restricted bool
	// templated is set when some entry has a templated index pattern.
	templated bool
	refs      []roleRef // the roles, in name order
	names     []string  // names[i] = refs[i].name, for one memmove into Decision.Roles
	// inline holds entries when there are few (most grants): next to the
	// header, so a decision reads them from the lines after it instead of
	// from a separate allocation elsewhere in the heap.
	inline [inlineEntries]grantEntry
}

// inlineEntries is the number of entries a grant holds inline.
const inlineEntries = 4

// grantSet is a cluster action set with its memo id inline.
type grantSet struct {
	id  uint32
	set *actionSet
}

// roleIDs returns the grant's role ids, in name order.
func (g *grant) roleIDs() []int32 {
	ids := make([]int32, len(g.refs))
	for i := range g.refs {
		ids[i] = g.refs[i].id
	}
	return ids
}

// hasRole reports whether the grant includes role id.
func (g *grant) hasRole(id int32) bool {
	for i := range g.refs {
		if g.refs[i].id == id {
			return true
		}
	}
	return false
}

// pack lays out g's entries and their inline literals for the decision
// loop, whose cost on large configurations is cache misses: up to
// inlineEntries entries go into g.inline, next to the header, and the
// literals into one string, so that a decision reads a grant from a few
// consecutive lines rather than from allocations spread over the heap.
// BenchmarkEvaluate/large: about 10 % faster with the entries inline (on a
// noisy machine); literals inline too gained nothing more. g must not change
// afterwards.
func (g *grant) pack() {
	if len(g.entries) <= len(g.inline) {
		n := copy(g.inline[:], g.entries)
		g.entries = g.inline[:n:n]
	}
	n := 0
	for i := range g.entries {
		if ge := &g.entries[i]; ge.n != noInline {
			for k := range int(ge.n) {
				n += len(ge.lits[k])
			}
		}
	}
	var b strings.Builder
	b.Grow(n)
	for i := range g.entries {
		if ge := &g.entries[i]; ge.n != noInline {
			for k := range int(ge.n) {
				b.WriteString(ge.lits[k])
			}
		}
	}
	arena, off := b.String(), 0
	for i := range g.entries {
		if ge := &g.entries[i]; ge.n != noInline {
			for k := range int(ge.n) {
				l := len(ge.lits[k])
				ge.lits[k] = arena[off : off+l]
				off += l
			}
		}
	}
}

// inlinePatterns is the number of index patterns a grantEntry holds inline.
const inlinePatterns = 3

// grantEntry is an interned index entry as a grant holds it.
type grantEntry struct {
	set uint32 // ent.actions.id: the memo bit to test
	// n is the number of inline patterns, or noInline when ent.patterns and
	// ent.templates must be consulted.
	n     uint8
	tpl   bool // ent has templated patterns
	kinds [inlinePatterns]patternKind
	lits  [inlinePatterns]string
	ent   *indexEntry
}

const noInline = 0xff

func newGrantEntry(ent *indexEntry) grantEntry {
	ge := grantEntry{set: ent.set, ent: ent, n: noInline, tpl: len(ent.templates) > 0}
	ps := &ent.patterns
	if len(ent.templates) > 0 || ps.exactMap != nil {
		return ge
	}
	n := 0
	add := func(k patternKind, lit string) bool {
		if n == inlinePatterns {
			return false
		}
		ge.kinds[n], ge.lits[n] = k, lit
		n++
		return true
	}
	if ps.any && !add(patAny, "") {
		return ge
	}
	for _, x := range ps.exact {
		if !add(patExact, x) {
			return ge
		}
	}
	for _, x := range ps.prefixes {
		if !add(patPrefix, x) {
			return ge
		}
	}
	for i := range ps.others {
		switch p := &ps.others[i]; p.kind {
		case patSuffix, patContains:
			if !add(p.kind, p.lit) {
				return ge
			}
		default:
			return ge
		}
	}
	ge.n = uint8(n)
	return ge
}

// match reports whether the inline patterns match s; only valid when
// n != noInline.
func (ge *grantEntry) match(s string) bool {
	for i := range int(ge.n) {
		lit := ge.lits[i]
		switch ge.kinds[i] {
		case patAny:
			return true
		case patExact:
			if s == lit {
				return true
			}
		case patPrefix:
			if strings.HasPrefix(s, lit) {
				return true
			}
		case patSuffix:
			if strings.HasSuffix(s, lit) {
				return true
			}
		case patContains:
			if strings.Contains(s, lit) {
				return true
			}
		}
	}
	return false
}

// grantBuilder merges roles into grants. Its stamps deduplicate interned
// values without maps; it is used by one goroutine (Compile or Update).
type grantBuilder struct {
	e        *Evaluator
	setSeen  []uint32
	entSeen  []uint32
	roleSeen []uint32
	stamp    uint32
}

func (b *grantBuilder) next() uint32 {
	b.stamp++
	if n := len(b.e.tab.sets); len(b.setSeen) < n {
		b.setSeen = append(b.setSeen, make([]uint32, n-len(b.setSeen))...)
	}
	if n := len(b.e.tab.entries); len(b.entSeen) < n {
		b.entSeen = append(b.entSeen, make([]uint32, n-len(b.entSeen))...)
	}
	if n := len(b.e.names); len(b.roleSeen) < n {
		b.roleSeen = append(b.roleSeen, make([]uint32, n-len(b.roleSeen))...)
	}
	return b.stamp
}

// build returns the grant of the roles ids (any order, duplicates allowed).
func (b *grantBuilder) build(ids []int32) *grant {
	e := b.e
	st := b.next()
	unique := make([]int32, 0, len(ids))
	for _, id := range ids {
		if b.roleSeen[id] != st {
			b.roleSeen[id] = st
			unique = append(unique, id)
		}
	}
	e.sortByRank(unique)
	g := &grant{}
	e.fillRoles(g, unique)
	for _, id := range unique {
		r := e.roles[id]
		if r == nil {
			continue
		}
		if s := r.cluster; b.setSeen[s.id] != st {
			b.setSeen[s.id] = st
			g.cluster = append(g.cluster, grantSet{s.id, s})
		}
		for k := range r.index {
			ent := r.index[k].ent
			if b.entSeen[ent.id] != st {
				b.entSeen[ent.id] = st
				g.addEntry(ent)
			}
		}
		g.restricted = g.restricted || r.restricted
	}
	g.pack()
	return g
}

func (g *grant) addEntry(ent *indexEntry) {
	g.entries = append(g.entries, newGrantEntry(ent))
	g.templated = g.templated || len(ent.templates) > 0
}

// fillRoles sets g's roles from ids, which are in name order.
func (e *Evaluator) fillRoles(g *grant, ids []int32) {
	g.refs = make([]roleRef, len(ids))
	g.names = make([]string, len(ids))
	for i, id := range ids {
		g.refs[i] = roleRef{rank: e.rank[id], name: e.names[id], id: id}
		g.names[i] = e.names[id]
	}
}

// sortByRank sorts role ids into name order.
func (e *Evaluator) sortByRank(ids []int32) {
	if len(ids) < 2 {
		return
	}
	rank := e.rank
	slices.SortFunc(ids, func(a, b int32) int {
		switch ra, rb := rank[a], rank[b]; {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
}

// appendRoles merges up to mergeWays grants of mergeSmall roles in all
// directly; beyond, it merges up to mergeGrantsInline roles outside the
// largest grant into that grant without allocating.
const (
	mergeSmall        = 16
	mergeWays         = 8
	mergeGrantsInline = 64
)

// roleRef is one role of a grant: its rank (to merge grants in name
// order), name and id side by side.
type roleRef struct {
	rank uint64
	name string
	id   int32
}

// appendRoles appends the sorted, deduplicated role names (and, when ids is
// non-nil, their ids) of the grants gs to names. A few short grants are
// merged head by head; with more roles, the largest grant is copied in runs
// between the insertion points of the others' roles, so hundreds of mapped
// roles cost a memmove plus a few binary searches rather than a comparison
// per role.
func (e *Evaluator) appendRoles(gs []*grant, names []string, ids []int32) ([]string, []int32) {
	switch len(gs) {
	case 0:
		return names, ids
	case 1:
		if ids != nil {
			for i := range gs[0].refs {
				ids = append(ids, gs[0].refs[i].id)
			}
		}
		return append(names, gs[0].names...), ids
	}
	big, total := 0, 0
	for i, g := range gs {
		total += len(g.refs)
		if len(g.refs) > len(gs[big].refs) {
			big = i
		}
	}
	if total <= mergeSmall && len(gs) <= mergeWays {
		// A k-way merge of the few short lists, by rank: equal ranks are the
		// same role and come out next to each other.
		var pos [mergeWays]int
		prev := int32(-1)
		for {
			best, rank := -1, uint64(0)
			for k, g := range gs {
				if p := pos[k]; p < len(g.refs) && (best < 0 || g.refs[p].rank < rank) {
					best, rank = k, g.refs[p].rank
				}
			}
			if best < 0 {
				return names, ids
			}
			ref := &gs[best].refs[pos[best]]
			pos[best]++
			if ref.id == prev {
				continue
			}
			prev = ref.id
			names = append(names, ref.name)
			if ids != nil {
				ids = append(ids, prev)
			}
		}
	}
	var inline [mergeGrantsInline]roleRef
	small := inline[:0]
	for i, g := range gs {
		if i != big {
			small = append(small, g.refs...)
		}
	}
	insertionSortRefs(small)
	L := gs[big]
	i := 0
	prev := int32(-1)
	for _, ref := range small {
		if ref.id == prev {
			continue
		}
		prev = ref.id
		// First position in L[i:] whose rank is ≥ ref's.
		p := i + sort.Search(len(L.refs)-i, func(k int) bool { return L.refs[i+k].rank >= ref.rank })
		names = append(names, L.names[i:p]...)
		if ids != nil {
			for k := i; k < p; k++ {
				ids = append(ids, L.refs[k].id)
			}
		}
		i = p
		if p < len(L.refs) && L.refs[p].id == ref.id {
			continue // in both: L's copy is appended with the next run
		}
		names = append(names, ref.name)
		if ids != nil {
			ids = append(ids, ref.id)
		}
	}
	names = append(names, L.names[i:]...)
	if ids != nil {
		for k := i; k < len(L.refs); k++ {
			ids = append(ids, L.refs[k].id)
		}
	}
	return names, ids
}

// insertionSortRefs sorts a short list by rank; it is stable, so equal
// roles from different grants end up next to each other.
func insertionSortRefs(refs []roleRef) {
	for i := 1; i < len(refs); i++ {
		v := refs[i]
		j := i
		for j > 0 && refs[j-1].rank > v.rank {
			refs[j] = refs[j-1]
			j--
		}
		refs[j] = v
	}
}
