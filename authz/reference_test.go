package authz

import (
	"regexp"
	"slices"
	"sort"
	"strings"
)

// refEvaluator is a deliberately naive evaluator written straight from
// spec/opensearch-security.md, to check the compiled Evaluator against: it
// loops over every role and mapping of the configuration on every request,
// expands action groups by recursion with a visited set, and matches
// patterns with a recursive glob matcher. It shares nothing with the engine
// but UserString (the Java HashSet order has its own tests).
type refEvaluator struct {
	cfg *Config
	s   Settings
	dyn genDynamic
}

// refDecision is what the reference decides.
type refDecision struct {
	allowed   bool
	roles     []string
	missing   []string
	reason    string
	effective []string // nil unless reduced
	// restrictions per index: only indices with some restriction.
	restrictions map[string]vectorDLS
	tenants      map[string]bool
	access       string
}

// refMatch is R-PAT-1..4.
func refMatch(p, s string) bool {
	switch {
	case strings.TrimSpace(p) == "":
		return false
	case p == "*":
		return true
	case len(p) > 1 && p[0] == '/' && p[len(p)-1] == '/':
		re, err := regexp.Compile("^(?:" + p[1:len(p)-1] + ")$")
		return err == nil && re.MatchString(s)
	case strings.ContainsAny(p, "*?"):
		return refGlob([]rune(p), []rune(s))
	}
	return p == s
}

// refGlob is R-PAT-2 by recursion: '*' any sequence, '?' one character.
func refGlob(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refGlob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && refGlob(p[1:], s[1:])
	}
	return len(s) > 0 && s[0] == p[0] && refGlob(p[1:], s[1:])
}

// expand is R-AG-2/4: every entry plus, for group names, their entries,
// recursively, each group visited once.
func (r *refEvaluator) expand(entries []string) []string {
	out := map[string]bool{}
	visited := map[string]bool{}
	var visit func(string)
	visit = func(x string) {
		out[x] = true
		g, ok := r.cfg.ActionGroups[x]
		if !ok || visited[x] {
			return
		}
		visited[x] = true
		for _, y := range g.AllowedActions {
			visit(y)
		}
	}
	for _, x := range entries {
		visit(x)
	}
	l := make([]string, 0, len(out))
	for x := range out {
		l = append(l, x)
	}
	sort.Strings(l)
	return l
}

// grants is R-EVAL-5/7 with R-EVAL-12 for one permission list.
func (r *refEvaluator) grants(entries []string, action string) bool {
	explicit := action == "system:admin/system_index" || strings.HasPrefix(action, "restapi:admin/")
	for _, p := range r.expand(entries) {
		if explicit && p == "*" {
			continue
		}
		if refMatch(p, action) {
			return true
		}
	}
	return false
}

func (r *refEvaluator) mode() string {
	switch m := strings.ToUpper(strings.TrimSpace(r.s.RolesMappingResolution)); m {
	case "BACKENDROLES_ONLY", "BOTH":
		return m
	}
	return "MAPPING_ONLY"
}

