package authz

import (
	"fmt"
	"strings"
)

// Explain is the grant path of a decision (Request.Explain): how each role
// was mapped, which role / index pattern / action-group chain granted each
// (index, action) pair, and why a gate refused. Building it allocates; it is
// never computed unless asked for.
type Explain struct {
	// Action is the evaluated action after the R-EVAL-3 rewrite.
	Action string `json:"action,omitempty"`
	// Cluster reports whether the action was judged a cluster action (R-EVAL-4).
	Cluster bool `json:"cluster"`
	// Mappings says, per mapped role, why the subject has it.
	Mappings []MappingTrace `json:"mappings"`
	// Grants lists, per granted (index, action) pair or cluster action, the
	// first role entry that granted it.
	Grants []GrantTrace `json:"grants,omitempty"`
	// Gate is the system-index rule that refused the request, if any.
	Gate string `json:"gate,omitempty"`
	// Tenant is the tenant evaluation of a tenant question.
	Tenant *TenantTrace `json:"tenant,omitempty"`
	// Notes are the evaluation steps that decided, in order.
	Notes []string `json:"notes,omitempty"`
	// Warnings are configuration problems in the mapped roles that may
	// explain a surprise: invalid regexes (R-PAT-4), entries that are neither
	// an action group nor look like an action (R-AG-3).
	Warnings []string `json:"warnings,omitempty"`
}

// MappingTrace is one reason why a role is mapped.
type MappingTrace struct {
	// Role is the mapped role name.
	Role string `json:"role"`
	// Exists is false for a mapped name without a role (R-MAP-7).
	Exists bool `json:"exists"`
	// Via is security_roles, backend_role_name (BACKENDROLES_ONLY/BOTH),
	// users, backend_roles, hosts or and_backend_roles.
	Via string `json:"via"`
	// Pattern is the mapping entry that matched (empty for security_roles and
	// backend_role_name).
	Pattern string `json:"pattern,omitempty"`
	// Value is the subject's value it matched.
	Value string `json:"value,omitempty"`
	// Provenance is Evaluator.WithProvenance's answer for the role mapping.
	Provenance any `json:"provenance,omitempty"`
}

// GrantTrace is the path that granted one action (on one index).
type GrantTrace struct {
	// Role granted it.
	Role string `json:"role"`
	// Index is the requested index; empty for a cluster action.
	Index string `json:"index,omitempty"`
	// Action is the granted action.
	Action string `json:"action"`
	// Entry is the position in the role's index_permissions, -1 for
	// cluster_permissions.
	Entry int `json:"entry"`
	// IndexPattern is the index pattern (as configured) that matched.
	IndexPattern string `json:"index_pattern,omitempty"`
	// Via is the index name the pattern matched when it is an alias or data
	// stream of Index (R-EVAL-7).
	Via string `json:"via,omitempty"`
	// Chain is the path from the configured permission entry to the action
	// pattern that matched: [entry, group, ..., pattern]; one element when
	// the entry itself matched.
	Chain []string `json:"chain"`
	// RoleProvenance is Evaluator.WithProvenance's answer for the role.
	RoleProvenance any `json:"role_provenance,omitempty"`
	// GroupProvenance holds WithProvenance's answers for the action groups of
	// Chain, by group name.
	GroupProvenance map[string]any `json:"group_provenance,omitempty"`
}

// TenantTrace is the evaluated tenant question.
type TenantTrace struct {
	Tenant  string          `json:"tenant"`
	Access  string          `json:"access"`
	Tenants map[string]bool `json:"tenants"`
}

// newExplain starts the trace with the role mappings.
func (e *Evaluator) newExplain(req *Request, rs *roleSet) *Explain {
	ex := &Explain{Action: req.Action, Mappings: []MappingTrace{}}
	s := &req.Subject
	add := func(role, via, pat, val string) {
		mt := MappingTrace{Role: role, Via: via, Pattern: pat, Value: val}
		if id, ok := e.nameID[role]; ok && e.roles[id] != nil {
			mt.Exists = true
		}
		if e.provenance != nil && pat != "" {
			mt.Provenance = e.provenance(KindRolesMapping, role)
		}
		ex.Mappings = append(ex.Mappings, mt)
	}
	for _, r := range s.SecurityRoles {
		add(r, "security_roles", "", r)
	}
	if e.resolution != ResolutionMappingOnly {
		for _, br := range s.BackendRoles {
			add(br, "backend_role_name", "", br)
		}
	}
	if e.resolution != ResolutionBackendRolesOnly {
		for _, id := range rs.ids {
			e.traceMapping(id, s, add)
		}
	}
	for _, id := range rs.ids {
		if r := e.roles[id]; r != nil {
			ex.Warnings = append(ex.Warnings, e.roleWarnings(r)...)
		}
	}
	return ex
}

