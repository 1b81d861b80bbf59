package authz

import (
	"math/bits"
	"slices"
)

// keyTable maps the exact keys of role mappings (user names, backend roles,
// hosts) to their grants. Go's maps cost three cache lines per hit on the
// decision path (control word, slot, key bytes) and a general-purpose hash;
// this open-addressing table (linear probing, load factor at most one half)
// keeps the first 16 bytes of every key inline in its 32-byte slot, so a
// lookup of a short key (user names and backend roles nearly always are)
// reads one slot line and compares two words. Longer keys are compared in
// full from a side array. A byte of control per slot (0: empty, else 7 bits
// of the key's hash), kept apart from the slots, ends most lookups of absent
// keys, the common case for user names, in an array 32 times smaller than
// the slots: on large configurations the slots outgrow the caches.
//
// A table is immutable once published. Update derives the next one with
// with, which copies only the 32 KiB pages it writes, so a change costs a
// few pages rather than the whole table; the page index stays small enough
// to remain in cache on the decision path.
//
// The hash needs no secret seed: the table only changes with the
// configuration, so crafted lookups can only walk the probe chains that the
// configuration's keys already form.
type keyTable struct {
	mask  uint64
	n     int // keys held
	pages []*keyPage
}

// keyPageBits sizes a page: 1024 slots of 32 bytes.
const (
	keyPageBits = 10
	keyPageSize = 1 << keyPageBits
)

// keyPage holds keyPageSize slots, or fewer in a table of one small page.
type keyPage struct {
	// ctrl[i] is 0 when slots[i] is empty, keyTag of its key's hash
	// otherwise.
	ctrl  []uint8
	slots []keySlot
	// long holds the keys longer than 16 bytes, by slot; nil until needed.
	long []string
}

type keySlot struct {
	lo, hi uint64 // the key's first 16 bytes, little-endian, zero-padded
	n      int    // the key's length
	g      *grant // nil: empty slot
}

// keyWords returns the first 16 bytes of s as two little-endian words
// (zero-padded) and its hash, with overlapping loads rather than a copy.
func keyWords(s string) (lo, hi, h uint64) {
	n := len(s)
	tail := uint64(n)
	switch {
	case n >= 16:
		lo, hi = load8(s, 0), load8(s, 8)
		if n > 16 {
			tail ^= load8(s, n-8) * 0x9e3779b97f4a7c15
		}
	case n >= 8:
		// Bytes 8..n-1 are the last n-8 bytes of the final 8-byte window.
		lo, hi = load8(s, 0), load8(s, n-8)>>(8*(16-n))
	case n >= 4:
		lo = load4(s, 0) | load4(s, n-4)>>(8*(8-n))<<32
	default:
		for i := range n {
			lo |= uint64(s[i]) << (8 * i)
		}
	}
	return lo, hi, mixWords(lo, hi, tail)
}