// mappedRoles is R-MAP-2..8.
func (r *refEvaluator) mappedRoles(s *Subject) []string {
	set := map[string]bool{}
	for _, x := range s.SecurityRoles {
		set[x] = true
	}
	mode := r.mode()
	if mode != "MAPPING_ONLY" {
		for _, b := range s.BackendRoles {
			set[b] = true
		}
	}
	if mode != "BACKENDROLES_ONLY" {
		anyBackend := func(p string) bool {
			for _, b := range s.BackendRoles {
				if refMatch(p, b) {
					return true
				}
			}
			return false
		}
		hosts := []string{}
		if s.RemoteIP != "" {
			hosts = append(hosts, s.RemoteIP)
		}
		if s.RemoteHost != "" && r.dyn.HostsMode != "ip-only" {
			hosts = append(hosts, s.RemoteHost)
		}
		for name, m := range r.cfg.RolesMapping {
			applies := false
			for _, p := range m.Users {
				applies = applies || refMatch(p, s.Name)
			}
			for _, p := range m.BackendRoles {
				applies = applies || anyBackend(p)
			}
			for _, p := range m.Hosts {
				for _, h := range hosts {
					applies = applies || refMatch(p, h)
				}
			}
			if len(m.AndBackendRoles) > 0 {
				all := true
				for _, p := range m.AndBackendRoles {
					all = all && anyBackend(p)
				}
				applies = applies || all
			}
			if applies {
				set[name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// render is R-PAT-5 in the spec's order.
func refRender(raw string, s *Subject, roles []string) string {
	quoted := func(l []string) string {
		q := make([]string, len(l))
		for i, x := range l {
			q[i] = `"` + x + `"`
		}
		return strings.Join(q, ",")
	}
	out := raw
	out = strings.ReplaceAll(out, "${user.name}", s.Name)
	out = strings.ReplaceAll(out, "${user_name}", s.Name)
	out = strings.ReplaceAll(out, "${user.roles}", quoted(s.BackendRoles))
	out = strings.ReplaceAll(out, "${user_roles}", quoted(s.BackendRoles))
	out = strings.ReplaceAll(out, "${user.securityRoles}", quoted(roles))
	out = strings.ReplaceAll(out, "${user_securityRoles}", quoted(roles))
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = strings.ReplaceAll(out, "${"+k+"}", s.Attributes[k])
		out = strings.ReplaceAll(out, "${"+strings.ReplaceAll(k, ".", "_")+"}", s.Attributes[k])
	}
	return out
}

// entryMatches is R-EVAL-7: a pattern (rendered) matches the index or one
// of its parents.
func (r *refEvaluator) entryMatches(ip *IndexPermission, idx string, req *Request, roles []string) bool {
	names := append([]string{idx}, req.IndexParents[idx]...)
	for _, p := range ip.IndexPatterns {
		rp := refRender(p, &req.Subject, roles)
		for _, n := range names {
			if refMatch(rp, n) {
				return true
			}
		}
	}
	return false
}

// cellGranted: some mapped role has an entry granting action on idx.
func (r *refEvaluator) cellGranted(roles []string, req *Request, idx, action string) bool {
	for _, name := range roles {
		role, ok := r.cfg.Roles[name]
		if !ok {
			continue
		}
		for i := range role.IndexPermissions {
			ip := &role.IndexPermissions[i]
			if r.grants(ip.AllowedActions, action) && r.entryMatches(ip, idx, req, roles) {
				return true
			}
		}
	}
	return false
}

func (r *refEvaluator) clusterGranted(roles []string, action string) bool {
	for _, name := range roles {
		if role, ok := r.cfg.Roles[name]; ok && r.grants(role.ClusterPermissions, action) {
			return true
		}
	}
	return false
}

func refRewrite(a string) string {
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

// refIsCluster is R-EVAL-4.
func refIsCluster(a string) bool {
	for _, p := range []string{"cluster:", "indices:admin/template/", "indices:admin/index_template/", "indices:data/read/scroll", "indices:data/read/msearch"} {
		if strings.HasPrefix(a, p) {
			return true
		}
	}
	return slices.Contains([]string{"indices:data/write/bulk", "indices:data/read/mget", "indices:data/read/mtv", "indices:data/write/reindex", "indices:data/read/search/template/render"}, a)
}

// tenantMap is R-TEN-1..4.
func (r *refEvaluator) tenantMap(s *Subject, roles []string) map[string]bool {
	defined := map[string]bool{"global_tenant": true}
	for t := range r.cfg.Tenants {
		defined[t] = true
	}
	m := map[string]bool{s.Name: true}
	for _, name := range roles {
		role, ok := r.cfg.Roles[name]
		if !ok {
			continue
		}
		for _, tp := range role.TenantPermissions {
			write := slices.Contains(r.expand(tp.AllowedActions), "kibana:saved_objects/*/write")
			for _, p := range tp.TenantPatterns {
				if strings.HasPrefix(p, "${attr") {
					if t := refRender(p, s, roles); defined[t] && t != s.Name {
						m[t] = m[t] || write
					}
					continue
				}
				for t := range defined {
					if t != s.Name && refMatch(p, t) {
						m[t] = m[t] || write
					}
				}
			}
		}
	}
	if _, ok := m["global_tenant"]; !ok && (slices.Contains(roles, "kibana_user") || slices.Contains(roles, "all_access")) {
		m["global_tenant"] = true
	}
	return m
}

func refAccess(m map[string]bool, tenant string) string {
	switch tenant {
	case "":
		tenant = "global_tenant"
	case "__user__":
		return "WRITE"
	}
	w, ok := m[tenant]
	switch {
	case !ok:
		return "NONE"
	case w:
		return "WRITE"
	}
	return "READ"
}

func (r *refEvaluator) isSystem(idx string) bool {
	return r.s.SystemIndicesEnabled && slices.ContainsFunc(r.s.SystemIndices, func(p string) bool { return refMatch(p, idx) })
}

func (r *refEvaluator) configIndex() string {
	if r.s.ConfigIndexName != "" {
		return r.s.ConfigIndexName
	}
	return ".opendistro_security"
}

// decide applies §5-§8 in the vectors' order.
func (r *refEvaluator) decide(req *Request) (d refDecision) {
	s := &req.Subject
	d = refDecision{roles: r.mappedRoles(s)}
	defer func() {
		if !d.allowed {
			d.reason = "no permissions for [" + strings.Join(d.missing, ", ") + "] and " + UserString(s)
		}
	}()
	if req.AdminCert {
		d.allowed = true
		return d
	}
	if req.Action == "" && req.Tenant != "" {
		r.tenantQuestion(req, &d)
		return d
	}
	action := refRewrite(req.Action)
	if action == "indices:data/write/bulk" && s.RequestedTenant == "" {
		r.clusterCheck(&d, action)
		return d
	}
	indices := req.Indices
	if len(indices) > 0 || req.AllIndices {
		var ok bool
		if indices, ok = r.systemGate(req, &d, action); !ok {
			return d
		}
	}
	if refIsCluster(action) {
		if !r.clusterCheck(&d, action) {
			return d
		}
		restore := r.s.CheckSnapshotRestoreWritePrivileges == nil || *r.s.CheckSnapshotRestoreWritePrivileges
		if strings.HasPrefix(action, "cluster:admin/snapshot/restore") && restore && len(indices) > 0 {
			r.indexCheck(req, &d, indices, []string{"indices:admin/create", "indices:data/write/index"}, false)
		}
		return d
	}
	if r.tenantGate(req, &d, action, indices) {
		return d
	}
	required := []string{action}
	add := func(a string) {
		if !slices.Contains(required, a) {
			required = append(required, a)
		}
	}
	switch action {
	case "indices:data/write/bulk[s]":
		for _, it := range req.BulkItems {
			switch it {
			case "index", "create":
				add("indices:data/write/index")
			case "delete":
				add("indices:data/write/delete")
			case "update":
				add("indices:data/write/update")
			}
		}
	case "indices:admin/shards/search_shards":
		add("indices:data/read/search")
	case "indices:admin/aliases":
		if req.RemovesIndex {
			add("indices:admin/delete")
		}
	case "indices:admin/create":
		if req.CreateWithAliases {
			add("indices:admin/aliases")
		}
	}
	dnfof := strings.HasPrefix(action, "indices:data/read/") || strings.HasPrefix(action, "indices:admin/mappings/fields/get") ||
		slices.Contains([]string{"indices:admin/shards/search_shards", "indices:admin/resolve/index", "indices:monitor/settings/get", "indices:monitor/stats", "indices:admin/aliases/get"}, action)
	r.indexCheck(req, &d, indices, required, dnfof)
	return d
}

func (r *refEvaluator) clusterCheck(d *refDecision, action string) bool {
	d.allowed = r.clusterGranted(d.roles, action)
	if !d.allowed {
		d.missing = []string{action}
	}
	return d.allowed
}

// systemGate is R-SYS-1..5.
func (r *refEvaluator) systemGate(req *Request, d *refDecision, action string) ([]string, bool) {
	anySecurity, anySystem := false, false
	for _, idx := range req.Indices {
		if idx == r.configIndex() {
			anySecurity = true
		} else if r.isSystem(idx) {
			anySystem = true
		}
	}
	deny := func() ([]string, bool) {
		d.allowed, d.missing = false, []string{}
		return nil, false
	}
	if r.s.SystemIndexPermissionEnabled {
		if anySecurity {
			return deny()
		}
		if anySystem {
			for _, idx := range req.Indices {
				if !r.cellGranted(d.roles, req, idx, "system:admin/system_index") {
					return deny()
				}
			}
		}
	}
	writeLike := false
	for _, p := range []string{"indices:data/write", "indices:admin/delete", "indices:admin/mapping/delete", "indices:admin/mapping/put", "indices:admin/freeze", "indices:admin/settings/update"} {
		writeLike = writeLike || strings.HasPrefix(action, p)
	}
	writeLike = writeLike || action == "indices:admin/aliases"
	if !r.s.RestoreSecurityIndexEnabled {
		writeLike = writeLike || strings.HasPrefix(action, "indices:admin/close") || strings.HasPrefix(action, "cluster:admin/snapshot/restore")
	}
	if writeLike {
		if req.AllIndices && !r.s.FilterSecurityIndexFromAllRequests {
			return deny()
		}
		if !r.s.SystemIndexPermissionEnabled && (anySystem || anySecurity) {
			return deny()
		}
	}
	if anySecurity && req.AllIndices && r.s.FilterSecurityIndexFromAllRequests {
		var kept []string
		for _, idx := range req.Indices {
			if idx != r.configIndex() {
				kept = append(kept, idx)
			}
		}
		if kept == nil {
			kept = []string{}
		}
		d.effective = kept
		return kept, true
	}
	return req.Indices, true
}

// tenantGate is R-TEN-6; true when the decision is final.
func (r *refEvaluator) tenantGate(req *Request, d *refDecision, action string, indices []string) bool {
	s := &req.Subject
	if r.dyn.MultitenancyOff || s.Name == "kibanaserver" || len(indices) == 0 {
		return false
	}
	deny := func() bool {
		d.allowed, d.missing = false, []string{action}
		return true
	}
	tenant := s.RequestedTenant
	if tenant == "__user__" {
		if r.dyn.PrivateDisabled {
			return deny()
		}
		tenant = s.Name
	}
	onlyKibana := !slices.ContainsFunc(indices, func(i string) bool { return i != ".kibana" })
	readOnly := slices.Contains([]string{"indices:admin/get", "indices:data/read/get", "indices:data/read/search", "indices:data/read/msearch", "indices:data/read/mget", "indices:data/read/mget[shard]"}, action)
	check := func(t string) bool {
		if t == s.Name && s.RequestedTenant == "__user__" {
			return true
		}
		w, ok := r.tenantMap(s, d.roles)[t]
		return ok && (w || readOnly)
	}
	if tenant == "" {
		if onlyKibana && !check("global_tenant") {
			return deny()
		}
		return false
	}
	tidx := TenantIndexName(".kibana", tenant)
	if len(indices) == 1 && strings.HasPrefix(indices[0], tidx) {
		if !check(tenant) {
			return deny()
		}
		d.allowed = true
		return true
	}
	if onlyKibana {
		if !check(tenant) {
			return deny()
		}
		d.allowed, d.effective = true, []string{tidx}
		return true
	}
	return false
}

// indexCheck is R-EVAL-6..10 and R-DLS-1..4.
func (r *refEvaluator) indexCheck(req *Request, d *refDecision, indices, required []string, dnfof bool) {
	if len(indices) == 0 {
		if !req.AllIndices {
			d.allowed = true
			return
		}
		d.allowed = true
		for _, a := range required {
			found := false
			for _, name := range d.roles {
				role, ok := r.cfg.Roles[name]
				if !ok {
					continue
				}
				for _, ip := range role.IndexPermissions {
					if slices.Contains(ip.IndexPatterns, "*") && r.grants(ip.AllowedActions, a) {
						found = true
					}
				}
			}
			if !found {
				d.allowed = false
				d.missing = append(d.missing, a)
			}
		}
		return
	}
	var okIdx []string
	missing := map[string]bool{}
	for _, idx := range indices {
		ok := true
		for _, a := range required {
			if !r.cellGranted(d.roles, req, idx, a) {
				ok = false
				missing[a] = true
			}
		}
		if ok {
			okIdx = append(okIdx, idx)
		}
	}
	if len(missing) == 0 {
		d.allowed = true
		r.collect(req, d, indices)
		return
	}
	if dnfof && r.dyn.DNFOF && (len(okIdx) > 0 || r.dyn.DNFOFEmpty) {
		d.allowed = true
		if okIdx == nil {
			okIdx = []string{}
		}
		d.effective = okIdx
		r.collect(req, d, okIdx)
		return
	}
	d.allowed = false
	for _, a := range required {
		if missing[a] {
			d.missing = append(d.missing, a)
		}
	}
}

// collect is R-DLS-1..4.
func (r *refEvaluator) collect(req *Request, d *refDecision, indices []string) {
	for _, idx := range indices {
		var dls, fls, masked []string
		var noDLS, noFLS, noMasked bool
		for _, name := range d.roles {
			role, ok := r.cfg.Roles[name]
			if !ok {
				continue
			}
			for i := range role.IndexPermissions {
				ip := &role.IndexPermissions[i]
				if !r.entryMatches(ip, idx, req, d.roles) {
					continue
				}
				if strings.TrimSpace(ip.DLS) != "" {
					dls = append(dls, refRender(ip.DLS, &req.Subject, d.roles))
				} else {
					noDLS = true
				}
				nb := func(l []string) []string {
					var out []string
					for _, x := range l {
						if strings.TrimSpace(x) != "" {
							out = append(out, x)
						}
					}
					return out
				}
				if f := nb(ip.FLS); len(f) > 0 {
					fls = append(fls, f...)
				} else {
					noFLS = true
				}
				if m := nb(ip.MaskedFields); len(m) > 0 {
					masked = append(masked, m...)
				} else {
					noMasked = true
				}
			}
		}
		if r.s.DfmEmptyOverridesAll {
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
		if len(dls)+len(fls)+len(masked) == 0 {
			continue
		}
		set := func(l []string) []string {
			if len(l) == 0 {
				return nil
			}
			sort.Strings(l)
			return slices.Compact(l)
		}
		if d.restrictions == nil {
			d.restrictions = map[string]vectorDLS{}
		}
		d.restrictions[idx] = vectorDLS{Queries: set(dls), FLS: set(fls), MaskedFields: set(masked)}
	}
}

// tenantQuestion is R-TEN-5 and R-TEN-8.
func (r *refEvaluator) tenantQuestion(req *Request, d *refDecision) {
	s := &req.Subject
	d.tenants = r.tenantMap(s, d.roles)
	if req.Tenant == "__user__" && r.dyn.PrivateDisabled {
		d.access, d.allowed, d.missing = "NONE", false, []string{}
		return
	}
	d.access = refAccess(d.tenants, req.Tenant)
	switch {
	case r.dyn.MultitenancyOff || s.Name == "kibanaserver":
		d.allowed = true
	case strings.EqualFold(req.TenantAccess, "write"):
		d.allowed = d.access == "WRITE"
	default:
		d.allowed = d.access != "NONE"
	}
}
