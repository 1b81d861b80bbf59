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
// The layout serves the decision loop: ranks and names sit next to the ids
// so merging touches only the grant, and entries are values with the common
// index pattern shapes inline, so checking an entry rarely leaves the array.
type grant struct {
	ids   []int32  // role ids, in name order
	ranks []uint64 // ranks[i] = Evaluator.rank[ids[i]]
	names []string // names[i] = Evaluator.names[ids[i]]
	// cluster and entries are deduplicated by interned identity.
	cluster []*actionSet
	entries []grantEntry
	// restricted is set when some role carries DLS, FLS or masking: then
	// DLS/FLS collection walks the roles themselves.
	restricted bool
	// templated is set when some entry has a templated index pattern.
	templated bool
}

// inlinePatterns is the number of index patterns a grantEntry holds inline.
const inlinePatterns = 3

// grantEntry is an interned index entry as a grant holds it.
type grantEntry struct {
	set uint32 // ent.actions.id: the memo bit to test
	// n is the number of inline patterns, or noInline when ent.patterns and
	// ent.templates must be consulted.
	n     uint8
	kinds [inlinePatterns]patternKind
	lits  [inlinePatterns]string
	ent   *indexEntry
}

const noInline = 0xff

func newGrantEntry(ent *indexEntry) grantEntry {
	ge := grantEntry{set: ent.set, ent: ent, n: noInline}
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
	g := &grant{ids: make([]int32, 0, len(ids))}
	for _, id := range ids {
		if b.roleSeen[id] == st {
			continue
		}
		b.roleSeen[id] = st
		g.ids = append(g.ids, id)
	}
	e.sortByRank(g.ids)
	e.fillNames(g)
	for _, id := range g.ids {
		r := e.roles[id]
		if r == nil {
			continue
		}
		if s := r.cluster; b.setSeen[s.id] != st {
			b.setSeen[s.id] = st
			g.cluster = append(g.cluster, s)
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
	return g
}

func (g *grant) addEntry(ent *indexEntry) {
	g.entries = append(g.entries, newGrantEntry(ent))
	g.templated = g.templated || len(ent.templates) > 0
}

// fillNames sets g.ranks and g.names from g.ids.
func (e *Evaluator) fillNames(g *grant) {
	g.ranks = make([]uint64, len(g.ids))
	g.names = make([]string, len(g.ids))
	for i, id := range g.ids {
		g.ranks[i], g.names[i] = e.rank[id], e.names[id]
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

// appendRoles sorts up to mergeSmall roles in all directly; beyond, it
// merges up to mergeGrantsInline roles outside the largest grant into that
// grant without allocating.
const (
	mergeSmall        = 16
	mergeGrantsInline = 64
)

// roleRef is one role of a grant while appendRoles merges.
type roleRef struct {
	rank uint64
	name string
	id   int32
}

// appendRoles appends the sorted, deduplicated role names (and, when ids is
// non-nil, their ids) of the grants gs to names. A few roles are sorted
// together; with more, the largest grant is copied in runs between the
// insertion points of the others' roles, so a request mapped to hundreds of
// roles costs a memmove plus a few binary searches rather than a comparison
// per role.
func (e *Evaluator) appendRoles(gs []*grant, names []string, ids []int32) ([]string, []int32) {
	switch len(gs) {
	case 0:
		return names, ids
	case 1:
		if ids != nil {
			ids = append(ids, gs[0].ids...)
		}
		return append(names, gs[0].names...), ids
	}
	big, total := 0, 0
	for i, g := range gs {
		total += len(g.ids)
		if len(g.ids) > len(gs[big].ids) {
			big = i
		}
	}
	if total <= mergeSmall {
		var inline [mergeSmall]roleRef
		all := inline[:0]
		for _, g := range gs {
			for k, id := range g.ids {
				all = append(all, roleRef{g.ranks[k], g.names[k], id})
			}
		}
		insertionSortRefs(all)
		prev := int32(-1)
		for i := range all {
			if all[i].id == prev {
				continue
			}
			prev = all[i].id
			names = append(names, all[i].name)
			if ids != nil {
				ids = append(ids, prev)
			}
		}
		return names, ids
	}
	var inline [mergeGrantsInline]roleRef
	small := inline[:0]
	for i, g := range gs {
		if i != big {
			for k, id := range g.ids {
				small = append(small, roleRef{g.ranks[k], g.names[k], id})
			}
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
		p := i + sort.Search(len(L.ranks)-i, func(k int) bool { return L.ranks[i+k] >= ref.rank })
		names = append(names, L.names[i:p]...)
		if ids != nil {
			ids = append(ids, L.ids[i:p]...)
		}
		i = p
		if p < len(L.ids) && L.ids[p] == ref.id {
			continue // in both: L's copy is appended with the next run
		}
		names = append(names, ref.name)
		if ids != nil {
			ids = append(ids, ref.id)
		}
	}
	names = append(names, L.names[i:]...)
	if ids != nil {
		ids = append(ids, L.ids[i:]...)
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