// keyTag is the control byte of a key of hash h: its top 7 bits, high bit
// set so that it is never 0 (empty). The probe position takes the low bits.
func keyTag(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// mixWords is wyhash's mixing step.
func mixWords(lo, hi, tail uint64) uint64 {
	m1, m0 := bits.Mul64(lo^0xa0761d6478bd642f, hi^0xe7037ed1a0b428db^tail)
	return m1 ^ m0
}

// load8 is the little-endian word at s[i:i+8] (the compiler merges the
// byte loads into one).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// load4 is the little-endian 32-bit value at s[i:i+4].
func load4(s string, i int) uint64 {
	_ = s[i+3]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24
}

// newKeyTable returns an empty table with room for n keys.
func newKeyTable(n int) *keyTable {
	size := 8
	for size < 2*n {
		size *= 2
	}
	pages, per := 1, size
	if size > keyPageSize {
		pages, per = size/keyPageSize, keyPageSize
	}
	t := &keyTable{mask: uint64(size - 1), pages: make([]*keyPage, pages)}
	for i := range t.pages {
		t.pages[i] = &keyPage{ctrl: make([]uint8, per), slots: make([]keySlot, per)}
	}
	return t
}

// size is the number of slots.
func (t *keyTable) size() int { return int(t.mask) + 1 }

// keyTableOf builds the table of m.
func keyTableOf(m map[string]*grant) *keyTable {
	t := newKeyTable(len(m))
	w := t.writer(false)
	for k, g := range m {
		w.set(k, g)
	}
	return t
}

func (t *keyTable) slot(i uint64) *keySlot { return &t.pages[i>>keyPageBits].slots[i&(keyPageSize-1)] }

// ctrl is the control byte of slot i.
func (t *keyTable) ctrl(i uint64) uint8 { return t.pages[i>>keyPageBits].ctrl[i&(keyPageSize-1)] }

// get returns the grant of key, or nil.
func (t *keyTable) get(key string) *grant {
	lo, hi, h := keyWords(key)
	tag := keyTag(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		p, k := t.pages[i>>keyPageBits], i&(keyPageSize-1)
		if c := p.ctrl[k]; c != tag {
			if c == 0 {
				return nil
			}
			continue
		}
		s := &p.slots[k]
		if s.lo == lo && s.hi == hi && s.n == len(key) && (len(key) <= 16 || t.longKey(i) == key) {
			return s.g
		}
	}
}

func (t *keyTable) longKey(i uint64) string {
	if p := t.pages[i>>keyPageBits]; p.long != nil {
		return p.long[i&(keyPageSize-1)]
	}
	return ""
}

// each calls fn for every key and grant.
func (t *keyTable) each(fn func(key string, g *grant)) {
	for pi, p := range t.pages {
		for k := range p.slots {
			s := &p.slots[k]
			if s.g != nil {
				fn(t.keyOf(uint64(pi<<keyPageBits+k)), s.g)
			}
		}
	}
}

// keyOf rebuilds the key of slot i.
func (t *keyTable) keyOf(i uint64) string {
	s := t.slot(i)
	if s.n > 16 {
		return t.longKey(i)
	}
	var b [16]byte
	for k := range s.n {
		if k < 8 {
			b[k] = byte(s.lo >> (8 * k))
		} else {
			b[k] = byte(s.hi >> (8 * (k - 8)))
		}
	}
	return string(b[:s.n])
}

// with returns a table holding t's keys with changes applied: each key set
// to its grant, or deleted where the grant is nil. t is not modified: the
// result shares t's pages except those it writes. When the table would get
// fuller than half, it is rebuilt bigger.
func (t *keyTable) with(changes map[string]*grant) *keyTable {
	n := t.n
	for k, g := range changes {
		switch had := t.get(k) != nil; {
		case g != nil && !had:
			n++
		case g == nil && had:
			n--
		}
	}
	if 2*n > t.size() {
		next := newKeyTable(n)
		w := next.writer(false)
		t.each(func(k string, g *grant) {
			if _, changed := changes[k]; !changed {
				w.set(k, g)
			}
		})
		for k, g := range changes {
			if g != nil {
				w.set(k, g)
			}
		}
		return next
	}
	next := &keyTable{mask: t.mask, n: t.n, pages: slices.Clone(t.pages)}
	w := next.writer(true)
	for k, g := range changes {
		if g == nil {
			w.delete(k)
		} else {
			w.set(k, g)
		}
	}
	return next
}

// keyWriter edits a table that is not published yet; with cow it copies
// each page before its first write.
type keyWriter struct {
	t      *keyTable
	cow    bool
	copied map[int]bool
}

func (t *keyTable) writer(cow bool) *keyWriter {
	return &keyWriter{t: t, cow: cow, copied: map[int]bool{}}
}

// page returns page pi, copied first when copy-on-write requires it.
func (w *keyWriter) page(pi int) *keyPage {
	p := w.t.pages[pi]
	if w.cow && !w.copied[pi] {
		p = &keyPage{ctrl: slices.Clone(p.ctrl), slots: slices.Clone(p.slots), long: slices.Clone(p.long)}
		w.t.pages[pi] = p
		w.copied[pi] = true
	}
	return p
}

// put writes slot i and its control byte c (0 with an empty slot).
func (w *keyWriter) put(i uint64, s keySlot, long string, c uint8) {
	p := w.page(int(i >> keyPageBits))
	p.ctrl[i&(keyPageSize-1)] = c
	p.slots[i&(keyPageSize-1)] = s
	if long != "" || p.long != nil {
		if p.long == nil {
			p.long = make([]string, len(p.slots))
		}
		p.long[i&(keyPageSize-1)] = long
	}
}

// find returns the slot of key or the empty slot ending its probe chain.
func (t *keyTable) find(key string) (uint64, bool) {
	lo, hi, h := keyWords(key)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slot(i)
		if s.g == nil {
			return i, false
		}
		if s.lo == lo && s.hi == hi && s.n == len(key) && (len(key) <= 16 || t.longKey(i) == key) {
			return i, true
		}
	}
}

func (w *keyWriter) set(key string, g *grant) {
	t := w.t
	i, ok := t.find(key)
	if !ok {
		t.n++
	}
	lo, hi, h := keyWords(key)
	long := ""
	if len(key) > 16 {
		long = key
	}
	w.put(i, keySlot{lo: lo, hi: hi, n: len(key), g: g}, long, keyTag(h))
}

// delete removes key with backward-shift deletion: the entries after it in
// its probe run move back where their own chains allow, so no tombstones
// are needed.
func (w *keyWriter) delete(key string) {
	t := w.t
	i, ok := t.find(key)
	if !ok {
		return
	}
	t.n--
	for j := (i + 1) & t.mask; t.slot(j).g != nil; j = (j + 1) & t.mask {
		home := t.slotHash(j) & t.mask
		// Move j into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			w.put(i, *t.slot(j), t.longKey(j), t.ctrl(j))
			i = j
		}
	}
	w.put(i, keySlot{}, "", 0)
}

// slotHash is the hash of the key in slot i.
func (t *keyTable) slotHash(i uint64) uint64 {
	s := t.slot(i)
	if s.n > 16 {
		_, _, h := keyWords(t.longKey(i))
		return h
	}
	return mixWords(s.lo, s.hi, uint64(s.n))
}
