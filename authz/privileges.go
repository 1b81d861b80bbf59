package authz

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// HasIndexPrivilege reports whether the index permissions of the mapped
// roles of req.Subject grant req.Action on every one of req.Indices (the
// R-EVAL-6..8 check table for this single action; templates rendered,
// req.IndexParents honoured), without the cluster/index classification of
// R-EVAL-4 and without the system-index or tenant gates. It is what an
// Elasticsearch-style has_privileges question about an index privilege
// asks, and the rule the bench workloads' reference evaluator applies to
// every request with indices. No indices means granted. It allocates
// nothing in the common case.
func (e *Evaluator) HasIndexPrivilege(req *Request) bool {
	if len(req.Indices) == 0 {
		return true
	}
	var gbuf [grantsInline]*grant
	gs, ext := e.subjectGrants(&req.Subject, gbuf[:0], nil)
	c := evalCtx{e: e, req: req, gs: gs, ext: ext, slow: e.slowPath}
	var cellsBuf [64]bool
	cells := boolsOf(&cellsBuf, len(req.Indices))
	required := [1]*actionInfo{c.info(req.Action)}
	return c.fillCells(req.Indices, required[:], cells) == 0
}

// HasClusterPrivilege reports whether the cluster_permissions of the
// mapped roles of s grant action (R-EVAL-5, with R-EVAL-12 for the
// explicit-only privileges), whatever R-EVAL-4 would classify it as: the
// question R-API-6 asks about restapi:admin/* privileges and
// has_privileges asks about cluster privileges. It allocates nothing in the
// common case.
func (e *Evaluator) HasClusterPrivilege(s *Subject, action string) bool {
	var gbuf [grantsInline]*grant
	gs, _ := e.subjectGrants(s, gbuf[:0], nil)
	ai := e.memo.lookup(e, action)
	for _, g := range gs {
		for _, cs := range g.cluster {
			if ai.grantsID(cs.id, cs.set) {
				return true
			}
		}
	}
	return false
}

// Privileges are a subject's effective privileges (GET
// /_plugins/_authz/privileges/{user}): what its mapped roles grant, merged.
type Privileges struct {
	// Roles are the mapped roles, sorted (R-MAP-8).
	Roles []string `json:"roles"`
	// Cluster are the cluster permission patterns of every mapped role, action
	// groups replaced by their closure (R-AG-2), sorted and deduplicated.
	Cluster []string `json:"cluster"`
	// Index are the index permissions of every mapped role; entries with the
	// same patterns and restrictions are merged, their actions united.
	Index []IndexPrivilege `json:"index"`
	// Tenants is the tenant map (R-TEN-4): tenant → true for read-write.
	Tenants map[string]bool `json:"tenants"`
}

// IndexPrivilege is one merged group of index_permissions entries.
type IndexPrivilege struct {
	// IndexPatterns are the entry's index patterns with templates rendered
	// for the subject (R-PAT-5), sorted and deduplicated.
	IndexPatterns []string `json:"index_patterns"`
	// AllowedActions are the action patterns, action groups replaced by their
	// closure, sorted and deduplicated.
	AllowedActions []string `json:"allowed_actions"`
	// DLS is the entry's document-level query, attributes substituted.
	DLS string `json:"dls,omitempty"`
	// FLS and MaskedFields are the entry's field lists, sorted.
	FLS          []string `json:"fls"`
	MaskedFields []string `json:"masked_fields"`
}

