package authz

import "slices"

// entryMatchesIndex reports whether ent's index patterns match idx or one of
// its aliases / its data stream (R-EVAL-7), rendering templates (R-PAT-5).
func (c *evalCtx) entryMatchesIndex(ent *indexEntry, idx string) bool {
	if c.entryMatchesName(ent, idx) {
		return true
	}
	for _, p := range c.req.IndexParents[idx] {
		if c.entryMatchesName(ent, p) {
			return true
		}
	}
	return false
}

func (c *evalCtx) entryMatchesName(ent *indexEntry, name string) bool {
	if ent.patterns.match(name) {
		return true
	}
	for i := range ent.templates {
		t := &ent.templates[i]
		if t.simple {
			if m, ok := t.matchSimple(name, c.req.Subject.Name); ok {
				if m {
					return true
				}
				continue
			}
		}
		if c.rendered(t).match(name) {
			return true
		}
	}
	return false
}

// renderCacheInline is the number of rendered templates a request keeps
// without allocating a map.
const renderCacheInline = 4

// renderCache holds the templated index patterns rendered for one request
// (R-PAT-9: cached per request), keyed by template id.
type renderCache struct {
	n    int
	ids  [renderCacheInline]int
	pats [renderCacheInline]pattern
	more map[int]*pattern
}

// rendered returns the compiled pattern of a template for this request.
// The cache is allocated on first use: kept inside evalCtx, the patterns'
// pointers would make escape analysis move the caller's buffers to the heap.
func (c *evalCtx) rendered(t *templatePattern) *pattern {
	if c.tpl == nil {
		c.tpl = &renderCache{}
	}
	rc := c.tpl
	for i := 0; i < rc.n; i++ {
		if rc.ids[i] == t.id {
			return &rc.pats[i]
		}
	}
	if p, ok := rc.more[t.id]; ok {
		return p
	}
	p := compilePattern(renderTemplate(t.raw, &c.req.Subject, c.securityRoles()))
	if rc.n < renderCacheInline {
		rc.ids[rc.n], rc.pats[rc.n] = t.id, p
		rc.n++
		return &rc.pats[rc.n-1]
	}
	if rc.more == nil {
		rc.more = map[int]*pattern{}
	}
	rc.more[t.id] = &p
	return &p
}

// fillEntry sets the cells ge grants: cells[i*len(required)+j] when
// required[j] is granted on indices[i] (R-EVAL-7). onGrant, when non-nil,
// is told of every cell set (explain). It returns the number of cells set.
func (c *evalCtx) fillEntry(ge *grantEntry, indices []string, required []*actionInfo, cells []bool, onGrant func(idx, action string)) int {
	nr := len(required)
	set := 0
	// With the patterns inline and no alias or data stream to try, the
	// entry decides from the grant's array alone.
	direct := ge.n != noInline && c.req.IndexParents == nil
	for j, ai := range required {
		if !ai.grantEntryGrants(ge) {
			continue
		}
		for i, idx := range indices {
			cell := i*nr + j
			if cells[cell] {
				continue
			}
			if direct {
				if !ge.match(idx) {
					continue
				}
			} else if !c.entryMatchesIndex(ge.ent, idx) {
				continue
			}
			cells[cell] = true
			set++
			if onGrant != nil {
				onGrant(idx, ai.action)
			}
		}
	}
	return set
}

