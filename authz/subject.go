package authz

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Subject is who asks (R-MAP-1): the authenticated user, its backend roles, its
// directly assigned security roles and attributes, the requested tenant and the
// caller's address. A Subject is read, never modified, by the Evaluator.
type Subject struct {
	// Name is the user name.
	Name string
	// BackendRoles are the backend roles in the order the authenticator added
	// them; the order only matters for the 403 text (R-ERR-3).
	BackendRoles []string
	// SecurityRoles are roles set directly (an internal user's
	// opendistro_security_roles, R-MAP-2).
	SecurityRoles []string
	// Attributes are the user attributes, keys with their source prefix, e.g.
	// "attr.internal.dept" (R-PAT-6).
	Attributes map[string]string
	// RequestedTenant is the securitytenant header value; "" means none and
	// prints as null.
	RequestedTenant string
	// RemoteIP is the caller's IP address as a string, matched by role mapping
	// hosts (R-MAP-5).
	RemoteIP string
	// RemoteHost is an optional host name supplied by the caller (R-MAP-5);
	// authzd never resolves names itself.
	RemoteHost string
}

// UserString renders the subject the way the plugin's User.toString does
// (R-ERR-1): "User [name=<n>, backend_roles=[<b1>, <b2>], requestedTenant=<t|null>]",
// backend roles in java.util.HashSet iteration order (R-ERR-3).
func UserString(s *Subject) string {
	var b strings.Builder
	n := len("User [name=, backend_roles=[], requestedTenant=null]") + len(s.Name) + len(s.RequestedTenant)
	for _, r := range s.BackendRoles {
		n += len(r) + 2
	}
	b.Grow(n)
	writeUserString(&b, s)
	return b.String()
}

func writeUserString(b *strings.Builder, s *Subject) {
	b.WriteString("User [name=")
	b.WriteString(s.Name)
	b.WriteString(", backend_roles=[")
	var buf [16]string
	for i, r := range javaHashSetOrder(s.BackendRoles, buf[:0]) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r)
	}
	b.WriteString("], requestedTenant=")
	if s.RequestedTenant == "" {
		b.WriteString("null")
	} else {
		b.WriteString(s.RequestedTenant)
	}
	b.WriteByte(']')
}