// EffectivePrivileges returns what s's mapped roles grant. Action group
// names, which R-AG-2 keeps in an expanded list as patterns of their own,
// and blank patterns, which match nothing (R-PAT-1), are left out. The
// system-index and tenant gates of a decision are not reflected.
func (e *Evaluator) EffectivePrivileges(s *Subject) Privileges {
	var gbuf [grantsInline]*grant
	gs, ext := e.subjectGrants(s, gbuf[:0], nil)
	rs := e.roleSetOfGrants(gs, ext)
	roles := e.appendNames(&rs, []string{})
	p := Privileges{Roles: roles, Cluster: []string{}, Index: []IndexPrivilege{}, Tenants: e.tenantMap(s, &rs)}
	cluster := map[string]bool{}
	type key struct{ patterns, dls, fls, masked string }
	merged := map[key]*IndexPrivilege{}
	var order []key
	for _, id := range rs.ids {
		r := e.roles[id]
		if r == nil {
			continue
		}
		for _, a := range r.cluster.expanded {
			cluster[a] = true
		}
		for i := range r.index {
			re := &r.index[i]
			src := r.src.IndexPermissions[re.ordinal]
			var pats []string
			for _, raw := range src.IndexPatterns {
				if strings.TrimSpace(raw) != "" {
					pats = append(pats, renderTemplate(raw, s, roles))
				}
			}
			ip := IndexPrivilege{IndexPatterns: sortedUnique(pats), FLS: sortedUnique(re.fls), MaskedFields: sortedUnique(re.masked)}
			if re.hasDLS {
				ip.DLS = renderTemplate(re.dls, s, roles)
			}
			k := key{joinKey(ip.IndexPatterns), ip.DLS, joinKey(ip.FLS), joinKey(ip.MaskedFields)}
			m, ok := merged[k]
			if !ok {
				m = &ip
				merged[k] = m
				order = append(order, k)
			}
			m.AllowedActions = append(m.AllowedActions, e.actionLeaves(re.ent.actions)...)
		}
	}
	for a := range cluster {
		if !e.groups.isGroup(a) && strings.TrimSpace(a) != "" {
			p.Cluster = append(p.Cluster, a)
		}
	}
	slices.Sort(p.Cluster)
	for _, k := range order {
		m := merged[k]
		m.AllowedActions = sortedUnique(m.AllowedActions)
		p.Index = append(p.Index, *m)
	}
	slices.SortFunc(p.Index, func(a, b IndexPrivilege) int {
		return cmp.Or(slices.Compare(a.IndexPatterns, b.IndexPatterns), strings.Compare(a.DLS, b.DLS),
			slices.Compare(a.FLS, b.FLS), slices.Compare(a.MaskedFields, b.MaskedFields))
	})
	return p
}

// actionLeaves is an action set without the names of action groups and
// blank entries.
func (e *Evaluator) actionLeaves(s *actionSet) []string {
	out := make([]string, 0, len(s.expanded))
	for _, a := range s.expanded {
		if !e.groups.isGroup(a) && strings.TrimSpace(a) != "" {
			out = append(out, a)
		}
	}
	return out
}

