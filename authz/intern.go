package authz

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// actionSet is one expanded permission list (a role's cluster_permissions or
// an entry's allowed_actions after R-AG-2 expansion), interned by content:
// ten thousand roles that all say ["read"] share one actionSet. Its id indexes
// the per-action memo bits (memo.go), which is what makes "does this entry
// grant action A" a bit test.
type actionSet struct {
	id       uint32
	expanded []string // sorted, deduplicated
	ps       patternSet
}

// grants reports whether the set grants action a, applying R-EVAL-12 to the
// explicit-only privileges. It is the uncached form of actionInfo.grants.
func (s *actionSet) grants(a string, explicit bool) bool {
	if explicit {
		return s.ps.matchExplicit(a)
	}
	return s.ps.match(a)
}

// indexEntry is the access-deciding part of one index_permissions entry,
// interned by content: the static index patterns, the templated ones and
// the action set. DLS, FLS and masking stay with the role (roleEntry): they
// do not change whether access is granted.
type indexEntry struct {
	id uint32
	// set is actions.id, kept inline: the hot loop tests memo bits by it
	// without loading the actionSet.
	set       uint32
	patterns  patternSet        // static index patterns
	templates []templatePattern // patterns with ${...}, rendered per request
	actions   *actionSet
}

// templatePattern is an index pattern with substitution variables (R-PAT-5);
// id is interned by raw text and keys the per-request render cache.
type templatePattern struct {
	id  int
	raw string
	// A template whose only variable is one ${user.name} or ${user_name}
	// between literal text without '*' or '?' (own_index's ${user_name},
	// "home-${user.name}") renders to an exact name for ordinary user names:
	// it is matched as pre + name + post without rendering (matchSimple).
	simple    bool
	pre, post string
}

func newTemplatePattern(id int, raw string) templatePattern {
	t := templatePattern{id: id, raw: raw}
	for _, v := range []string{"${user.name}", "${user_name}"} {
		i := strings.Index(raw, v)
		if i < 0 {
			continue
		}
		pre, post := raw[:i], raw[i+len(v):]
		if !strings.Contains(pre, "${") && !strings.Contains(post, "${") && !strings.ContainsAny(pre+post, "*?") {
			t.simple, t.pre, t.post = true, pre, post
		}
		break
	}
	return t
}

// matchSimple matches s against the rendering of a simple template for
// user name without building it. ok is false when the rendering would not
// be an exact pattern (R-PAT-1: the name widens it with '*' or '?', or the
// result is a /regex/) or when later substitution steps would rewrite the
// inserted name (it contains "${"): then the caller renders.
func (t *templatePattern) matchSimple(s, name string) (match, ok bool) {
	if strings.ContainsAny(name, "*?") || strings.Contains(name, "${") {
		return false, false
	}
	n := len(t.pre) + len(name) + len(t.post)
	if n > 1 && byteOf(t.pre, name, t.post, 0) == '/' && byteOf(t.pre, name, t.post, n-1) == '/' {
		return false, false
	}
	if strings.TrimSpace(t.pre) == "" && strings.TrimSpace(name) == "" && strings.TrimSpace(t.post) == "" {
		return false, true // blank: matches nothing
	}
	return len(s) == n && strings.HasPrefix(s, t.pre) && strings.HasSuffix(s, t.post) && s[len(t.pre):n-len(t.post)] == name, true
}

// byteOf is byte i of a+b+c.
func byteOf(a, b, c string, i int) byte {
	switch {
	case i < len(a):
		return a[i]
	case i < len(a)+len(b):
		return b[i-len(a)]
	}
	return c[i-len(a)-len(b)]
}

// tables holds every interned value of one Evaluator. Compile builds them
// from scratch; Update starts from the previous Evaluator's tables and adds
// to copies (copy on write), so a published Evaluator's tables never change.
// Values no longer referenced stay until the next full compile; Update
// falls back to Compile when that garbage grows (see Update).
type tables struct {
	sets     []*actionSet
	setByKey layered[*actionSet] // by listKey of the expanded list
	// rawSet memoizes the expansion of configured lists (by listKey).
	// It depends on the action groups and is dropped when they change.
	rawSet       layered[*actionSet]
	entries      []*indexEntry
	entryByKey   layered[*indexEntry]
	templateByID []string
	templateIDs  layered[int]

	// setsOwned, entriesOwned and templatesOwned record whether this
	// builder may append to the slices above in place; otherwise they are
	// still shared with a published Evaluator.
	setsOwned, entriesOwned, templatesOwned bool
	// base is the number of sets and entries right after the last full
	// compile, to bound the garbage Update accumulates.
	baseSets, baseEntries int
}

// layered is an intern map: what Compile put in (base, never written
// afterwards) plus what Updates added since (top, small, copied before an
// Update writes it, folded into a new base once it holds layeredTopMax
// values). It spares Update a copy of maps of many thousand entries for the
// few values one change adds.
type layered[V any] struct {
	base, top map[string]V
	// compiling sends writes to base; owned says top may be written.
	compiling, owned bool
}

func newLayered[V any]() layered[V] {
	return layered[V]{base: map[string]V{}, compiling: true}
}

