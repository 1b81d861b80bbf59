package authz

import (
	"slices"
	"strings"
)

// Request is one authorization question (R-EVAL-1).
type Request struct {
	// Subject is who asks.
	Subject Subject
	// Action is the transport action name, e.g. indices:data/read/search.
	// Empty for a pure tenant question (Tenant set).
	Action string
	// Indices are the resolved, concrete local index names the action
	// targets (the caller resolved wildcards, aliases, data streams and date
	// math). Empty for cluster actions.
	Indices []string
	// RemoteIndices are remote-cluster names (cluster:index) the request also
	// targets; only their presence matters (R-EVAL-10).
	RemoteIndices []string
	// AllIndices is set when the request targeted _all or * (R-SYS-4).
	AllIndices bool
	// IndexParents optionally maps a concrete index to the aliases and the
	// data stream containing it; an index pattern matching one of them grants
	// the index too (R-EVAL-7).
	IndexParents map[string][]string
	// BulkItems are the op types (index, create, update, delete) of a
	// indices:data/write/bulk[s] request (R-EVAL-6).
	BulkItems []string
	// CreateWithAliases marks an indices:admin/create request whose body
	// declares aliases (R-EVAL-6).
	CreateWithAliases bool
	// RemovesIndex marks an indices:admin/aliases request with a
	// remove_index item (R-EVAL-6).
	RemovesIndex bool
	// Tenant is the tenant of a tenant question (R-TEN-8): with no Action,
	// the decision is whether the subject may use the tenant with
	// TenantAccess; "__user__" is the private tenant.
	Tenant string
	// TenantAccess is "read" or "write" ("" means read) for tenant questions.
	TenantAccess string
	// Explain asks for the grant path in Decision.Explain.
	Explain bool
	// AdminCert is set when the caller authenticated with a client
	// certificate whose DN is in plugins.security.authcz.admin_dn: every
	// action is allowed without role evaluation (R-EVAL-2).
	AdminCert bool
}

// IndexDecision is the per-index part of a Decision.
type IndexDecision struct {
	// Allowed reports whether every required action is granted on the index.
	Allowed bool `json:"allowed"`
	// Missing are the required actions not granted on this index.
	Missing []string `json:"missing,omitempty"`
	// DLS are the document-level security queries (OR-ed), attributes
	// substituted, sorted (R-DLS-2, R-DLS-4).
	DLS []string `json:"dls,omitempty"`
	// FLS is the union of the field-level security entries, sorted, '~'
	// prefixes kept (R-DLS-3, R-DLS-4).
	FLS []string `json:"fls,omitempty"`
	// MaskedFields is the union of the masked fields, sorted (R-DLS-2).
	MaskedFields []string `json:"masked_fields,omitempty"`
	// SystemIndex marks a protected system or security index (R-SYS-6).
	SystemIndex bool `json:"system_index,omitempty"`
}

// Decision is the answer to a Request.
type Decision struct {
	// Allowed is the decision.
	Allowed bool
	// Reason is the plugin's 403 text when denied (R-ERR-1), "" when allowed.
	Reason string
	// Roles are the mapped security roles, sorted (R-MAP-8).
	Roles []string
	// Missing are the missing privileges as printed in Reason (R-ERR-2).
	Missing []string
	// Indices holds per-index details. It is nil for a fully allowed request
	// without DLS/FLS/masking and without system indices (the common,
	// allocation-free case); otherwise it has an entry for every requested
	// index that is denied, restricted or a system index.
	Indices map[string]IndexDecision
	// EffectiveIndices is nil unless the request was reduced (R-EVAL-9 dnfof,
	// R-TEN-6 redirect, R-SYS-4 security-index filtering): then it holds the
	// indices the PEP must rewrite the request to (possibly empty).
	EffectiveIndices []string
	// Tenants is the subject's tenant map (R-TEN-4), set for tenant questions
	// and when a tenant rule was applied.
	Tenants map[string]bool
	// TenantAccess is WRITE, READ or NONE for the tenant in question
	// (R-TEN-5), set for tenant questions.
	TenantAccess string
	// Explain is the grant path, set when Request.Explain.
	Explain *Explain
}

// Evaluate decides req. It never blocks and never takes a lock. See
// EvaluateInto for the allocation-free form; Evaluate allocates the Roles
// slice of its result.
func (e *Evaluator) Evaluate(req *Request) Decision {
	var d Decision
	e.EvaluateInto(req, &d)
	return d
}