// traceMapping records every mapping rule of names[id] that s satisfies.
func (e *Evaluator) traceMapping(id int32, s *Subject, add func(role, via, pat, val string)) {
	name := e.names[id]
	if keyMaps(e.userKeys, s.Name, id) {
		add(name, "users", s.Name, s.Name)
	}
	for _, mp := range e.userPats {
		if mp.role == id && mp.p.match(s.Name) {
			add(name, "users", mp.p.raw, s.Name)
		}
	}
	for _, br := range s.BackendRoles {
		if keyMaps(e.backendKeys, br, id) {
			add(name, "backend_roles", br, br)
		}
		for _, mp := range e.backendPats {
			if mp.role == id && mp.p.match(br) {
				add(name, "backend_roles", mp.p.raw, br)
			}
		}
	}
	hosts := []string{s.RemoteIP}
	if s.RemoteHost != "" && e.dyn.HostsResolverMode != "ip-only" {
		hosts = append(hosts, s.RemoteHost)
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if keyMaps(e.hostKeys, h, id) {
			add(name, "hosts", h, h)
		}
		for _, mp := range e.hostPats {
			if mp.role == id && mp.p.match(h) {
				add(name, "hosts", mp.p.raw, h)
			}
		}
	}
	for i := range e.andMappings {
		am := &e.andMappings[i]
		if am.role == id && andMappingApplies(am, s.BackendRoles) {
			raws := make([]string, len(am.pats))
			for j := range am.pats {
				raws[j] = am.pats[j].raw
			}
			add(name, "and_backend_roles", strings.Join(raws, ","), strings.Join(s.BackendRoles, ","))
		}
	}
}

// keyMaps reports whether the exact mapping key maps role id.
func keyMaps(t *keyTable, key string, id int32) bool {
	g := t.get(key)
	return g != nil && g.hasRole(id)
}

// roleWarnings lists R-PAT-4 and R-AG-3 problems of one role.
func (e *Evaluator) roleWarnings(r *compiledRole) []string {
	var out []string
	checkActions := func(where string, entries []string) {
		for _, a := range entries {
			if p := compilePattern(a); p.err != nil {
				out = append(out, fmt.Sprintf("role %s: %s: invalid regex %q: %v", r.name, where, a, p.err))
				continue
			}
			if !e.groups.isGroup(a) && !strings.ContainsAny(a, ":*") && !strings.HasPrefix(a, "/") {
				out = append(out, fmt.Sprintf("role %s: %s: %q is neither an action group nor an action pattern (R-AG-3)", r.name, where, a))
			}
		}
	}
	checkActions("cluster_permissions", r.src.ClusterPermissions)
	for i, ip := range r.src.IndexPermissions {
		checkActions(fmt.Sprintf("index_permissions[%d].allowed_actions", i), ip.AllowedActions)
		for _, p := range ip.IndexPatterns {
			if cp := compilePattern(p); cp.err != nil && !isTemplate(p) {
				out = append(out, fmt.Sprintf("role %s: index_permissions[%d]: invalid regex %q: %v", r.name, i, p, cp.err))
			}
		}
	}
	return out
}

// permissionChain finds the configured entry of entries that grants action
// and its group chain.
func (e *Evaluator) permissionChain(entries []string, action string, explicit bool) []string {
	ok := func(p string) bool {
		cp := compilePattern(p)
		if (explicit || explicitOnly(action)) && cp.matchesAll() {
			return false
		}
		return cp.match(action)
	}
	for _, ent := range entries {
		if ch := e.groups.chain(ent, ok); ch != nil {
			return ch
		}
	}
	return nil
}

func (e *Evaluator) groupProvenance(chain []string) map[string]any {
	if e.provenance == nil {
		return nil
	}
	var m map[string]any
	for _, g := range chain {
		if e.groups.isGroup(g) {
			if m == nil {
				m = map[string]any{}
			}
			m[g] = e.provenance(KindActionGroups, g)
		}
	}
	return m
}

func (ex *Explain) addClusterGrant(e *Evaluator, r *compiledRole, action string) {
	ch := e.permissionChain(r.src.ClusterPermissions, action, false)
	g := GrantTrace{Role: r.name, Action: action, Entry: -1, Chain: ch, GroupProvenance: e.groupProvenance(ch)}
	if e.provenance != nil {
		g.RoleProvenance = e.provenance(KindRoles, r.name)
	}
	ex.Grants = append(ex.Grants, g)
}

func (ex *Explain) addIndexGrant(c *evalCtx, r *compiledRole, ent *roleEntry, idx, action string) {
	e := c.e
	src := r.src.IndexPermissions[ent.ordinal]
	g := GrantTrace{Role: r.name, Index: idx, Action: action, Entry: ent.ordinal}
	names := append([]string{idx}, c.req.IndexParents[idx]...)
found:
	for _, n := range names {
		for _, p := range src.IndexPatterns {
			cp := compilePattern(renderTemplate(p, &c.req.Subject, c.securityRoles()))
			if cp.match(n) {
				g.IndexPattern = p
				if n != idx {
					g.Via = n
				}
				break found
			}
		}
	}
	g.Chain = e.permissionChain(src.AllowedActions, action, false)
	g.GroupProvenance = e.groupProvenance(g.Chain)
	if e.provenance != nil {
		g.RoleProvenance = e.provenance(KindRoles, r.name)
	}
	ex.Grants = append(ex.Grants, g)
}
