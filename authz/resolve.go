package authz

import (
	"slices"
	"sort"
)

// grantsInline is the number of grants a request collects without
// allocating (direct roles, user name, backend roles, hosts, patterns).
const grantsInline = 16

// subjectGrants appends to gs the grants of everything s is mapped by
// (R-MAP-2..6) and to ext the mapped names outside the name table (direct
// roles and, in BACKENDROLES_ONLY/BOTH, backend role names that are neither
// a role nor a mapping). Exact keys cost one map lookup each; pattern and
// and_backend_roles mappings are scanned. It works on local slices (not
// through a pointer) so that callers' stack buffers stay on the stack.
func (e *Evaluator) subjectGrants(s *Subject, gs []*grant, ext []string) ([]*grant, []string) {
	for _, r := range s.SecurityRoles {
		if id, ok := e.nameID[r]; ok {
			gs = addGrant(gs, e.roleGrants[id])
		} else {
			ext = append(ext, r)
		}
	}
	if e.byNames {
		for _, br := range s.BackendRoles {
			if id, ok := e.nameID[br]; ok {
				gs = addGrant(gs, e.roleGrants[id])
			} else {
				ext = append(ext, br)
			}
		}
	}
	if e.byMappings {
		if g := e.userKeys.get(s.Name); g != nil {
			gs = addGrant(gs, g)
		}
		for i := range e.userPats {
			if e.userPats[i].p.match(s.Name) {
				gs = addGrant(gs, e.roleGrants[e.userPats[i].role])
			}
		}
		for _, br := range s.BackendRoles {
			if g := e.backendKeys.get(br); g != nil {
				gs = addGrant(gs, g)
			}
			for i := range e.backendPats {
				if e.backendPats[i].p.match(br) {
					gs = addGrant(gs, e.roleGrants[e.backendPats[i].role])
				}
			}
		}
		gs = e.hostGrants(s.RemoteIP, gs)
		if s.RemoteHost != "" && e.dyn.HostsResolverMode != "ip-only" {
			gs = e.hostGrants(s.RemoteHost, gs)
		}
		for i := range e.andMappings {
			if andMappingApplies(&e.andMappings[i], s.BackendRoles) {
				gs = addGrant(gs, e.roleGrants[e.andMappings[i].role])
			}
		}
	}
	if len(ext) > 1 {
		slices.Sort(ext)
		ext = slices.Compact(ext)
	}
	return gs, ext
}

// addGrant appends g unless it is already there (a backend role listed
// twice, a role both direct and mapped).
func addGrant(gs []*grant, g *grant) []*grant {
	for _, x := range gs {
		if x == g {
			return gs
		}
	}
	return append(gs, g)
}

func (e *Evaluator) hostGrants(host string, gs []*grant) []*grant {
	if host == "" {
		return gs
	}
	if g := e.hostKeys.get(host); g != nil {
		gs = addGrant(gs, g)
	}
	for i := range e.hostPats {
		if e.hostPats[i].p.match(host) {
			gs = addGrant(gs, e.roleGrants[e.hostPats[i].role])
		}
	}
	return gs
}

// andMappingApplies: every pattern matches at least one backend role (R-MAP-6).
func andMappingApplies(m *andMapping, backendRoles []string) bool {
	for i := range m.pats {
		found := false
		for _, br := range backendRoles {
			if m.pats[i].match(br) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// roleSet is the mapped roles of one request (R-MAP-8): ids index
// Evaluator.names, deduplicated and in name order; ext holds names outside
// that table, sorted and deduplicated.
type roleSet struct {
	ids []int32
	ext []string
}

// roleSetOfGrants merges the roles of gs. ext is copied: callers pass
// stack buffers, and the result may be stored anywhere.
func (e *Evaluator) roleSetOfGrants(gs []*grant, ext []string) roleSet {
	n := 0
	for _, g := range gs {
		n += len(g.refs)
	}
	var rs roleSet
	if n > 0 {
		_, rs.ids = e.appendRoles(gs, make([]string, 0, n), make([]int32, 0, n))
	}
	if len(ext) > 0 {
		rs.ext = make([]string, len(ext))
		copy(rs.ext, ext)
	}
	return rs
}

// appendNames appends the sorted, deduplicated role names of rs to dst.
func (e *Evaluator) appendNames(rs *roleSet, dst []string) []string {
	i, j := 0, 0
	for i < len(rs.ids) || j < len(rs.ext) {
		switch {
		case j == len(rs.ext) || (i < len(rs.ids) && e.names[rs.ids[i]] < rs.ext[j]):
			dst = append(dst, e.names[rs.ids[i]])
			i++
		default:
			dst = append(dst, rs.ext[j])
			j++
		}
	}
	return dst
}

// appendDecisionRoles appends the names of gs and ext, merged in order.
func (e *Evaluator) appendDecisionRoles(gs []*grant, ext []string, dst []string) []string {
	if len(ext) == 0 {
		dst, _ = e.appendRoles(gs, dst, nil)
		return dst
	}
	rs := e.roleSetOfGrants(gs, ext)
	return e.appendNames(&rs, dst)
}

// hasRoleName reports whether the mapped roles contain name.
func (e *Evaluator) hasRoleName(rs *roleSet, name string) bool {
	if id, ok := e.nameID[name]; ok {
		r := e.rank[id]
		i := sort.Search(len(rs.ids), func(k int) bool { return e.rank[rs.ids[k]] >= r })
		return i < len(rs.ids) && rs.ids[i] == id
	}
	_, found := slices.BinarySearch(rs.ext, name)
	return found
}

// MappedRoles returns the security roles of s (R-MAP-*): its direct roles,
// plus the roles its mappings give and/or its backend role names depending
// on plugins.security.roles_mapping_resolution. Sorted and deduplicated;
// names need not exist as roles (R-MAP-7).
func (e *Evaluator) MappedRoles(s *Subject) []string {
	var buf [grantsInline]*grant
	gs, ext := e.subjectGrants(s, buf[:0], nil)
	n := len(ext)
	for _, g := range gs {
		n += len(g.refs)
	}
	return e.appendDecisionRoles(gs, ext, make([]string, 0, n))
}

// roleSetOf builds a roleSet from role names (as returned by MappedRoles).
func (e *Evaluator) roleSetOf(names []string) roleSet {
	var rs roleSet
	for _, n := range names {
		if id, ok := e.nameID[n]; ok {
			rs.ids = append(rs.ids, id)
		} else {
			rs.ext = append(rs.ext, n)
		}
	}
	e.sortByRank(rs.ids)
	rs.ids = slices.Compact(rs.ids)
	slices.Sort(rs.ext)
	rs.ext = slices.Compact(rs.ext)
	return rs
}