// EvaluateInto decides req into d, reusing d's Roles, Missing and
// EffectiveIndices buffers (all other fields are reset). With a reused d it
// allocates nothing when the request is allowed, has no templated index
// pattern (${...}) in the mapped roles' matching entries, no DLS/FLS/masking,
// no system index, no tenant rule and no explain. Allocating paths: denials
// (the reason text, Missing, Indices), DLS/FLS collection, template
// rendering, dnfof reduction, tenant maps, explain.
func (e *Evaluator) EvaluateInto(req *Request, d *Decision) {
	*d = Decision{Roles: d.Roles[:0], Missing: d.Missing[:0], EffectiveIndices: d.EffectiveIndices[:0]}
	effBuf := d.EffectiveIndices
	d.EffectiveIndices = nil

	var idsBuf [32]int32
	var extBuf [8]string
	var rs roleSet
	rs.ids, rs.ext = e.resolveRoleIDs(&req.Subject, idsBuf[:0], extBuf[:0])
	d.Roles = e.appendNames(&rs, d.Roles)

	c := evalCtx{e: e, req: req, rs: rs, roles: d.Roles}
	if req.Explain {
		// Assigned from a local, not from c.ex: escape analysis is
		// field-insensitive and c must stay on the stack.
		ex := e.newExplain(req, &rs)
		c.ex, d.Explain = ex, ex
	}

	switch {
	case req.AdminCert:
		d.Allowed = true
		c.note("super admin certificate: allowed without role evaluation (R-EVAL-2)")
	case req.Action == "" && req.Tenant != "":
		c.tenantQuestion(d)
	default:
		c.action(d, effBuf)
	}
	if !d.Allowed && d.Reason == "" {
		d.Reason = denyReason(d.Missing, &req.Subject)
	}
}

// evalCtx is the per-request state. It lives on the caller's stack.
type evalCtx struct {
	e     *Evaluator
	req   *Request
	rs    roleSet  // inline, not a pointer: keeps the caller's buffers on the stack
	roles []string // mapped role names, for ${user.securityRoles}
	// tpl caches rendered templated index patterns by id (R-PAT-9: cached
	// per request); allocated on first use.
	tpl map[int]*pattern
	ex  *Explain
}

// note records an evaluation step in the explain trace. The text comes in
// parts so that nothing is concatenated (allocated) without explain.
func (c *evalCtx) note(parts ...string) {
	if c.ex != nil {
		c.ex.Notes = append(c.ex.Notes, strings.Join(parts, ""))
	}
}

// denyReason is the 403 text (R-ERR-1).
func denyReason(missing []string, s *Subject) string {
	var b strings.Builder
	n := len("no permissions for [] and User [name=, backend_roles=[], requestedTenant=null]") + len(s.Name) + len(s.RequestedTenant)
	for _, m := range missing {
		n += len(m) + 2
	}
	for _, r := range s.BackendRoles {
		n += len(r) + 2
	}
	b.Grow(n)
	b.WriteString("no permissions for [")
	for i, m := range missing {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m)
	}
	b.WriteString("] and ")
	writeUserString(&b, s)
	return b.String()
}

// rewriteAction applies R-EVAL-3.
func rewriteAction(a string) string {
	switch {
	case strings.HasPrefix(a, "internal:indices/admin/upgrade"):
		return "indices:admin/upgrade"
	case a == "indices:admin/auto_create":
		return "indices:admin/create"
	case a == "indices:admin/mapping/auto_put":
		return "indices:admin/mapping/put"
	}
	return a
}

// Well-known action names.
const (
	actionBulk          = "indices:data/write/bulk"
	actionBulkShard     = "indices:data/write/bulk[s]"
	actionWriteIndex    = "indices:data/write/index"
	actionWriteDelete   = "indices:data/write/delete"
	actionWriteUpdate   = "indices:data/write/update"
	actionSearch        = "indices:data/read/search"
	actionSearchShards  = "indices:admin/shards/search_shards"
	actionAliases       = "indices:admin/aliases"
	actionCreateIndex   = "indices:admin/create"
	actionDeleteIndex   = "indices:admin/delete"
	actionRestore       = "cluster:admin/snapshot/restore"
	systemIndexAction   = "system:admin/system_index"
	restAPIActionPrefix = "restapi:admin/"
)