// fillCells fills the check table of indices × required from every mapped
// role (R-EVAL-8: cells may be satisfied by different roles). It returns
// the number of cells still false. The fast path walks the distinct
// entries of the subject's grants; the slow one walks role by role so that
// explain can name the role and entry that granted each cell.
func (c *evalCtx) fillCells(indices []string, required []*actionInfo, cells []bool) int {
	left := len(cells)
	if !c.slow {
		// First the entries whose patterns are inline, for one required
		// action (the common case) in a tight loop; then the others, and
		// entries with templates last: rendering allocates, and the others
		// often complete the table first.
		rest := false
		if len(required) == 1 && c.req.IndexParents == nil {
			ai := required[0]
			bits := ai.bits
			for _, g := range c.gs {
				for k := range g.entries {
					ge := &g.entries[k]
					if ge.n == noInline {
						rest = true
						continue
					}
					// ai.grantEntryGrants(ge), inlined by hand: the memo bit test.
					w, b := 2*(ge.set>>6), uint64(1)<<(ge.set&63)
					if bits != nil && bits[w].Load()&b != 0 {
						if bits[w+1].Load()&b == 0 {
							continue
						}
					} else if !ai.grantsID(ge.set, ge.ent.actions) {
						continue
					}
					for i, idx := range indices {
						if !cells[i] && ge.match(idx) {
							cells[i] = true
							if left--; left == 0 {
								return 0
							}
						}
					}
				}
			}
			if !rest {
				return left
			}
		}
		for pass := range 2 {
			for _, g := range c.gs {
				for k := range g.entries {
					ge := &g.entries[k]
					if rest && ge.n != noInline || ge.tpl != (pass == 1) {
						continue // done above, or not in this pass
					}
					if left -= c.fillEntry(ge, indices, required, cells, nil); left == 0 {
						return 0
					}
				}
			}
		}
		return left
	}
	rs := c.roleSet()
	for _, id := range rs.ids {
		r := c.e.roles[id]
		if r == nil {
			continue
		}
		for k := range r.index {
			re := &r.index[k]
			var onGrant func(idx, action string)
			if c.ex != nil {
				onGrant = func(idx, action string) { c.ex.addIndexGrant(c, r, re, idx, action) }
			}
			ge := grantEntry{set: re.ent.set, n: noInline, ent: re.ent}
			if left -= c.fillEntry(&ge, indices, required, cells, onGrant); left == 0 {
				return 0
			}
		}
	}
	return left
}

// allGranted reports whether action is granted on every index.
func (c *evalCtx) allGranted(indices []string, action string) bool {
	var cellsBuf [64]bool
	cells := boolsOf(&cellsBuf, len(indices))
	required := [1]*actionInfo{c.info(action)}
	return c.fillCells(indices, required[:], cells) == 0
}

// boolsOf returns n false cells: the caller's fresh (zeroed) buffer when it
// is large enough.
func boolsOf(buf *[64]bool, n int) []bool {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]bool, n)
}

// allIndicesGranted decides an _all request with no resolved index: every
// action must be granted by an entry whose index patterns contain "*".
func (c *evalCtx) allIndicesGranted(required []*actionInfo, d *Decision) bool {
	ok := true
	for _, ai := range required {
		if !c.anyIndexGrants(ai) {
			d.Missing = append(d.Missing, ai.action)
			ok = false
		}
	}
	return ok
}

func (c *evalCtx) anyIndexGrants(ai *actionInfo) bool {
	if !c.slow {
		for _, g := range c.gs {
			for k := range g.entries {
				if ent := g.entries[k].ent; ent.patterns.any && ai.entryGrants(ent) {
					return true
				}
			}
		}
		return false
	}
	for _, id := range c.roleSet().ids {
		if r := c.e.roles[id]; r != nil {
			for k := range r.index {
				if ent := r.index[k].ent; ent.patterns.any && ai.entryGrants(ent) {
					return true
				}
			}
		}
	}
	return false
}