// javaStringHash is Java's String.hashCode over the UTF-16 code units of s
// (h = 31*h + c, 32-bit wrap-around). Invalid UTF-8 bytes count as U+FFFD.
func javaStringHash(s string) int32 {
	var h int32
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaHashSetOrder returns the distinct elements of in, in the iteration order
// of a java.util.HashSet<String> built by adding them one by one: bucket =
// (h ^ h>>>16) & (cap-1), capacity 16 doubling when the size exceeds 0.75×cap
// (and when a bucket would exceed 8 entries while cap < 64, as HashMap.treeifyBin
// does), same-bucket entries in insertion order. Java's resize keeps the relative
// order of entries that share a bucket, so the result only depends on the final
// capacity. Tree bins (≥ 9 colliding names with cap ≥ 64) are not modelled.
// The result is appended to dst.
func javaHashSetOrder(in []string, dst []string) []string {
	switch len(in) {
	case 0:
		return dst
	case 1:
		return append(dst, in[0])
	}
	// Deduplicate keeping the first occurrence, and find the final capacity.
	start := len(dst)
	capacity := 16
	for _, s := range in {
		dup := false
		for _, t := range dst[start:] {
			if t == s {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		dst = append(dst, s)
		size := len(dst) - start
		if capacity < 64 {
			// HashMap.putVal: a bucket that already held 8 entries triggers
			// treeifyBin, which resizes while the table is smaller than 64.
			b := javaBucket(s, capacity)
			same := 0
			for _, t := range dst[start : len(dst)-1] {
				if javaBucket(t, capacity) == b {
					same++
				}
			}
			if same >= 8 {
				capacity *= 2
			}
		}
		if float64(size) > 0.75*float64(capacity) {
			capacity *= 2
		}
	}
	set := dst[start:]
	// Stable sort by bucket: insertion order is kept inside a bucket.
	for i := 1; i < len(set); i++ {
		v := set[i]
		bv := javaBucket(v, capacity)
		j := i
		for j > 0 && javaBucket(set[j-1], capacity) > bv {
			set[j] = set[j-1]
			j--
		}
		set[j] = v
	}
	return dst
}

func javaBucket(s string, capacity int) int {
	h := uint32(javaStringHash(s))
	return int((h ^ (h >> 16)) & uint32(capacity-1))
}

// roleSet is the mapped roles of one request (R-MAP-8): ids index
// Evaluator.names (sorted and deduplicated, so also sorted by name); ext holds
// names outside that table (direct roles or backend-role names that neither
// exist as roles nor have a mapping), sorted and deduplicated.
type roleSet struct {
	ids []int32
	ext []string
}

// resolveRoles computes the mapped roles of s (R-MAP-2..6) into rs, reusing
// rs's slices. It allocates only when a buffer has to grow.
func (e *Evaluator) resolveRoles(s *Subject, rs *roleSet) {
	rs.ids, rs.ext = e.resolveRoleIDs(s, rs.ids[:0], rs.ext[:0])
}

// resolveRoleIDs appends the mapped roles of s to ids and ext and returns
// them sorted and deduplicated. It works on local slices (not through a
// pointer) so that callers' stack buffers stay on the stack.
func (e *Evaluator) resolveRoleIDs(s *Subject, ids []int32, ext []string) ([]int32, []string) {
	for _, r := range s.SecurityRoles {
		if id, ok := e.nameID[r]; ok {
			ids = append(ids, id)
		} else {
			ext = append(ext, r)
		}
	}
	if e.resolution != ResolutionMappingOnly {
		for _, br := range s.BackendRoles {
			if id, ok := e.nameID[br]; ok {
				ids = append(ids, id)
			} else {
				ext = append(ext, br)
			}
		}
	}
	if e.resolution != ResolutionBackendRolesOnly {
		ids = append(ids, e.byUser[s.Name]...)
		for i := range e.userPats {
			if e.userPats[i].p.match(s.Name) {
				ids = append(ids, e.userPats[i].role)
			}
		}
		for _, br := range s.BackendRoles {
			ids = append(ids, e.byBackend[br]...)
			for i := range e.backendPats {
				if e.backendPats[i].p.match(br) {
					ids = append(ids, e.backendPats[i].role)
				}
			}
		}
		ids = e.mapHost(s.RemoteIP, ids)
		if s.RemoteHost != "" && e.dyn.HostsResolverMode != "ip-only" {
			ids = e.mapHost(s.RemoteHost, ids)
		}
		for i := range e.andMappings {
			if andMappingApplies(&e.andMappings[i], s.BackendRoles) {
				ids = append(ids, e.andMappings[i].role)
			}
		}
	}
	if len(ids) > 1 {
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	if len(ext) > 1 {
		slices.Sort(ext)
		ext = slices.Compact(ext)
	}
	return ids, ext
}

func (e *Evaluator) mapHost(host string, ids []int32) []int32 {
	if host == "" {
		return ids
	}
	ids = append(ids, e.byHost[host]...)
	for i := range e.hostPats {
		if e.hostPats[i].p.match(host) {
			ids = append(ids, e.hostPats[i].role)
		}
	}
	return ids
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

// hasRoleName reports whether the mapped roles contain name.
func (e *Evaluator) hasRoleName(rs *roleSet, name string) bool {
	if id, ok := e.nameID[name]; ok {
		_, found := slices.BinarySearch(rs.ids, id)
		return found
	}
	_, found := slices.BinarySearch(rs.ext, name)
	return found
}

// MappedRoles returns the security roles of s (R-MAP-*): its direct roles,
// plus the roles its mappings give and/or its backend role names depending
// on plugins.security.roles_mapping_resolution. Sorted and deduplicated;
// names need not exist as roles (R-MAP-7).
func (e *Evaluator) MappedRoles(s *Subject) []string {
	var rs roleSet
	e.resolveRoles(s, &rs)
	return e.appendNames(&rs, make([]string, 0, len(rs.ids)+len(rs.ext)))
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
	slices.Sort(rs.ids)
	rs.ids = slices.Compact(rs.ids)
	slices.Sort(rs.ext)
	rs.ext = slices.Compact(rs.ext)
	return rs
}

// renderTemplate applies the substitution variables of R-PAT-5 in order:
// user name, backend roles, security roles, then every attribute (keys in
// sorted order) as ${k} and ${k with '.' → '_'}. Unknown variables stay as
// they are (R-PAT-8); values are inserted verbatim (R-PAT-7).
func renderTemplate(raw string, s *Subject, securityRoles []string) string {
	if !strings.Contains(raw, "${") {
		return raw
	}
	out := raw
	if strings.Contains(out, "${user") {
		out = strings.ReplaceAll(out, "${user.name}", s.Name)
		out = strings.ReplaceAll(out, "${user_name}", s.Name)
		if strings.Contains(out, "${user.roles}") || strings.Contains(out, "${user_roles}") {
			q := quotedList(s.BackendRoles)
			out = strings.ReplaceAll(out, "${user.roles}", q)
			out = strings.ReplaceAll(out, "${user_roles}", q)
		}
		if strings.Contains(out, "${user.securityRoles}") || strings.Contains(out, "${user_securityRoles}") {
			q := quotedList(securityRoles)
			out = strings.ReplaceAll(out, "${user.securityRoles}", q)
			out = strings.ReplaceAll(out, "${user_securityRoles}", q)
		}
	}
	if len(s.Attributes) > 0 && strings.Contains(out, "${") {
		keys := make([]string, 0, len(s.Attributes))
		for k := range s.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := s.Attributes[k]
			out = strings.ReplaceAll(out, "${"+k+"}", v)
			if alt := strings.ReplaceAll(k, ".", "_"); alt != k {
				out = strings.ReplaceAll(out, "${"+alt+"}", v)
			}
		}
	}
	return out
}

// quotedList renders `"a","b"` (R-PAT-5 step 2/3).
func quotedList(l []string) string {
	var b strings.Builder
	for i, s := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	return b.String()
}