// IsClusterAction reports whether action is judged as a cluster action
// (R-EVAL-4) after the R-EVAL-3 rewrite.
func IsClusterAction(action string) bool { return isClusterAction(rewriteAction(action)) }

func isClusterAction(a string) bool {
	switch a {
	case actionBulk, "indices:data/read/mget", "indices:data/read/mtv",
		"indices:data/write/reindex", "indices:data/read/search/template/render":
		return true
	}
	return strings.HasPrefix(a, "cluster:") ||
		strings.HasPrefix(a, "indices:admin/template/") ||
		strings.HasPrefix(a, "indices:admin/index_template/") ||
		strings.HasPrefix(a, "indices:data/read/scroll") ||
		strings.HasPrefix(a, "indices:data/read/msearch")
}

// explicitOnly reports whether a is never granted by a bare "*" (R-EVAL-12).
func explicitOnly(a string) bool {
	return a == systemIndexAction || strings.HasPrefix(a, restAPIActionPrefix)
}

// grants reports whether the expanded permission set ps grants action a.
func grants(ps *patternSet, a string) bool {
	if explicitOnly(a) {
		return ps.matchExplicit(a)
	}
	return ps.match(a)
}

// isDnfofAction is the R-EVAL-9 action list.
func isDnfofAction(a string) bool {
	switch a {
	case actionSearchShards, "indices:admin/resolve/index", "indices:monitor/settings/get",
		"indices:monitor/stats", "indices:admin/aliases/get":
		return true
	}
	return strings.HasPrefix(a, "indices:data/read/") || strings.HasPrefix(a, "indices:admin/mappings/fields/get")
}

// isSystemDeniedAction is the R-SYS-4 list of write-type actions.
func (e *Evaluator) isSystemDeniedAction(a string) bool {
	for _, p := range [...]string{"indices:data/write", "indices:admin/delete", "indices:admin/mapping/delete",
		"indices:admin/mapping/put", "indices:admin/freeze", "indices:admin/settings/update"} {
		if strings.HasPrefix(a, p) {
			return true
		}
	}
	if a == actionAliases {
		return true
	}
	if !e.settings.RestoreSecurityIndexEnabled {
		return strings.HasPrefix(a, "indices:admin/close") || strings.HasPrefix(a, actionRestore)
	}
	return false
}

// action evaluates an action request in the order of the vectors header:
// roles → top-level bulk shortcut → system index gate → cluster or index
// privileges → dnfof, then DLS/FLS.
func (c *evalCtx) action(d *Decision, effBuf []string) {
	e, req := c.e, c.req
	action := rewriteAction(req.Action)
	if c.ex != nil {
		c.ex.Action = action
		c.ex.Cluster = isClusterAction(action)
	}

	// R-EVAL-11: a top-level bulk is a cluster check only, unless a tenant is
	// requested (then it takes the full path).
	if action == actionBulk && req.Subject.RequestedTenant == "" {
		c.cluster(d, action)
		return
	}

	indices := req.Indices
	if len(indices) > 0 || req.AllIndices {
		var ok bool
		if indices, ok = c.systemGate(d, action, effBuf); !ok {
			return
		}
	}

	if isClusterAction(action) {
		if !c.cluster(d, action) {
			return
		}
		if strings.HasPrefix(action, actionRestore) && e.settings.checkSnapshotRestoreWrite() && len(indices) > 0 {
			// R-EVAL-13: restored indices need create and index.
			var buf [2]string
			required := append(buf[:0], actionCreateIndex, actionWriteIndex)
			c.indexCheck(d, indices, required, false, effBuf)
		}
		return
	}

	if done := c.tenantGate(d, action, indices); done {
		return
	}

	var buf [8]string
	required := c.requiredActions(action, buf[:0])
	c.indexCheck(d, indices, required, isDnfofAction(action), effBuf)
}

