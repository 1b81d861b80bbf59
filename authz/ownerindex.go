package authz

import (
	"hash/maphash"
	"maps"
	"slices"
	"strings"
)

// OwnerIndex is an immutable index of ownership records. With and Without
// return a new index that shares everything it did not change, so an update
// costs one shard of the id map and one chunk of a few sorted id lists, not
// a copy of the index; readers holding an index are never disturbed. The
// per-kind lists are indexed by owner backend role (O3), by owner backend
// role set (O2) and by owner name, so Visible merges a few sorted lists
// instead of scanning every record (O5).
type OwnerIndex struct {
	seq   uint64
	count int
	kinds map[OwnerKind]*kindIndex // a handful of entries: copied on update
}

type kindIndex struct {
	byID      cowMap[*OwnerRecord]
	all       idSet
	byRoleSet cowMap[*roleGroup] // canonical role set → records whose owner has exactly it
	byRole    cowMap[idSet]      // backend role → records whose owner has it
	byOwner   cowMap[idSet]      // owner name → records
}

type roleGroup struct {
	roles []string // sorted, unique
	ids   idSet
}

// NewOwnerIndex returns an empty index.
func NewOwnerIndex() *OwnerIndex { return &OwnerIndex{kinds: map[OwnerKind]*kindIndex{}} }

// Seq is the KV sequence of the last entry applied to the index.
func (x *OwnerIndex) Seq() uint64 { return x.seq }

// Len is the number of records.
func (x *OwnerIndex) Len() int { return x.count }

// KindLen is the number of records of kind.
func (x *OwnerIndex) KindLen(kind OwnerKind) int {
	if k := x.kinds[kind]; k != nil {
		return k.all.n
	}
	return 0
}

// WithSeq returns x with its sequence set (for entries that changed nothing).
func (x *OwnerIndex) WithSeq(seq uint64) *OwnerIndex {
	n := *x
	n.seq = seq
	return &n
}

// Get returns the record of kind and id. It allocates nothing.
func (x *OwnerIndex) Get(kind OwnerKind, id string) (*OwnerRecord, bool) {
	k := x.kinds[kind]
	if k == nil {
		return nil, false
	}
	return k.byID.get(id)
}

// With returns an index that holds rec (replacing a record with the same
// kind and id) at sequence seq.
func (x *OwnerIndex) With(rec *OwnerRecord, seq uint64) *OwnerIndex {
	n := x.Without(rec.Kind, rec.ID, seq)
	rec = normalizedRecord(rec)
	n.count++
	k := n.kindCopy(rec.Kind)
	k.byID = k.byID.with(rec.ID, rec)
	k.all = k.all.with(rec.ID)
	setKey := strings.Join(rec.Owner.BackendRoles, "\x00")
	g, ok := k.byRoleSet.get(setKey)
	if !ok {
		g = &roleGroup{roles: rec.Owner.BackendRoles}
	}
	k.byRoleSet = k.byRoleSet.with(setKey, &roleGroup{roles: g.roles, ids: g.ids.with(rec.ID)})
	for _, r := range rec.Owner.BackendRoles {
		s, _ := k.byRole.get(r)
		k.byRole = k.byRole.with(r, s.with(rec.ID))
	}
	s, _ := k.byOwner.get(rec.Owner.Name)
	k.byOwner = k.byOwner.with(rec.Owner.Name, s.with(rec.ID))
	return n
}

// Without returns an index without the record of kind and id, at sequence seq.
func (x *OwnerIndex) Without(kind OwnerKind, id string, seq uint64) *OwnerIndex {
	n := *x
	n.seq = seq
	old, ok := x.Get(kind, id)
	if !ok {
		return &n
	}
	n.count--
	k := n.kindCopy(kind)
	k.byID = k.byID.without(id)
	k.all = k.all.without(id)
	setKey := strings.Join(old.Owner.BackendRoles, "\x00")
	if g, ok := k.byRoleSet.get(setKey); ok {
		if ids := g.ids.without(id); ids.n == 0 {
			k.byRoleSet = k.byRoleSet.without(setKey)
		} else {
			k.byRoleSet = k.byRoleSet.with(setKey, &roleGroup{roles: g.roles, ids: ids})
		}
	}
	for _, r := range old.Owner.BackendRoles {
		k.byRole = shrink(k.byRole, r, id)
	}
	k.byOwner = shrink(k.byOwner, old.Owner.Name, id)
	return &n
}