// indexCheck applies R-EVAL-6..10 and DLS/FLS collection.
func (c *evalCtx) indexCheck(d *Decision, indices []string, required []*actionInfo, dnfof bool, effBuf []string) {
	e, req := c.e, c.req
	if len(indices) == 0 {
		if req.AllIndices {
			d.Allowed = c.allIndicesGranted(required, d)
			if !d.Allowed {
				c.note("an all-indices request needs the actions on index pattern * (R-EVAL-6)")
			}
			return
		}
		// R-EVAL-10: only remote indices (or none): the remote cluster decides.
		d.Allowed = true
		c.note("no local index: the index check passes (R-EVAL-10)")
		return
	}
	var cellsBuf [64]bool
	nr := len(required)
	cells := boolsOf(&cellsBuf, len(indices)*nr)
	if c.fillCells(indices, required, cells) == 0 {
		d.Allowed = true
		c.collectRestrictions(d, indices)
		return
	}

	// Partial or no access.
	okCount := 0
	for i := range indices {
		if allTrue(cells[i*nr : (i+1)*nr]) {
			okCount++
		}
	}
	if dnfof && e.dyn.DoNotFailOnForbidden && (okCount > 0 || e.dyn.DoNotFailOnForbiddenEmpty) {
		eff := effBuf[:0]
		if eff == nil {
			eff = make([]string, 0, okCount)
		}
		for i, idx := range indices {
			if allTrue(cells[i*nr : (i+1)*nr]) {
				eff = append(eff, idx)
			}
		}
		d.Allowed = true
		d.EffectiveIndices = eff
		c.note("do_not_fail_on_forbidden: request reduced to the allowed indices (R-EVAL-9)")
		c.recordIndexCells(d, indices, required, cells)
		c.collectRestrictions(d, eff)
		return
	}
	d.Allowed = false
	for j, ai := range required {
		for i := range indices {
			if !cells[i*nr+j] {
				d.Missing = append(d.Missing, ai.action)
				break
			}
		}
	}
	c.recordIndexCells(d, indices, required, cells)
	c.note("some (index, action) pair is not granted by any mapped role (R-EVAL-6)")
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

// recordIndexCells keeps the check table of a denied or reduced request in
// d for IndexDetails (copying the cells and action names into d's reused
// buffers, referencing indices).
func (c *evalCtx) recordIndexCells(d *Decision, indices []string, required []*actionInfo, cells []bool) {
	d.tableIdx = indices
	d.tableReq = d.tableReq[:0]
	for _, ai := range required {
		d.tableReq = append(d.tableReq, ai.action)
	}
	d.tableCells = append(d.tableCells[:0], cells...)
	d.tablePending = true
}

// IndexDetails returns Indices, first recording in it the per-index
// outcome (Allowed, Missing) of a denied or dnfof-reduced index request
// that EvaluateInto left pending. The Missing lists share one backing array
// that d reuses. The indices of the request must not have been changed
// since EvaluateInto.
func (d *Decision) IndexDetails() map[string]IndexDecision {
	if !d.tablePending {
		return d.Indices
	}
	d.tablePending = false
	d.useIndices()
	nr := len(d.tableReq)
	missing := 0
	for _, ok := range d.tableCells {
		if !ok {
			missing++
		}
	}
	all := d.missingBuf[:0]
	if cap(all) < missing {
		all = make([]string, 0, missing)
	}
	for i, idx := range d.tableIdx {
		id := d.Indices[idx]
		start := len(all)
		for j, a := range d.tableReq {
			if !d.tableCells[i*nr+j] {
				all = append(all, a)
			}
		}
		id.Allowed = len(all) == start
		id.Missing = nil
		if !id.Allowed {
			id.Missing = all[start:len(all):len(all)]
		}
		d.Indices[idx] = id
	}
	d.missingBuf = all
	return d.Indices
}

// collectRestrictions computes DLS, FLS and masked fields per index
// (R-DLS-1..4) into d.Indices. It does nothing (and allocates nothing) when
// no mapped role carries a restriction.
func (c *evalCtx) collectRestrictions(d *Decision, indices []string) {
	e := c.e
	restricted := false
	for _, g := range c.gs {
		if g.restricted {
			restricted = true
			break
		}
	}
	if !restricted {
		return
	}
	rs := c.roleSet()
	dfm := e.settings.DfmEmptyOverridesAll
	for _, idx := range indices {
		var dls, fls, masked []string
		var noDLS, noFLS, noMasked bool
		for _, id := range rs.ids {
			r := e.roles[id]
			if r == nil {
				continue
			}
			for k := range r.index {
				re := &r.index[k]
				if !c.entryMatchesIndex(re.ent, idx) {
					continue
				}
				if re.hasDLS {
					q := re.dls
					if re.dlsTpl {
						q = renderTemplate(q, &c.req.Subject, c.securityRoles())
					}
					dls = append(dls, q)
				} else {
					noDLS = true
				}
				if re.hasFLS {
					fls = append(fls, re.fls...)
				} else {
					noFLS = true
				}
				if re.hasMasked {
					masked = append(masked, re.masked...)
				} else {
					noMasked = true
				}
			}
		}
		if dfm {
			// R-DLS-2: an entry without a restriction lifts it for the index.
			if noDLS {
				dls = nil
			}
			if noFLS {
				fls = nil
			}
			if noMasked {
				masked = nil
			}
		}
		if len(dls) == 0 && len(fls) == 0 && len(masked) == 0 {
			continue
		}
		d.useIndices()
		id := d.Indices[idx]
		id.Allowed = true
		id.DLS = sortedSet(dls)
		id.FLS = sortedSet(fls)
		id.MaskedFields = sortedSet(masked)
		d.Indices[idx] = id
	}
}

func sortedSet(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	slices.Sort(l)
	return slices.Compact(l)
}