// requiredActions builds the R-EVAL-6 list: the action first, then the
// additional ones in the order they are added.
func (c *evalCtx) requiredActions(action string, dst []string) []string {
	dst = append(dst, action)
	add := func(a string) {
		if !slices.Contains(dst, a) {
			dst = append(dst, a)
		}
	}
	switch action {
	case actionBulkShard:
		for _, it := range c.req.BulkItems {
			switch it {
			case "index", "create":
				add(actionWriteIndex)
			case "delete":
				add(actionWriteDelete)
			case "update":
				add(actionWriteUpdate)
			}
		}
	case actionSearchShards:
		add(actionSearch)
	case actionAliases:
		if c.req.RemovesIndex {
			add(actionDeleteIndex)
		}
	case actionCreateIndex:
		if c.req.CreateWithAliases {
			add(actionAliases)
		}
	}
	return dst
}

// cluster applies R-EVAL-5; on denial it fills Missing.
func (c *evalCtx) cluster(d *Decision, action string) bool {
	for _, id := range c.rs.ids {
		r := c.e.roles[id]
		if r != nil && grants(&r.cluster, action) {
			d.Allowed = true
			if c.ex != nil {
				c.ex.addClusterGrant(c.e, r, action)
			}
			return true
		}
	}
	d.Allowed = false
	d.Missing = append(d.Missing, action)
	c.note("no mapped role grants the cluster action ", action, " in cluster_permissions (R-EVAL-5)")
	return false
}

// isSystemIndex reports whether idx is a configured system index (R-SYS-1).
func (e *Evaluator) isSystemIndex(idx string) bool {
	return e.settings.SystemIndicesEnabled && e.systemIndices.match(idx)
}

// systemGate applies R-SYS-3/4. It returns the indices to evaluate further
// (the security index stripped when filtering is on) and false when the
// request is denied.
func (c *evalCtx) systemGate(d *Decision, action string, effBuf []string) ([]string, bool) {
	e, req := c.e, c.req
	anySecurity, anySystem := false, false
	for _, idx := range req.Indices {
		if idx == e.configIndex {
			anySecurity = true
		} else if e.isSystemIndex(idx) {
			anySystem = true
		}
	}
	indices := req.Indices
	deny := func(why ...string) ([]string, bool) {
		d.Allowed = false
		d.Missing = d.Missing[:0]
		c.markSystemIndices(d)
		if c.ex != nil {
			c.ex.Gate = strings.Join(why, "")
			c.note(c.ex.Gate)
		}
		return nil, false
	}
	if e.settings.SystemIndexPermissionEnabled {
		if anySecurity {
			return deny("the security index ", e.configIndex, " is never accessible to non-admin users (R-SYS-3)")
		}
		if anySystem {
			var cellsBuf [64]bool
			if !c.allGranted(req.Indices, systemIndexAction, true, cellsBuf[:0]) {
				return deny("system index access needs an explicit ", systemIndexAction, " on every requested index (R-SYS-3)")
			}
		}
	}
	if e.isSystemDeniedAction(action) {
		if req.AllIndices {
			if !e.settings.FilterSecurityIndexFromAllRequests {
				return deny("write-type action ", action, " on all indices (R-SYS-4)")
			}
		}
		if !e.settings.SystemIndexPermissionEnabled && (anySystem || anySecurity) {
			return deny("write-type action ", action, " on a system index without the system index permission feature (R-SYS-4)")
		}
	}
	if anySecurity && req.AllIndices && e.settings.FilterSecurityIndexFromAllRequests {
		indices = effBuf[:0]
		for _, idx := range req.Indices {
			if idx != e.configIndex {
				indices = append(indices, idx)
			}
		}
		d.EffectiveIndices = indices
		c.note("security index stripped from an all-indices request (filter_securityindex_from_all_requests)")
	}
	if anySystem || anySecurity {
		c.markSystemIndices(d)
	}
	return indices, true
}

// markSystemIndices records system_index: true per index (R-SYS-6).
func (c *evalCtx) markSystemIndices(d *Decision) {
	for _, idx := range c.req.Indices {
		if idx == c.e.configIndex || c.e.isSystemIndex(idx) {
			if d.Indices == nil {
				d.Indices = map[string]IndexDecision{}
			}
			id := d.Indices[idx]
			id.SystemIndex = true
			d.Indices[idx] = id
		}
	}
}

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
		if c.rendered(&ent.templates[i]).match(name) {
			return true
		}
	}
	return false
}

// rendered returns the compiled pattern of a template for this request.
func (c *evalCtx) rendered(t *templatePattern) *pattern {
	if p, ok := c.tpl[t.id]; ok {
		return p
	}
	if c.tpl == nil {
		c.tpl = map[int]*pattern{}
	}
	p := compilePattern(renderTemplate(t.raw, &c.req.Subject, c.roles))
	c.tpl[t.id] = &p
	return &p
}