func sortedUnique(l []string) []string {
	out := slices.Clone(l)
	if out == nil {
		return []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func joinKey(l []string) string { return strings.Join(l, "\x00") }

// WhoCanResult answers WhoCan: the roles that grant the permission and
// every way a subject gets one of them. Only exact names can be listed:
// mapping entries that are patterns are reported as patterns, and subjects
// known only to an external authenticator (LDAP, JWT) appear through their
// backend roles alone.
type WhoCanResult struct {
	Action string `json:"action"`
	Index  string `json:"index,omitempty"`
	// Cluster reports whether cluster_permissions were consulted: for the
	// cluster actions of R-EVAL-4 and for restapi:admin/* (R-API-6);
	// otherwise index_permissions were.
	Cluster bool `json:"cluster"`
	// Roles are the roles that grant it, sorted.
	Roles []string `json:"roles"`
	// TemplatedRoles grant it only through an index pattern with
	// ${...} variables (R-PAT-5): whether they do depends on the user.
	TemplatedRoles []string `json:"templated_roles"`
	// Users are exact user names of the roles' mappings and the internal
	// users with one of the roles as a direct role (R-MAP-2).
	Users []string `json:"users"`
	// BackendRoles are exact backend roles of the mappings, plus the role
	// names themselves when roles_mapping_resolution is BACKENDROLES_ONLY or
	// BOTH (R-MAP-3).
	BackendRoles []string `json:"backend_roles"`
	// Hosts are exact host entries of the mappings (R-MAP-5).
	Hosts []string `json:"hosts"`
	// UserPatterns, BackendRolePatterns and HostPatterns are the mapping
	// entries that are wildcards or regexes: every user, backend role or
	// host they match qualifies.
	UserPatterns        []string `json:"user_patterns"`
	BackendRolePatterns []string `json:"backend_role_patterns"`
	HostPatterns        []string `json:"host_patterns"`
	// AndBackendRoles are and_backend_roles lists (R-MAP-6): a subject whose
	// backend roles match every pattern of one list qualifies.
	AndBackendRoles [][]string `json:"and_backend_roles"`
}

// WhoCan reports who may perform action on index by role: the roles one
// of whose entries grants action on index (R-EVAL-7, for an index action;
// an empty index means any index) or whose cluster_permissions grant it
// (R-EVAL-5, for a cluster action or a restapi:admin/* privilege), and how
// subjects are mapped to those roles. It answers per role: a request needing several actions (bulk
// items, R-EVAL-6) or satisfied by two roles together (R-EVAL-8), the
// system-index gate (§6), tenants (R-TEN-6) and aliases are not taken into
// account.
func (e *Evaluator) WhoCan(action, index string) WhoCanResult {
	action = rewriteAction(action)
	res := WhoCanResult{Action: action, Index: index, Cluster: isClusterAction(action) || strings.HasPrefix(action, restAPIActionPrefix)}
	explicit := explicitOnly(action)
	var roles, templated []int32
	for _, id := range e.sorted {
		r := e.roles[id]
		if r == nil {
			continue
		}
		if res.Cluster {
			if r.cluster.grants(action, explicit) {
				roles = append(roles, id)
			}
			continue
		}
		direct, viaTemplate := false, false
		for i := range r.index {
			ent := r.index[i].ent
			if !ent.actions.grants(action, explicit) {
				continue
			}
			if index == "" || ent.patterns.match(index) {
				direct = true
				break
			}
			viaTemplate = viaTemplate || len(ent.templates) > 0
		}
		switch {
		case direct:
			roles = append(roles, id)
		case viaTemplate:
			templated = append(templated, id)
		}
	}
	set := func() map[string]bool { return map[string]bool{} }
	users, backend, hosts, userPats, backendPats, hostPats := set(), set(), set(), set(), set(), set()
	ands := map[string][]string{}
	for _, id := range slices.Concat(roles, templated) {
		name := e.names[id]
		if e.byNames {
			backend[name] = true
		}
		if m := e.mappings[id]; m != nil && e.byMappings {
			split := func(raws []string, exact, pats map[string]bool) {
				for _, raw := range raws {
					switch compilePattern(raw).kind {
					case patExact:
						exact[raw] = true
					case patNone:
					default:
						pats[raw] = true
					}
				}
			}
			split(m.Users, users, userPats)
			split(m.BackendRoles, backend, backendPats)
			split(m.Hosts, hosts, hostPats)
			if len(m.AndBackendRoles) > 0 {
				ands[joinKey(m.AndBackendRoles)] = slices.Clone(m.AndBackendRoles)
			}
		}
	}
	for user, direct := range e.userRoles {
		for _, r := range direct {
			if id, ok := e.nameID[r]; ok && (slices.Contains(roles, id) || slices.Contains(templated, id)) {
				users[user] = true
			}
		}
	}
	names := func(ids []int32) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = e.names[id]
		}
		return out
	}
	res.Roles, res.TemplatedRoles = names(roles), names(templated)
	res.Users, res.BackendRoles, res.Hosts = sortedKeys(users), sortedKeys(backend), sortedKeys(hosts)
	res.UserPatterns, res.BackendRolePatterns, res.HostPatterns = sortedKeys(userPats), sortedKeys(backendPats), sortedKeys(hostPats)
	res.AndBackendRoles = [][]string{}
	for _, k := range slices.Sorted(maps.Keys(ands)) {
		res.AndBackendRoles = append(res.AndBackendRoles, ands[k])
	}
	return res
}

func sortedKeys(m map[string]bool) []string {
	out := slices.Sorted(maps.Keys(m))
	if out == nil {
		return []string{}
	}
	return out
}
