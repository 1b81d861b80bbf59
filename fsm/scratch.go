package fsm

import (
	"maps"

	"github.com/authzd/authzd/authz"
)

// scratch lets the entries of one batch share the collection maps they create.
// A map made while applying a batch is reachable by no reader until the batch's
// view is published, so later entries of the same batch may change it in place
// instead of copying it again: under load a batch of 64 writes to one
// collection copies its map once, not 64 times.
//
// The flags describe one configuration, cfg: the one the last entry of the
// batch produced. Each write derives the next configuration from the current
// one by replacing one map, so the flags carry over; a configuration reached
// any other way (the start of a batch, a rejection that kept an older one)
// resets them. A nil *scratch owns nothing (every write copies).
type scratch struct {
	cfg   *authz.Config
	fresh map[authz.Kind]bool
}

// owns reports whether kind's map of c was created in this batch.
func (s *scratch) owns(c *authz.Config, kind authz.Kind) bool {
	return s != nil && s.cfg == c && s.fresh[kind]
}

// adopt records that next was derived from prev by replacing kind's map with a
// map created in this batch.
func (s *scratch) adopt(prev, next *authz.Config, kind authz.Kind) {
	if s == nil {
		return
	}
	if s.cfg != prev || s.fresh == nil {
		s.fresh = map[authz.Kind]bool{}
	}
	s.cfg = next
	s.fresh[kind] = true
}

// withEntry returns c with name set to v in t's map, copying the map unless
// this batch created it.
func (t typed[T]) withEntry(s *scratch, c *authz.Config, name string, v T) *authz.Config {
	m := t.get(c)
	if !s.owns(c, t.kind) {
		m = maps.Clone(m)
	}
	m[name] = v
	next := t.with(c, m)
	s.adopt(c, next, t.kind)
	return next
}

// without returns c without name in t's map, copying the map unless this batch
// created it.
func (t typed[T]) without(s *scratch, c *authz.Config, name string) *authz.Config {
	m := t.get(c)
	if !s.owns(c, t.kind) {
		m = maps.Clone(m)
	}
	delete(m, name)
	next := t.with(c, m)
	s.adopt(c, next, t.kind)
	return next
}