// fillCells sets cells[i*len(required)+j] when required[j] is granted on
// indices[i] by some mapped role (R-EVAL-7, R-EVAL-8). explicit applies
// R-EVAL-12 to every action. It returns the number of cells still false.
func (c *evalCtx) fillCells(indices, required []string, explicit bool, cells []bool) int {
	nr := len(required)
	left := len(cells)
	for _, id := range c.rs.ids {
		r := c.e.roles[id]
		if r == nil {
			continue
		}
		for k := range r.index {
			ent := &r.index[k]
			for j, a := range required {
				var ok bool
				if explicit {
					ok = ent.actions.matchExplicit(a)
				} else {
					ok = grants(&ent.actions, a)
				}
				if !ok {
					continue
				}
				for i, idx := range indices {
					cell := i*nr + j
					if cells[cell] || !c.entryMatchesIndex(ent, idx) {
						continue
					}
					cells[cell] = true
					left--
					if c.ex != nil {
						c.ex.addIndexGrant(c, r, ent, idx, a)
					}
				}
				if left == 0 {
					return 0
				}
			}
		}
	}
	return left
}

// allGranted reports whether action is granted on every index.
func (c *evalCtx) allGranted(indices []string, action string, explicit bool, cellsBuf []bool) bool {
	cells := growBools(cellsBuf, len(indices))
	return c.fillCells(indices, []string{action}, explicit, cells) == 0
}

func growBools(buf []bool, n int) []bool {
	if cap(buf) >= n {
		buf = buf[:n]
		clear(buf)
		return buf
	}
	return make([]bool, n)
}

// allIndicesGranted decides an _all request with no resolved index: every
// action must be granted by an entry whose index patterns contain "*".
func (c *evalCtx) allIndicesGranted(required []string, d *Decision) bool {
	ok := true
	for _, a := range required {
		found := false
	roles:
		for _, id := range c.rs.ids {
			r := c.e.roles[id]
			if r == nil {
				continue
			}
			for k := range r.index {
				ent := &r.index[k]
				if ent.patterns.any && grants(&ent.actions, a) {
					found = true
					break roles
				}
			}
		}
		if !found {
			d.Missing = append(d.Missing, a)
			ok = false
		}
	}
	return ok
}