func (l *layered[V]) get(k string) (V, bool) {
	if v, ok := l.top[k]; ok {
		return v, true
	}
	v, ok := l.base[k]
	return v, ok
}

// layeredTopMax bounds the top layer: past it, the next Update folds top
// into a new base. Without the bound every Update would copy everything
// added since the last full compile (up to thousands of entries under
// configuration churn); with it, the fold's copy of base is paid once per
// layeredTopMax additions.
const layeredTopMax = 256

func (l *layered[V]) put(k string, v V) {
	switch {
	case l.compiling:
		l.base[k] = v
		return
	case !l.owned && len(l.top) >= layeredTopMax:
		base := make(map[string]V, len(l.base)+len(l.top)+1)
		maps.Copy(base, l.base)
		maps.Copy(base, l.top)
		l.base, l.top, l.owned = base, map[string]V{}, true
	case !l.owned:
		top := make(map[string]V, len(l.top)+1)
		maps.Copy(top, l.top)
		l.top, l.owned = top, true
	}
	l.top[k] = v
}

// fork returns l for a builder that must not write what l's owner may
// still read.
func (l layered[V]) fork() layered[V] {
	l.compiling, l.owned = false, false
	return l
}

func newTables() *tables {
	return &tables{
		setByKey:       newLayered[*actionSet](),
		rawSet:         newLayered[*actionSet](),
		entryByKey:     newLayered[*indexEntry](),
		templateIDs:    newLayered[int](),
		setsOwned:      true,
		entriesOwned:   true,
		templatesOwned: true,
	}
}

// fork returns tables that share t's contents and copy each part before
// its first write. dropRaw empties the expansion memo (action groups changed).
func (t *tables) fork(dropRaw bool) *tables {
	n := *t
	n.setsOwned, n.entriesOwned, n.templatesOwned = false, false, false
	n.setByKey, n.rawSet, n.entryByKey, n.templateIDs = t.setByKey.fork(), t.rawSet.fork(), t.entryByKey.fork(), t.templateIDs.fork()
	if dropRaw {
		n.rawSet = layered[*actionSet]{top: map[string]*actionSet{}, owned: true}
	}
	return &n
}

// garbage reports whether Update has added so much since the last full
// compile that a compile (which drops unreferenced values) should run.
func (t *tables) garbage() bool {
	return len(t.sets) > 2*t.baseSets+1024 || len(t.entries) > 2*t.baseEntries+4096
}

// listKey joins a list unambiguously: [] and [""] differ.
func listKey(l []string) string {
	var b strings.Builder
	for _, x := range l {
		b.WriteString(x)
		b.WriteByte(0)
	}
	return b.String()
}

// actionSet expands raw through the action groups and interns the result.
func (t *tables) actionSet(groups *actionGroups, raw []string) *actionSet {
	rawKey := listKey(raw)
	if s, ok := t.rawSet.get(rawKey); ok {
		return s
	}
	expanded := groups.expand(raw)
	key := listKey(expanded)
	s, ok := t.setByKey.get(key)
	if !ok {
		s = &actionSet{id: uint32(len(t.sets)), expanded: expanded, ps: newPatternSet(expanded)}
		if !t.setsOwned {
			t.sets = slices.Clip(t.sets)
			t.setsOwned = true
		}
		t.sets = append(t.sets, s)
		t.setByKey.put(key, s)
	}
	t.rawSet.put(rawKey, s)
	return s
}

// entry interns the index patterns of one index_permissions entry with its
// action set. Patterns are deduplicated and sorted: a pattern set is an
// "any of", so order and repetition do not matter.
func (t *tables) entry(patterns []string, actions *actionSet) *indexEntry {
	var static, tpls []string
	for _, p := range patterns {
		if isTemplate(p) {
			tpls = append(tpls, p)
		} else {
			static = append(static, p)
		}
	}
	slices.Sort(static)
	static = slices.Compact(static)
	slices.Sort(tpls)
	tpls = slices.Compact(tpls)
	var b strings.Builder
	for _, p := range static {
		b.WriteString(p)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, p := range tpls {
		b.WriteString(p)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	b.WriteString(strconv.FormatUint(uint64(actions.id), 10))
	key := b.String()
	if ent, ok := t.entryByKey.get(key); ok {
		return ent
	}
	ent := &indexEntry{id: uint32(len(t.entries)), set: actions.id, patterns: newPatternSet(static), actions: actions}
	for _, p := range tpls {
		ent.templates = append(ent.templates, newTemplatePattern(t.templateID(p), p))
	}
	if !t.entriesOwned {
		t.entries = slices.Clip(t.entries)
		t.entriesOwned = true
	}
	t.entries = append(t.entries, ent)
	t.entryByKey.put(key, ent)
	return ent
}

func (t *tables) templateID(raw string) int {
	if id, ok := t.templateIDs.get(raw); ok {
		return id
	}
	if !t.templatesOwned {
		t.templateByID = slices.Clip(t.templateByID)
		t.templatesOwned = true
	}
	id := len(t.templateByID)
	t.templateByID = append(t.templateByID, raw)
	t.templateIDs.put(raw, id)
	return id
}