func shrink(m cowMap[idSet], key, id string) cowMap[idSet] {
	s, ok := m.get(key)
	if !ok {
		return m
	}
	if s = s.without(id); s.n == 0 {
		return m.without(key)
	}
	return m.with(key, s)
}

// kindCopy replaces n's kind map and kind entry by copies it may change.
func (n *OwnerIndex) kindCopy(kind OwnerKind) *kindIndex {
	n.kinds = maps.Clone(n.kinds)
	var k kindIndex
	if old := n.kinds[kind]; old != nil {
		k = *old
	}
	n.kinds[kind] = &k
	return &k
}

func normalizedRecord(rec *OwnerRecord) *OwnerRecord {
	r := *rec
	r.Owner.BackendRoles = idSet{}.normalize(rec.Owner.BackendRoles)
	r.Owner.Roles = idSet{}.normalize(rec.Owner.Roles)
	return &r
}

// VisibleQuery is one _visible request (O5).
type VisibleQuery struct {
	Kind OwnerKind
	// Subject is the requester; Admin marks the O4 bypass.
	Subject *Subject
	Admin   bool
	// FilterOn is the kind's O3 setting.
	FilterOn bool
	// After is the cursor: only ids greater than After are returned.
	After string
	// Size is the page size.
	Size int
}

// Visible returns up to q.Size ids of kind the subject may see (O2/O3/O4,
// after O1 was checked by the caller), in ascending id order after q.After,
// and whether more follow. A detector-rule requester without backend roles
// while the filter is on sees nothing (CheckAccess explains why).
func (x *OwnerIndex) Visible(q VisibleQuery) (ids []string, more bool) {
	k := x.kinds[q.Kind]
	if k == nil || q.Size <= 0 {
		return nil, false
	}
	var sets []idSet
	switch {
	case q.Admin || (q.Kind != KindAsyncSearch && !q.FilterOn):
		sets = []idSet{k.all}
	case q.Kind == KindAsyncSearch:
		k.byRoleSet.each(func(_ string, g *roleGroup) {
			if isSubset(g.roles, q.Subject.BackendRoles) {
				sets = append(sets, g.ids)
			}
		})
		if s, ok := k.byOwner.get(q.Subject.Name); ok {
			sets = append(sets, s)
		}
	default:
		for _, r := range q.Subject.BackendRoles {
			if s, ok := k.byRole.get(r); ok {
				sets = append(sets, s)
			}
		}
	}
	return merge(sets, q.After, q.Size)
}

// merge returns the first size distinct ids greater than after from the
// union of sets, and whether more remain.
func merge(sets []idSet, after string, size int) ([]string, bool) {
	its := make([]setIter, 0, len(sets))
	for _, s := range sets {
		if it := s.from(after); it.valid() {
			its = append(its, it)
		}
	}
	out := make([]string, 0, min(size, 1024))
	for len(its) > 0 {
		best := 0
		for i := 1; i < len(its); i++ {
			if its[i].cur() < its[best].cur() {
				best = i
			}
		}
		id := its[best].cur()
		if len(out) == size {
			return out, true
		}
		out = append(out, id)
		// Advance every iterator sitting on id (the union has no duplicates).
		for i := 0; i < len(its); {
			if its[i].cur() == id {
				its[i].next()
				if !its[i].valid() {
					its[i] = its[len(its)-1]
					its = its[:len(its)-1]
					continue
				}
			}
			i++
		}
	}
	return out, false
}

// cowShards is the shard count of a cowMap: an update copies one shard.
const cowShards = 128

var cowSeed = maphash.MakeSeed()

// cowMap is a copy-on-write string map split in shards.
type cowMap[V any] struct {
	shards *[cowShards]map[string]V
}

func (m cowMap[V]) get(k string) (V, bool) {
	if m.shards == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[maphash.String(cowSeed, k)%cowShards][k]
	return v, ok
}