// indexCheck applies R-EVAL-6..10 and DLS/FLS collection.
func (c *evalCtx) indexCheck(d *Decision, indices, required []string, dnfof bool, effBuf []string) {
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
	cells := growBools(cellsBuf[:0], len(indices)*nr)
	if c.fillCells(indices, required, false, cells) == 0 {
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
	for j, a := range required {
		for i := range indices {
			if !cells[i*nr+j] {
				d.Missing = append(d.Missing, a)
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

// recordIndexCells fills Decision.Indices with the per-index outcome.
func (c *evalCtx) recordIndexCells(d *Decision, indices, required []string, cells []bool) {
	if d.Indices == nil {
		d.Indices = make(map[string]IndexDecision, len(indices))
	}
	nr := len(required)
	missing := 0
	for _, ok := range cells {
		if !ok {
			missing++
		}
	}
	// One backing array for every index's Missing list.
	all := make([]string, 0, missing)
	for i, idx := range indices {
		id := d.Indices[idx]
		start := len(all)
		for j, a := range required {
			if !cells[i*nr+j] {
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
}

// collectRestrictions computes DLS, FLS and masked fields per index
// (R-DLS-1..4) into d.Indices. It does nothing (and allocates nothing) when
// no mapped role carries a restriction.
func (c *evalCtx) collectRestrictions(d *Decision, indices []string) {
	e := c.e
	restricted := false
	for _, id := range c.rs.ids {
		if r := e.roles[id]; r != nil && r.restricted {
			restricted = true
			break
		}
	}
	if !restricted {
		return
	}
	dfm := e.settings.DfmEmptyOverridesAll
	for _, idx := range indices {
		var dls, fls, masked []string
		var noDLS, noFLS, noMasked bool
		for _, id := range c.rs.ids {
			r := e.roles[id]
			if r == nil {
				continue
			}
			for k := range r.index {
				ent := &r.index[k]
				if !c.entryMatchesIndex(ent, idx) {
					continue
				}
				if ent.hasDLS {
					q := ent.dls
					if ent.dlsTpl {
						q = renderTemplate(q, &c.req.Subject, c.roles)
					}
					dls = append(dls, q)
				} else {
					noDLS = true
				}
				if ent.hasFLS {
					fls = append(fls, ent.fls...)
				} else {
					noFLS = true
				}
				if ent.hasMasked {
					masked = append(masked, ent.masked...)
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
		if d.Indices == nil {
			d.Indices = make(map[string]IndexDecision, len(indices))
		}
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

// tenantQuestion answers a tenant decision (R-TEN-5, R-TEN-8).
func (c *evalCtx) tenantQuestion(d *Decision) {
	e, req := c.e, c.req
	s := &req.Subject
	d.Tenants = e.tenantMap(s, &c.rs)
	tenant := req.Tenant
	if tenant == privateTenant && !e.dyn.PrivateTenantEnabled {
		d.TenantAccess = TenantAccessNone
		d.Allowed = false
		d.Missing = d.Missing[:0]
		c.note("private tenant requested while kibana.private_tenant_enabled is false (R-TEN-6)")
		return
	}
	d.TenantAccess = tenantAccess(d.Tenants, tenant)
	switch {
	case !e.dyn.MultitenancyEnabled || s.Name == e.dyn.ServerUsername:
		d.Allowed = true
		c.note("tenant checks do not apply (multitenancy disabled or dashboards server user)")
	case strings.EqualFold(req.TenantAccess, "write"):
		d.Allowed = d.TenantAccess == TenantAccessWrite
	default:
		d.Allowed = d.TenantAccess != TenantAccessNone
	}
	if c.ex != nil {
		c.ex.Tenant = &TenantTrace{Tenant: tenant, Access: d.TenantAccess, Tenants: d.Tenants}
	}
}

// tenantGate applies R-TEN-6 to an index action. It returns true when the
// decision is final.
func (c *evalCtx) tenantGate(d *Decision, action string, indices []string) bool {
	e, req := c.e, c.req
	s := &req.Subject
	if !e.dyn.MultitenancyEnabled || s.Name == e.dyn.ServerUsername || len(indices) == 0 {
		return false
	}
	kib := e.dyn.KibanaIndex
	touchesKibana := false
	for _, idx := range indices {
		if strings.HasPrefix(idx, kib) {
			touchesKibana = true
			break
		}
	}
	if !touchesKibana && s.RequestedTenant != privateTenant {
		return false
	}
	onlyKibana := true
	for _, idx := range indices {
		if idx != kib {
			onlyKibana = false
			break
		}
	}
	tenant := s.RequestedTenant
	deny := func(why ...string) bool {
		d.Allowed = false
		d.Missing = append(d.Missing[:0], action)
		c.note(why...)
		return true
	}
	if tenant == privateTenant {
		if !e.dyn.PrivateTenantEnabled {
			return deny("private tenant requested while kibana.private_tenant_enabled is false (R-TEN-6)")
		}
		tenant = s.Name
	}
	check := func(t string) bool {
		if d.Tenants == nil {
			d.Tenants = e.tenantMap(s, &c.rs)
		}
		w, ok := d.Tenants[t]
		if t == s.Name && s.RequestedTenant == privateTenant {
			ok, w = true, true
		}
		return ok && (w || isTenantReadOnlyAction(action))
	}
	if tenant == "" {
		if onlyKibana && !check(globalTenant) {
			return deny("the dashboards index without a tenant needs the global tenant (R-TEN-6)")
		}
		return false
	}
	tenantIdx := TenantIndexName(kib, tenant)
	if len(indices) == 1 && strings.HasPrefix(indices[0], tenantIdx) {
		if !check(tenant) {
			return deny("tenant ", tenant, " is not writable or not granted (R-TEN-6)")
		}
		d.Allowed = true
		c.note("request on the tenant's own dashboards index: allowed (R-TEN-6)")
		return true
	}
	if onlyKibana {
		if !check(tenant) {
			return deny("tenant ", tenant, " is not writable or not granted (R-TEN-6)")
		}
		d.Allowed = true
		d.EffectiveIndices = []string{tenantIdx}
		c.note("dashboards index redirected to the tenant index ", tenantIdx, " (R-TEN-6)")
		return true
	}
	return false
}
