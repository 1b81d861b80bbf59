package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Evaluator answers authorization decisions for one configuration revision.
// It is built by Compile, immutable afterwards, and safe for concurrent use
// by any number of goroutines without locks.
type Evaluator struct {
	settings   Settings
	dyn        dynamicConfig
	resolution string
	groups     *actionGroups

	// names is the sorted union of role names and role-mapping names; a
	// mapped role is handled as its index in names, so sorting ids sorts
	// names. roles[i] is nil when names[i] has a mapping but no role.
	names  []string
	nameID map[string]int32
	roles  []*compiledRole

	// Role mappings (R-MAP-4..6), indexed for exact names with a fallback
	// list for wildcard and regex entries.
	byUser      map[string][]int32
	byBackend   map[string][]int32
	byHost      map[string][]int32
	userPats    []mappingPattern
	backendPats []mappingPattern
	hostPats    []mappingPattern
	andMappings []andMapping

	// Tenants (§7): defined tenant names, sorted.
	tenantNames []string
	tenantSet   map[string]struct{}

	systemIndices patternSet
	configIndex   string

	// numTemplates is the number of templated index patterns (ids are
	// 0..numTemplates-1), for the per-request render cache.
	numTemplates int

	warnings   []string
	provenance func(kind Kind, name string) any
}

// compiledRole is one role with its permissions in matchable form.
type compiledRole struct {
	name    string
	src     *Role
	cluster patternSet // expanded cluster_permissions (R-EVAL-5)
	index   []indexEntry
	// tenants are the defined tenants this role grants, → write (R-TEN-2/3).
	tenants         map[string]bool
	tenantTemplates []tenantTemplate
	// restricted is true when some index entry carries DLS, FLS or masking.
	restricted bool
}

// indexEntry is one compiled index_permissions entry.
type indexEntry struct {
	ordinal   int
	patterns  patternSet        // static index patterns
	templates []templatePattern // patterns with ${...}, rendered per request
	actions   patternSet        // expanded allowed_actions
	dls       string
	dlsTpl    bool
	fls       []string
	masked    []string
	// hasDLS etc. say whether the entry carries each restriction kind.
	hasDLS, hasFLS, hasMasked bool
}

// templatePattern is an index pattern with substitution variables (R-PAT-5).
type templatePattern struct {
	id  int
	raw string
}

// tenantTemplate is a tenant pattern starting with ${attr (R-TEN-2).
type tenantTemplate struct {
	raw   string
	write bool
}

// mappingPattern is a non-exact users/backend_roles/hosts entry.
type mappingPattern struct {
	p    pattern
	role int32
}

// andMapping is a mapping with and_backend_roles (R-MAP-6).
type andMapping struct {
	role int32
	pats []pattern
}

// dynamicConfig holds the config.yml `config.dynamic` keys that change
// decisions (R-MOD-8), defaults applied.
type dynamicConfig struct {
	DoNotFailOnForbidden      bool
	DoNotFailOnForbiddenEmpty bool
	HostsResolverMode         string
	FilteredAliasMode         string
	MultitenancyEnabled       bool
	PrivateTenantEnabled      bool
	DefaultTenant             string
	ServerUsername            string
	KibanaIndex               string
}

type dynamicKibanaJSON struct {
	MultitenancyEnabled  *bool   `json:"multitenancy_enabled"`
	PrivateTenantEnabled *bool   `json:"private_tenant_enabled"`
	DefaultTenant        *string `json:"default_tenant"`
	ServerUsername       *string `json:"server_username"`
	Index                *string `json:"index"`
}

type dynamicJSON struct {
	DoNotFailOnForbidden      *bool              `json:"do_not_fail_on_forbidden"`
	DoNotFailOnForbiddenEmpty *bool              `json:"do_not_fail_on_forbidden_empty"`
	HostsResolverMode         *string            `json:"hosts_resolver_mode"`
	FilteredAliasMode         *string            `json:"filtered_alias_mode"`
	Kibana                    *dynamicKibanaJSON `json:"kibana"`
	Dashboards                *dynamicKibanaJSON `json:"opensearch-dashboards"`
}