func (m cowMap[V]) with(k string, v V) cowMap[V] {
	var n [cowShards]map[string]V
	if m.shards != nil {
		n = *m.shards
	}
	i := maphash.String(cowSeed, k) % cowShards
	n[i] = maps.Clone(n[i])
	if n[i] == nil {
		n[i] = map[string]V{}
	}
	n[i][k] = v
	return cowMap[V]{&n}
}

func (m cowMap[V]) without(k string) cowMap[V] {
	if _, ok := m.get(k); !ok {
		return m
	}
	n := *m.shards
	i := maphash.String(cowSeed, k) % cowShards
	n[i] = maps.Clone(n[i])
	delete(n[i], k)
	return cowMap[V]{&n}
}

func (m cowMap[V]) each(fn func(string, V)) {
	if m.shards == nil {
		return
	}
	for _, s := range m.shards {
		for k, v := range s {
			fn(k, v)
		}
	}
}

// chunkMax is the largest chunk of a idSet; a full chunk splits in two.
const chunkMax = 256

// idSet is an immutable sorted set of strings stored as a list of
// sorted chunks: with and without copy the chunk list and one chunk.
type idSet struct {
	chunks [][]string
	n      int
}

// normalize returns l sorted without duplicates (a copy; nil stays nil).
func (idSet) normalize(l []string) []string {
	if l == nil {
		return []string{}
	}
	c := slices.Clone(l)
	slices.Sort(c)
	return slices.Compact(c)
}

// chunkFor is the index of the chunk that holds or would hold id.
func (s idSet) chunkFor(id string) int {
	// The first chunk whose last element is >= id.
	i, _ := slices.BinarySearchFunc(s.chunks, id, func(c []string, id string) int {
		return strings.Compare(c[len(c)-1], id)
	})
	return min(i, len(s.chunks)-1)
}

func (s idSet) with(id string) idSet {
	if len(s.chunks) == 0 {
		return idSet{chunks: [][]string{{id}}, n: 1}
	}
	ci := s.chunkFor(id)
	c := s.chunks[ci]
	j, found := slices.BinarySearch(c, id)
	if found {
		return s
	}
	nc := make([]string, 0, len(c)+1)
	nc = append(append(append(nc, c[:j]...), id), c[j:]...)
	chunks := make([][]string, 0, len(s.chunks)+1)
	chunks = append(chunks, s.chunks[:ci]...)
	if len(nc) > chunkMax {
		chunks = append(chunks, nc[:len(nc)/2:len(nc)/2], nc[len(nc)/2:])
	} else {
		chunks = append(chunks, nc)
	}
	chunks = append(chunks, s.chunks[ci+1:]...)
	return idSet{chunks: chunks, n: s.n + 1}
}

func (s idSet) without(id string) idSet {
	if len(s.chunks) == 0 {
		return s
	}
	ci := s.chunkFor(id)
	c := s.chunks[ci]
	j, found := slices.BinarySearch(c, id)
	if !found {
		return s
	}
	chunks := make([][]string, 0, len(s.chunks))
	chunks = append(chunks, s.chunks[:ci]...)
	if len(c) > 1 {
		nc := make([]string, 0, len(c)-1)
		chunks = append(chunks, append(append(nc, c[:j]...), c[j+1:]...))
	}
	chunks = append(chunks, s.chunks[ci+1:]...)
	return idSet{chunks: chunks, n: s.n - 1}
}

// setIter walks a idSet in order.
type setIter struct {
	s      *idSet
	ci, j  int
	closed bool
}

// from returns an iterator at the first element greater than after.
func (s idSet) from(after string) setIter {
	it := setIter{s: &s}
	if len(s.chunks) == 0 {
		it.closed = true
		return it
	}
	it.ci = s.chunkFor(after)
	c := s.chunks[it.ci]
	j, found := slices.BinarySearch(c, after)
	if found {
		j++
	}
	it.j = j
	it.settle()
	return it
}

func (it *setIter) settle() {
	for it.ci < len(it.s.chunks) && it.j >= len(it.s.chunks[it.ci]) {
		it.ci++
		it.j = 0
	}
	if it.ci >= len(it.s.chunks) {
		it.closed = true
	}
}

func (it *setIter) valid() bool { return !it.closed }
func (it *setIter) cur() string { return it.s.chunks[it.ci][it.j] }
func (it *setIter) next()       { it.j++; it.settle() }
