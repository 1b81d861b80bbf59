package authz

import (
	"math/bits"
	"slices"
)

// keyTable maps the exact keys of role mappings (user names, backend roles,
// hosts) to their grants on the decision path. Go's maps cost three cache
// lines per hit here (control word, slot, key bytes) and a general-purpose
// hash; this immutable open-addressing table keeps the first 16 bytes of
// every key inline in its 32-byte slot, so a lookup of a short key (user
// names and backend roles almost always are) reads one slot line and
// compares two words. Longer keys are compared in full from a side array.
//
// The hash needs no secret seed: the table is built from the configuration
// and never grows, so crafted lookups can only walk the probe chains that
// the configuration's keys already form. The Go maps stay the source of
// truth (Update edits copies of them), and Update applies the same edits
// to a copy of the table (with).
type keyTable struct {
	mask  uint64
	slots []keySlot
	long  []string // long[i] is the key of slots[i] when it exceeds 16 bytes
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
	// wyhash's mixing step.
	m1, m0 := bits.Mul64(lo^0xa0761d6478bd642f, hi^0xe7037ed1a0b428db^tail)
	return lo, hi, m1 ^ m0
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

// newKeyTable builds the table of m at a load factor of at most one half:
// with linear probing a missing key (most user names have no mapping of
// their own) then costs about 2.5 probes, in one or two cache lines.
func newKeyTable(m map[string]*grant) *keyTable {
	n := 8
	for n < 2*len(m) {
		n *= 2
	}
	t := &keyTable{mask: uint64(n - 1), slots: make([]keySlot, n)}
	for k, g := range m {
		lo, hi, h := keyWords(k)
		i := h & t.mask
		for t.slots[i].g != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = keySlot{lo: lo, hi: hi, n: len(k), g: g}
		if len(k) > 16 {
			if t.long == nil {
				t.long = make([]string, n)
			}
			t.long[i] = k
		}
	}
	return t
}

// get returns the grant of key, or nil.
func (t *keyTable) get(key string) *grant {
	lo, hi, h := keyWords(key)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.g == nil {
			return nil
		}
		if s.lo == lo && s.hi == hi && s.n == len(key) && (len(key) <= 16 || t.long[i] == key) {
			return s.g
		}
	}
}

// with returns a copy of t with the keys of changes set to their grants,
// or deleted where the grant is nil. The copy shares nothing with t. When
// the table would get fuller than half, it is rebuilt from full (the map
// after the changes).
func (t *keyTable) with(changes map[string]*grant, full map[string]*grant) *keyTable {
	live := 0
	for i := range t.slots {
		if t.slots[i].g != nil {
			live++
		}
	}
	for k, g := range changes {
		if g != nil && t.get(k) == nil {
			live++
		}
	}
	if 2*live > len(t.slots) {
		return newKeyTable(full)
	}
	n := &keyTable{mask: t.mask, slots: slices.Clone(t.slots), long: slices.Clone(t.long)}
	for k, g := range changes {
		if g == nil {
			n.delete(k)
		} else {
			n.set(k, g)
		}
	}
	return n
}

// find returns the slot of key or of the empty slot ending its probe chain.
func (t *keyTable) find(key string) (uint64, bool) {
	lo, hi, h := keyWords(key)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.g == nil {
			return i, false
		}
		if s.lo == lo && s.hi == hi && s.n == len(key) && (len(key) <= 16 || t.long[i] == key) {
			return i, true
		}
	}
}

func (t *keyTable) set(key string, g *grant) {
	i, ok := t.find(key)
	if ok {
		t.slots[i].g = g
		return
	}
	lo, hi, _ := keyWords(key)
	t.slots[i] = keySlot{lo: lo, hi: hi, n: len(key), g: g}
	if len(key) > 16 {
		if t.long == nil {
			t.long = make([]string, len(t.slots))
		}
		t.long[i] = key
	}
}

// delete removes key with backward-shift deletion: the entries after it in
// its probe run move back where their own chains allow, so no tombstones
// are needed.
func (t *keyTable) delete(key string) {
	i, ok := t.find(key)
	if !ok {
		return
	}
	for j := (i + 1) & t.mask; t.slots[j].g != nil; j = (j + 1) & t.mask {
		home := t.slotHash(j) & t.mask
		// Move j to the hole i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			if t.long != nil {
				t.long[i] = t.long[j]
			}
			i = j
		}
	}
	t.slots[i] = keySlot{}
	if t.long != nil {
		t.long[i] = ""
	}
}

// slotHash recomputes the hash of the key in slot i.
func (t *keyTable) slotHash(i uint64) uint64 {
	s := &t.slots[i]
	if s.n > 16 {
		_, _, h := keyWords(t.long[i])
		return h
	}
	var b [16]byte
	for k := range s.n {
		if k < 8 {
			b[k] = byte(s.lo >> (8 * k))
		} else {
			b[k] = byte(s.hi >> (8 * (k - 8)))
		}
	}
	_, _, h := keyWords(string(b[:s.n]))
	return h
}