// parseDynamicConfig reads config.yml's `config` object ({"dynamic":{...}}).
// nil or empty means all defaults. `opensearch-dashboards` is accepted as an
// alias of `kibana`, which wins when both are present (§13.5).
func parseDynamicConfig(raw json.RawMessage) (dynamicConfig, error) {
	d := dynamicConfig{
		HostsResolverMode:    "ip-only",
		FilteredAliasMode:    "warn",
		MultitenancyEnabled:  true,
		PrivateTenantEnabled: true,
		ServerUsername:       "kibanaserver",
		KibanaIndex:          ".kibana",
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return d, nil
	}
	var doc struct {
		Dynamic *dynamicJSON `json:"dynamic"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return d, fmt.Errorf("parse security config: %w", err)
	}
	if doc.Dynamic == nil {
		return d, nil
	}
	v := doc.Dynamic
	setB := func(dst *bool, p *bool) {
		if p != nil {
			*dst = *p
		}
	}
	setS := func(dst *string, p *string) {
		if p != nil {
			*dst = *p
		}
	}
	setB(&d.DoNotFailOnForbidden, v.DoNotFailOnForbidden)
	setB(&d.DoNotFailOnForbiddenEmpty, v.DoNotFailOnForbiddenEmpty)
	setS(&d.HostsResolverMode, v.HostsResolverMode)
	setS(&d.FilteredAliasMode, v.FilteredAliasMode)
	for _, k := range []*dynamicKibanaJSON{v.Dashboards, v.Kibana} {
		if k == nil {
			continue
		}
		setB(&d.MultitenancyEnabled, k.MultitenancyEnabled)
		setB(&d.PrivateTenantEnabled, k.PrivateTenantEnabled)
		setS(&d.DefaultTenant, k.DefaultTenant)
		setS(&d.ServerUsername, k.ServerUsername)
		setS(&d.KibanaIndex, k.Index)
	}
	return d, nil
}

// Compile builds the Evaluator for cfg under node settings s. cfg must already
// contain the static entities (R-MOD-7) when they apply; cfg.SecurityConfig is
// config.yml's `config` object as JSON and may be nil (defaults). cfg is not
// retained beyond pointers into its role values, which must not be mutated
// afterwards (the Config contract: published configurations are immutable).
// Problems that the plugin only logs (action-group cycles, invalid regexes,
// an unknown resolution mode) become Warnings, not errors.
func Compile(cfg *Config, s Settings) (*Evaluator, error) {
	if cfg == nil {
		cfg = NewConfig()
	}
	dyn, err := parseDynamicConfig(cfg.SecurityConfig)
	if err != nil {
		return nil, err
	}
	e := &Evaluator{settings: s, dyn: dyn, configIndex: s.configIndex()}
	mode, ok := s.resolutionMode()
	e.resolution = mode
	if !ok {
		e.warnf("setting %s: unknown value %q, using %s", settingRolesMappingResolution, s.RolesMappingResolution, ResolutionMappingOnly)
	}
	switch e.dyn.HostsResolverMode {
	case "ip-only", "ip-hostname", "ip-hostname-lookup":
	default:
		e.warnf("config.dynamic.hosts_resolver_mode: unknown value %q, using ip-only", e.dyn.HostsResolverMode)
		e.dyn.HostsResolverMode = "ip-only"
	}

	e.groups = flattenActionGroups(cfg.ActionGroups)
	e.warnings = append(e.warnings, e.groups.warnings()...)

	// Defined tenants (R-TEN-1): tenants.yml ∪ global_tenant.
	e.tenantSet = make(map[string]struct{}, len(cfg.Tenants)+1)
	e.tenantSet[globalTenant] = struct{}{}
	for t := range cfg.Tenants {
		e.tenantSet[t] = struct{}{}
	}
	e.tenantNames = make([]string, 0, len(e.tenantSet))
	for t := range e.tenantSet {
		e.tenantNames = append(e.tenantNames, t)
	}
	slices.Sort(e.tenantNames)

	// Name table: roles ∪ mapping names, sorted.
	nameSet := make(map[string]struct{}, len(cfg.Roles)+len(cfg.RolesMapping))
	for n := range cfg.Roles {
		nameSet[n] = struct{}{}
	}
	for n := range cfg.RolesMapping {
		nameSet[n] = struct{}{}
	}
	e.names = make([]string, 0, len(nameSet))
	for n := range nameSet {
		e.names = append(e.names, n)
	}
	slices.Sort(e.names)
	e.nameID = make(map[string]int32, len(e.names))
	for i, n := range e.names {
		e.nameID[n] = int32(i)
	}

	e.roles = make([]*compiledRole, len(e.names))
	for i, n := range e.names {
		r, ok := cfg.Roles[n]
		if !ok {
			continue
		}
		e.roles[i] = e.compileRole(n, &r)
	}
	e.compileMappings(cfg.RolesMapping)

	if s.SystemIndicesEnabled {
		e.systemIndices = newPatternSet(s.SystemIndices)
		for _, p := range e.systemIndices.invalid {
			e.warnf("setting %s: invalid pattern %q: %v", settingSystemIndices, p.raw, p.err)
		}
	}
	return e, nil
}

func (e *Evaluator) warnf(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}

// Warnings returns the problems Compile found that do not stop evaluation:
// action-group cycles (R-AG-4), invalid regular expressions (R-PAT-4),
// unknown setting values. The slice must not be modified.
func (e *Evaluator) Warnings() []string { return e.warnings }

// WithProvenance returns an Evaluator sharing e's compiled state whose
// explain traces (Request.Explain) are annotated with fn(kind, name) for every
// role mapping, role and action group they cite, e.g. the event that last
// changed the entity. fn must be safe for concurrent use.
func (e *Evaluator) WithProvenance(fn func(kind Kind, name string) any) *Evaluator {
	c := *e
	c.provenance = fn
	return &c
}

// compileRole expands and compiles one role.
func (e *Evaluator) compileRole(name string, r *Role) *compiledRole {
	cr := &compiledRole{name: name, src: r}
	cr.cluster = e.compileActions(name, "cluster_permissions", r.ClusterPermissions)
	for i, ip := range r.IndexPermissions {
		ent := indexEntry{ordinal: i}
		var static []string
		for _, p := range ip.IndexPatterns {
			if isTemplate(p) {
				ent.templates = append(ent.templates, templatePattern{id: e.numTemplates, raw: p})
				e.numTemplates++
				continue
			}
			static = append(static, p)
		}
		ent.patterns = newPatternSet(static)
		for _, p := range ent.patterns.invalid {
			e.warnf("role %s: index_permissions[%d]: invalid index pattern %q: %v", name, i, p.raw, p.err)
		}
		ent.actions = e.compileActions(name, fmt.Sprintf("index_permissions[%d].allowed_actions", i), ip.AllowedActions)
		if strings.TrimSpace(ip.DLS) != "" {
			ent.dls, ent.hasDLS = ip.DLS, true
			ent.dlsTpl = isTemplate(ip.DLS)
		}
		ent.fls = nonBlank(ip.FLS)
		ent.masked = nonBlank(ip.MaskedFields)
		ent.hasFLS, ent.hasMasked = len(ent.fls) > 0, len(ent.masked) > 0
		if ent.hasDLS || ent.hasFLS || ent.hasMasked {
			cr.restricted = true
		}
		cr.index = append(cr.index, ent)
	}
	e.compileTenantPermissions(cr, r.TenantPermissions)
	return cr
}

func nonBlank(in []string) []string {
	var out []string
	for _, s := range in {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// compileActions expands a permission list through the action groups and
// compiles it (R-AG-2, R-AG-3).
func (e *Evaluator) compileActions(role, where string, entries []string) patternSet {
	ps := newPatternSet(e.groups.expand(entries))
	for _, p := range ps.invalid {
		e.warnf("role %s: %s: invalid action pattern %q: %v", role, where, p.raw, p.err)
	}
	return ps
}

// compileMappings indexes the role mappings (R-MAP-4..6).
func (e *Evaluator) compileMappings(mappings map[string]RoleMapping) {
	e.byUser = map[string][]int32{}
	e.byBackend = map[string][]int32{}
	e.byHost = map[string][]int32{}
	for id, name := range e.names {
		m, ok := mappings[name]
		if !ok {
			continue
		}
		rid := int32(id)
		add := func(field string, idx map[string][]int32, pats *[]mappingPattern, raws []string) {
			for _, raw := range raws {
				p := compilePattern(raw)
				switch p.kind {
				case patExact:
					if l := idx[raw]; len(l) == 0 || l[len(l)-1] != rid {
						idx[raw] = append(l, rid)
					}
				case patNone:
					if p.err != nil {
						e.warnf("role mapping %s: %s: invalid pattern %q: %v", name, field, raw, p.err)
					}
				default:
					*pats = append(*pats, mappingPattern{p: p, role: rid})
				}
			}
		}
		add("users", e.byUser, &e.userPats, m.Users)
		add("backend_roles", e.byBackend, &e.backendPats, m.BackendRoles)
		add("hosts", e.byHost, &e.hostPats, m.Hosts)
		if len(m.AndBackendRoles) > 0 {
			am := andMapping{role: rid}
			for _, raw := range m.AndBackendRoles {
				p := compilePattern(raw)
				if p.err != nil {
					e.warnf("role mapping %s: and_backend_roles: invalid pattern %q: %v", name, raw, p.err)
				}
				am.pats = append(am.pats, p)
			}
			e.andMappings = append(e.andMappings, am)
		}
	}
}

// compileTenantPermissions precomputes the defined tenants each entry grants
// (R-TEN-2, R-TEN-3).
func (e *Evaluator) compileTenantPermissions(cr *compiledRole, tps []TenantPermission) {
	for i, tp := range tps {
		write := slices.Contains(e.groups.expand(tp.AllowedActions), tenantWriteAction)
		for _, raw := range tp.TenantPatterns {
			if strings.HasPrefix(raw, "${attr") {
				cr.tenantTemplates = append(cr.tenantTemplates, tenantTemplate{raw: raw, write: write})
				continue
			}
			p := compilePattern(raw)
			if p.err != nil {
				e.warnf("role %s: tenant_permissions[%d]: invalid tenant pattern %q: %v", cr.name, i, raw, p.err)
			}
			for _, t := range e.tenantNames {
				if !p.match(t) {
					continue
				}
				if cr.tenants == nil {
					cr.tenants = map[string]bool{}
				}
				cr.tenants[t] = cr.tenants[t] || write
			}
		}
	}
}
