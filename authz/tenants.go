package authz

import (
	"strconv"
	"strings"
)

const (
	// globalTenant is the static global tenant's name (R-TEN-1).
	globalTenant = "global_tenant"
	// privateTenant selects the user's private tenant (R-TEN-1).
	privateTenant = "__user__"
	// tenantWriteAction is the literal that makes a tenant entry read-write
	// (R-TEN-3: string equality, not a pattern match).
	tenantWriteAction = "kibana:saved_objects/*/write"
)

// Tenant access levels (R-TEN-5).
const (
	TenantAccessWrite = "WRITE"
	TenantAccessRead  = "READ"
	TenantAccessNone  = "NONE"
)

// tenantReadOnlyActions are the actions a read-only tenant allows (R-TEN-6).
var tenantReadOnlyActions = [...]string{
	"indices:admin/get",
	"indices:data/read/get",
	"indices:data/read/search",
	"indices:data/read/msearch",
	"indices:data/read/mget",
	"indices:data/read/mget[shard]",
}

func isTenantReadOnlyAction(action string) bool {
	for _, a := range tenantReadOnlyActions {
		if a == action {
			return true
		}
	}
	return false
}

// Tenants returns the tenant map of s (R-TEN-4): tenant name → true for
// read-write, false for read-only. It always holds the user's private tenant
// (its name → true). mappedRoles are the subject's mapped roles as returned
// by MappedRoles. This is authinfo's and account's `tenants` object.
func (e *Evaluator) Tenants(s *Subject, mappedRoles []string) map[string]bool {
	rs := e.roleSetOf(mappedRoles)
	return e.tenantMap(s, &rs)
}

func (e *Evaluator) tenantMap(s *Subject, rs *roleSet) map[string]bool {
	m := map[string]bool{s.Name: true}
	var names []string // mapped role names, only for ${user.securityRoles}
	for _, id := range rs.ids {
		r := e.roles[id]
		if r == nil {
			continue
		}
		for t, w := range r.tenants {
			if t == s.Name {
				continue
			}
			m[t] = m[t] || w
		}
		for _, tt := range r.tenantTemplates {
			if names == nil && strings.Contains(tt.raw, "${user") {
				names = e.appendNames(rs, nil)
			}
			t := renderTemplate(tt.raw, s, names)
			if _, defined := e.tenantSet[t]; !defined || t == s.Name {
				continue
			}
			m[t] = m[t] || tt.write
		}
	}
	if _, ok := m[globalTenant]; !ok && (e.hasRoleName(rs, "kibana_user") || e.hasRoleName(rs, "all_access")) {
		m[globalTenant] = true
	}
	return m
}

// tenantAccess is R-TEN-5 over a tenant map.
func tenantAccess(m map[string]bool, tenant string) string {
	switch tenant {
	case "":
		tenant = globalTenant
	case privateTenant:
		return TenantAccessWrite
	}
	w, ok := m[tenant]
	switch {
	case !ok:
		return TenantAccessNone
	case w:
		return TenantAccessWrite
	}
	return TenantAccessRead
}

// TenantIndexName returns the dashboards index of tenant t (R-TEN-7):
// <kibanaIndex>_<String.hashCode(t)>_<t lower-cased, only [a-z0-9] kept>.
func TenantIndexName(kibanaIndex, tenant string) string {
	var b strings.Builder
	b.WriteString(kibanaIndex)
	b.WriteByte('_')
	b.WriteString(strconv.FormatInt(int64(javaStringHash(tenant)), 10))
	b.WriteByte('_')
	for _, r := range strings.ToLower(tenant) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
