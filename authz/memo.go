package authz

import (
	"strings"
	"sync/atomic"
)

// actionInfo is what the evaluator knows about one requested action
// string: its R-EVAL-3 rewrite and classification, computed once, and per
// interned action set whether the set grants it, learned lazily. One
// actionInfo belongs to one Evaluator.
type actionInfo struct {
	key       string // the action as requested (the memo key)
	action    string // after the R-EVAL-3 rewrite
	explicit  bool   // R-EVAL-12: never granted by a bare "*"
	cluster   bool   // R-EVAL-4
	dnfof     bool   // R-EVAL-9 list
	sysDenied bool   // R-SYS-4 list, under this Evaluator's settings
	restore   bool   // R-EVAL-13
	bulk      bool   // the top-level bulk action (R-EVAL-11)
	// extra is set for the actions that require more than themselves
	// (R-EVAL-6: bulk shard items, search shards, alias removal, create
	// with aliases).
	extra bool
	// bits holds two bitsets over actionSet ids, interleaved so that both
	// words of a set share a cache line: bit i%64 of bits[2*(i/64)] ("known")
	// says the answer for set i has been computed, the same bit of
	// bits[2*(i/64)+1] ("yes") is that answer. yes is always written before
	// known, and readers load known first, so a reader that sees a known
	// bit also sees its answer. Racing writers compute the same answer, so
	// the OR-updates commute. bits is nil for an action the memo had no
	// room for: then every answer is computed.
	bits []atomic.Uint64
}

// newActionInfo classifies the requested action key for e; with sets > 0
// it carries memo bits for that many action sets.
func newActionInfo(e *Evaluator, key string, sets int) *actionInfo {
	action := rewriteAction(key)
	ai := &actionInfo{
		key:       key,
		action:    action,
		explicit:  explicitOnly(action),
		cluster:   isClusterAction(action),
		dnfof:     isDnfofAction(action),
		sysDenied: e.isSystemDeniedAction(action),
		restore:   strings.HasPrefix(action, actionRestore),
		bulk:      action == actionBulk,
	}
	switch action {
	case actionBulkShard, actionSearchShards, actionAliases, actionCreateIndex:
		ai.extra = true
	}
	if sets > 0 {
		ai.bits = make([]atomic.Uint64, 2*((sets+63)/64))
	}
	return ai
}

// grants reports whether s grants the action. It is O(1) once learned and
// never locks.
func (ai *actionInfo) grants(s *actionSet) bool { return ai.grantsID(s.id, s) }

// entryGrants reports whether ent's action set grants the action.
func (ai *actionInfo) entryGrants(ent *indexEntry) bool { return ai.grantsID(ent.set, ent.actions) }

// grantEntryGrants is entryGrants for a grant's entry; it reads the
// interned entry only when the memo has no answer yet. It is small enough
// to be inlined into the decision loop.
func (ai *actionInfo) grantEntryGrants(ge *grantEntry) bool {
	if w := 2 * (ge.set >> 6); ai.bits != nil && ai.bits[w].Load()&(1<<(ge.set&63)) != 0 {
		return ai.bits[w+1].Load()&(1<<(ge.set&63)) != 0
	}
	return ai.grantsID(ge.set, ge.ent.actions)
}

func (ai *actionInfo) grantsID(id uint32, s *actionSet) bool {
	if ai.bits == nil {
		return s.grants(ai.action, ai.explicit)
	}
	w, b := 2*(id>>6), uint64(1)<<(id&63)
	if ai.bits[w].Load()&b != 0 {
		return ai.bits[w+1].Load()&b != 0
	}
	ok := s.grants(ai.action, ai.explicit)
	if ok {
		ai.bits[w+1].Or(b)
	}
	ai.bits[w].Or(b)
	return ok
}

// memoSlots bounds the number of distinct action strings one Evaluator
// remembers. Action names come from callers, so the memo must not grow
// without bound; an action beyond the bound is matched against the
// patterns directly, which is slower but equally correct.
const (
	memoSlots  = 4096
	memoProbes = 8
)

// actionMemo is a fixed-size, insert-only, open-addressing hash table of
// actionInfo, safe for concurrent use: lookups are atomic loads, inserts a
// compare-and-swap into an empty slot. It never locks and never evicts.
type actionMemo struct {
	sets  int // number of action sets of the owning Evaluator
	slots [memoSlots]atomic.Pointer[actionInfo]
}

func newActionMemo(sets int) *actionMemo {
	return &actionMemo{sets: sets}
}

// lookup returns the actionInfo of the requested action (before the
// R-EVAL-3 rewrite, which the actionInfo applies) for e, creating it on
// first use.
// When the table has no room left near the action's slot it returns a
// fresh actionInfo without memo bits (allocated per call).
func (m *actionMemo) lookup(e *Evaluator, action string) *actionInfo {
	// keyWords' hash is unseeded: crafted colliding actions can at worst
	// push the actions of one probe window down the uncached path, which is
	// no more than filling the memo with junk could do; the actions the
	// evaluator requires itself are put in first (prefill).
	_, _, h := keyWords(action)
	for i := range uint64(memoProbes) {
		slot := &m.slots[(h+i)&(memoSlots-1)]
		ai := slot.Load()
		if ai == nil {
			// The key is cloned: the caller's string may alias a buffer it
			// reuses (an unsafe conversion), and the memo outlives the call.
			n := newActionInfo(e, strings.Clone(action), m.sets)
			if slot.CompareAndSwap(nil, n) {
				return n
			}
			ai = slot.Load()
		}
		if ai.key == action {
			return ai
		}
	}
	return newActionInfo(e, action, 0)
}

// prefill creates the memo entries of the actions the evaluator itself
// requires (R-EVAL-6 item actions, the system index permission), so that
// they always have a slot, however many other action strings callers send.
func (m *actionMemo) prefill(e *Evaluator) {
	for _, a := range []string{actionBulk, actionBulkShard, actionWriteIndex, actionWriteDelete, actionWriteUpdate,
		actionSearch, actionSearchShards, actionAliases, actionCreateIndex, actionDeleteIndex, systemIndexAction} {
		m.lookup(e, a)
	}
}
