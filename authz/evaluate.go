package authz

import (
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
	// Reason is the plugin's 403 text when denied (R-ERR-1), "" when
	// allowed. Evaluate sets it; EvaluateInto leaves it empty so that
	// denials do not allocate: ReasonText and AppendReason render it on
	// demand, byte for byte the same.
	Reason string
	// Roles are the mapped security roles, sorted (R-MAP-8). Evaluate sets
	// it; EvaluateInto leaves it empty, because copying the names of
	// hundreds of mapped roles would make the decision cost grow with them:
	// RoleNames fills it on demand.
	Roles []string
	// Missing are the missing privileges as printed in Reason (R-ERR-2).
	Missing []string
	// Indices holds per-index details. It is nil for a fully allowed request
	// without DLS/FLS/masking and without system indices (the common case);
	// otherwise it has an entry for every requested index that is denied,
	// restricted or a system index. After EvaluateInto the Allowed/Missing
	// outcome of a denied or reduced index request is recorded only by
	// IndexDetails (Evaluate calls it).
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

	// Storage EvaluateInto reuses across calls on the same Decision.
	indicesBuf map[string]IndexDecision
	missingBuf []string // backing array of Indices[*].Missing
	// user is what the 403 text needs of the subject, kept on a denial
	// until ReasonText renders it.
	user   reasonUser
	denied bool
	// eval, grants and ext are the mapped roles as the decision found them
	// (grants of the immutable Evaluator, names outside its table), kept
	// until RoleNames merges them into Roles.
	eval    *Evaluator
	grants  []*grant
	ext     []string
	rolesOK bool
	// The check table of a denied or reduced index request, kept until
	// IndexDetails records it in Indices.
	tableIdx, tableReq []string
	tableCells         []bool
	tablePending       bool
}

// RoleNames returns the mapped roles (Roles), merging them into Roles on
// first use after EvaluateInto. Until the next EvaluateInto, d refers to the
// (immutable) Evaluator that decided it for this.
func (d *Decision) RoleNames() []string {
	if !d.rolesOK && d.eval != nil {
		d.Roles = d.eval.appendDecisionRoles(d.grants, d.ext, d.Roles[:0])
		d.rolesOK = true
	}
	return d.Roles
}

// Evaluate decides req. It never blocks and never takes a lock. It is the
// convenient form: it allocates its result and fills every field (Roles,
// the per-index outcome in Indices and, on a denial, Reason). See
// EvaluateInto for the allocation-free form.
func (e *Evaluator) Evaluate(req *Request) Decision {
	var d Decision
	e.EvaluateInto(req, &d)
	d.RoleNames()
	d.IndexDetails()
	if d.denied {
		d.Reason = d.ReasonText()
	}
	return d
}

// EvaluateInto decides req into d, reusing d's storage (Roles, Missing,
// EffectiveIndices and Indices with its Missing lists; every other field is
// reset), so the slices and the map of the previous decision on d (or of a
// copy of d) must no longer be used. What only some callers need is left
// for d's methods to produce on demand: RoleNames the mapped roles,
// ReasonText (or AppendReason) the 403 text of a denial, IndexDetails the
// per-index outcome of a denied index request. The cost of EvaluateInto does
// not grow with the number of roles a subject is mapped to.
//
// Once d's buffers have grown, it allocates nothing for allowed or denied
// cluster and index requests, including dnfof reductions. Paths that
// allocate: templated index patterns (${...}) that get rendered, DLS/FLS/
// masking collection, tenant rules, explain, and the first use of an action
// string (its memo entry).
func (e *Evaluator) EvaluateInto(req *Request, d *Decision) {
	effBuf := d.EffectiveIndices[:0]
	d.Allowed, d.Reason = false, ""
	d.Roles, d.Missing, d.Indices, d.EffectiveIndices = d.Roles[:0], d.Missing[:0], nil, nil
	d.Tenants, d.TenantAccess, d.Explain = nil, "", nil
	d.missingBuf = d.missingBuf[:0]
	d.user, d.denied, d.tablePending = reasonUser{}, false, false

	if d.grants == nil {
		d.grants = make([]*grant, 0, grantsInline)
	}
	gs, ext := e.subjectGrants(&req.Subject, d.grants[:0], d.ext[:0])
	d.eval, d.grants, d.ext, d.rolesOK = e, gs, ext, false

	c := evalCtx{e: e, req: req, d: d, gs: gs, ext: ext, slow: e.slowPath}
	if req.Explain {
		// Assigned from a local, not from c.ex: escape analysis is
		// field-insensitive and c must stay on the stack.
		ex := e.newExplain(req, c.roleSet())
		c.ex, d.Explain = ex, ex
		c.slow = true
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
	if !d.Allowed {
		d.denied = true
		d.user = reasonUser{name: req.Subject.Name, backendRoles: req.Subject.BackendRoles, tenant: req.Subject.RequestedTenant}
	}
}

// useIndices makes d.Indices usable, reusing the map of an earlier
// decision on d.
func (d *Decision) useIndices() {
	if d.Indices != nil {
		return
	}
	if d.indicesBuf == nil {
		d.indicesBuf = make(map[string]IndexDecision, 4)
	} else {
		clear(d.indicesBuf)
	}
	d.Indices = d.indicesBuf
}

// evalCtx is the per-request state. It lives on the caller's stack.
type evalCtx struct {
	e   *Evaluator
	req *Request
	d   *Decision // nil outside EvaluateInto
	// gs are the grants the subject hits and ext its mapped names outside
	// the name table; rs, the mapped roles one by one, is built from them
	// only when a path needs roles (explain, DLS/FLS, tenants).
	gs    []*grant
	ext   []string
	rs    roleSet
	rsOK  bool
	roles []string // mapped role names, for ${user.securityRoles}; see securityRoles
	// slow selects the role-by-role path (explain, or Evaluator.slowPath).
	slow bool
	// kibana reports (once kibanaKnown) whether some requested index starts
	// with the dashboards index name (R-TEN-6); systemGate finds out on its
	// pass over the indices.
	kibana, kibanaKnown bool
	tpl                 *renderCache
	ex                  *Explain
}

// securityRoles returns the mapped role names (${user.securityRoles}),
// computing them on first use (into the Decision when there is one).
func (c *evalCtx) securityRoles() []string {
	if c.roles == nil {
		if c.d != nil {
			c.roles = c.d.RoleNames()
		} else {
			c.roles = c.e.appendDecisionRoles(c.gs, c.ext, []string{})
		}
	}
	return c.roles
}

// roleSet returns the mapped roles one by one, computing them on first use.
func (c *evalCtx) roleSet() *roleSet {
	if !c.rsOK {
		c.rs = c.e.roleSetOfGrants(c.gs, c.ext)
		c.rsOK = true
	}
	return &c.rs
}

// note records an evaluation step in the explain trace. The text comes in
// parts so that nothing is concatenated (allocated) without explain.
func (c *evalCtx) note(parts ...string) {
	if c.ex != nil {
		c.ex.Notes = append(c.ex.Notes, strings.Join(parts, ""))
	}
}

// info returns the memo entry of action (as requested: the entry holds its
// R-EVAL-3 rewrite).
func (c *evalCtx) info(action string) *actionInfo { return c.e.memo.lookup(c.e, action) }

// action evaluates an action request in the order of the vectors header:
// roles → top-level bulk shortcut → system index gate → cluster or index
// privileges → dnfof, then DLS/FLS.
func (c *evalCtx) action(d *Decision, effBuf []string) {
	e, req := c.e, c.req
	ai := c.info(req.Action)
	action := ai.action
	if c.ex != nil {
		c.ex.Action = action
		c.ex.Cluster = ai.cluster
	}

	// R-EVAL-11: a top-level bulk is a cluster check only, unless a tenant is
	// requested (then it takes the full path).
	if ai.bulk && req.Subject.RequestedTenant == "" {
		c.cluster(d, ai)
		return
	}

	indices := req.Indices
	if len(indices) > 0 || req.AllIndices {
		var ok bool
		if indices, ok = c.systemGate(d, ai); !ok {
			return
		}
	}

	if ai.cluster {
		if !c.cluster(d, ai) {
			return
		}
		if ai.restore && e.settings.checkSnapshotRestoreWrite() && len(indices) > 0 {
			// R-EVAL-13: restored indices need create and index.
			var buf [2]*actionInfo
			required := append(buf[:0], c.info(actionCreateIndex), c.info(actionWriteIndex))
			c.indexCheck(d, indices, required, false, effBuf)
		}
		return
	}

	if done := c.tenantGate(d, action, indices); done {
		return
	}

	var buf [8]*actionInfo
	required := c.requiredActions(ai, buf[:0])
	c.indexCheck(d, indices, required, ai.dnfof, effBuf)
}

// requiredActions builds the R-EVAL-6 list: the action first, then the
// additional ones in the order they are added.
func (c *evalCtx) requiredActions(ai *actionInfo, dst []*actionInfo) []*actionInfo {
	dst = append(dst, ai)
	if !ai.extra {
		return dst
	}
	add := func(a string) {
		for _, x := range dst {
			if x.action == a {
				return
			}
		}
		dst = append(dst, c.info(a))
	}
	switch ai.action {
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
func (c *evalCtx) cluster(d *Decision, ai *actionInfo) bool {
	if c.slow {
		rs := c.roleSet()
		for _, id := range rs.ids {
			r := c.e.roles[id]
			if r != nil && ai.grants(r.cluster) {
				d.Allowed = true
				if c.ex != nil {
					c.ex.addClusterGrant(c.e, r, ai.action)
				}
				return true
			}
		}
	} else {
		for _, g := range c.gs {
			for _, cs := range g.cluster {
				if ai.grantsID(cs.id, cs.set) {
					d.Allowed = true
					return true
				}
			}
		}
	}
	d.Allowed = false
	d.Missing = append(d.Missing, ai.action)
	c.note("no mapped role grants the cluster action ", ai.action, " in cluster_permissions (R-EVAL-5)")
	return false
}
