package authz

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Evaluator answers authorization decisions for one configuration revision.
// It is built by Compile (or Update), immutable afterwards, and safe for
// concurrent use by any number of goroutines without locks. Its only
// mutable part is the action memo, which is insert-only and lock-free.
type Evaluator struct {
	settings       Settings
	dyn            dynamicConfig
	securityConfig json.RawMessage // as compiled, so Update can tell a change
	resolution     string
	// byNames and byMappings are resolution (R-MAP-3) as booleans: backend
	// role names count as roles; role mappings count.
	byNames, byMappings bool
	groups              *actionGroups
	tab                 *tables
	memo                *actionMemo

	// names holds every role name and role-mapping name; a role is handled
	// by its index (id) in names. Ids are not in name order (Update appends
	// new names); rank gives the order: rank[a] < rank[b] iff
	// names[a] < names[b]. Compile spaces ranks 2^32 apart so that Update
	// can insert a name between two others by halving the gap. sorted is
	// every id in name order. A name whose role and mapping are both gone
	// stays (a hole): it resolves to the same output as an unknown name.
	names  []string
	nameID map[string]int32
	rank   []uint64
	sorted []int32
	// roles[id] is nil when names[id] has no role; mappings[id] nil when it
	// has no mapping; roleGrants[id] is the grant of the role alone.
	roles      []*compiledRole
	mappings   []*RoleMapping
	roleGrants []*grant

	// Role mappings (R-MAP-4..6): exact names map to grants (the merged
	// grant of every role the key maps to); wildcard and regex entries and
	// and_backend_roles are scanned per request.
	userKeys, backendKeys, hostKeys *keyTable
	userPats                        []mappingPattern
	backendPats                     []mappingPattern
	hostPats                        []mappingPattern
	andMappings                     []andMapping
	// mappingWarnings[id] are the problems of names[id]'s mapping.
	mappingWarnings [][]string

	// Tenants (§7): defined tenant names, sorted.
	tenantNames []string
	tenantSet   map[string]struct{}

	// userRoles are the opendistro_security_roles of the internal users
	// that have any (WhoCan reports those users).
	userRoles map[string][]string

	systemIndices patternSet
	configIndex   string

	// warnings is the assembled Warnings list: warnPre (settings), the
	// action groups', every role's, every mapping's, then warnPost (system
	// index settings).
	warnings []string
	warnPre  []string
	warnPost []string
	// compiled is set on an Evaluator built by Compile (not Update); tests
	// use it to tell which path Update took.
	compiled bool

	provenance func(kind Kind, name string) any
	// slowPath makes every decision take the role-by-role path that explain
	// uses; tests set it to prove both paths decide identically.
	slowPath bool
}

// compiledRole is one role with its permissions in matchable form.
type compiledRole struct {
	name    string
	src     *Role
	cluster *actionSet // expanded cluster_permissions (R-EVAL-5)
	index   []roleEntry
	// tenants are the defined tenants this role grants, → write (R-TEN-2/3).
	tenants         map[string]bool
	tenantTemplates []tenantTemplate
	// restricted is true when some index entry carries DLS, FLS or masking.
	restricted bool
	warnings   []string
	// own is the grant of this role alone.
	own grant
}

// roleEntry is one index_permissions entry of a role: the interned part
// that decides access, plus the restrictions it carries (R-DLS-1).
type roleEntry struct {
	ordinal int
	ent     *indexEntry
	dls     string
	dlsTpl  bool
	fls     []string
	masked  []string
	// hasDLS etc. say whether the entry carries each restriction kind.
	hasDLS, hasFLS, hasMasked bool
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

// rankStep is the gap Compile leaves between the ranks of neighbouring
// names (see Evaluator.rank).
const rankStep = 1 << 32

// Compile builds the Evaluator for cfg under node settings s. cfg must already
// contain the static entities (R-MOD-7) when they apply; cfg.SecurityConfig is
// config.yml's `config` object as JSON and may be nil (defaults). cfg is not
// retained beyond pointers into its role and role-mapping values, which must
// not be mutated afterwards (the Config contract: published configurations
// are immutable). Problems that the plugin only logs (action-group cycles,
// invalid regexes, an unknown resolution mode) become Warnings, not errors.
func Compile(cfg *Config, s Settings) (*Evaluator, error) {
	if cfg == nil {
		cfg = NewConfig()
	}
	e, err := newEvaluatorBase(cfg, s)
	if err != nil {
		return nil, err
	}
	e.compiled = true
	e.tab = newTables()

	// Name table: roles ∪ mapping names, in name order.
	n := len(cfg.Roles) + len(cfg.RolesMapping)
	e.names = make([]string, 0, n)
	for name := range cfg.Roles {
		e.names = append(e.names, name)
	}
	for name := range cfg.RolesMapping {
		if _, ok := cfg.Roles[name]; !ok {
			e.names = append(e.names, name)
		}
	}
	slices.Sort(e.names)
	e.nameID = make(map[string]int32, len(e.names))
	e.rank = make([]uint64, len(e.names))
	e.sorted = make([]int32, len(e.names))
	for i, name := range e.names {
		e.nameID[name] = int32(i)
		e.rank[i] = uint64(i+1) * rankStep
		e.sorted[i] = int32(i)
	}

	e.roles = make([]*compiledRole, len(e.names))
	e.mappings = make([]*RoleMapping, len(e.names))
	e.roleGrants = make([]*grant, len(e.names))
	e.mappingWarnings = make([][]string, len(e.names))
	for i, name := range e.names {
		if r, ok := cfg.Roles[name]; ok {
			e.roles[i] = e.compileRole(name, &r)
		}
		if m, ok := cfg.RolesMapping[name]; ok {
			e.mappings[i] = &m
		}
	}
	for i := range e.names {
		e.roleGrants[i] = e.ownGrant(int32(i))
	}
	e.compileMappings()
	e.userRoles = directRoles(cfg.InternalUsers)
	e.tab.baseSets, e.tab.baseEntries = len(e.tab.sets), len(e.tab.entries)
	e.finish()
	return e, nil
}

// newEvaluatorBase sets up what depends only on the settings, config.yml,
// the action groups and the tenants.
func newEvaluatorBase(cfg *Config, s Settings) (*Evaluator, error) {
	dyn, err := parseDynamicConfig(cfg.SecurityConfig)
	if err != nil {
		return nil, err
	}
	e := &Evaluator{settings: s, dyn: dyn, securityConfig: cfg.SecurityConfig, configIndex: s.configIndex()}
	mode, ok := s.resolutionMode()
	e.resolution = mode
	e.byNames = mode != ResolutionMappingOnly
	e.byMappings = mode != ResolutionBackendRolesOnly
	if !ok {
		e.warnPre = append(e.warnPre, fmt.Sprintf("setting %s: unknown value %q, using %s", settingRolesMappingResolution, s.RolesMappingResolution, ResolutionMappingOnly))
	}
	switch e.dyn.HostsResolverMode {
	case "ip-only", "ip-hostname", "ip-hostname-lookup":
	default:
		e.warnPre = append(e.warnPre, fmt.Sprintf("config.dynamic.hosts_resolver_mode: unknown value %q, using ip-only", e.dyn.HostsResolverMode))
		e.dyn.HostsResolverMode = "ip-only"
	}
	e.groups = flattenActionGroups(cfg.ActionGroups)
	e.setTenants(cfg.Tenants)
	if s.SystemIndicesEnabled {
		e.systemIndices = newPatternSet(s.SystemIndices)
		for _, p := range e.systemIndices.invalid {
			e.warnPost = append(e.warnPost, fmt.Sprintf("setting %s: invalid pattern %q: %v", settingSystemIndices, p.raw, p.err))
		}
	}
	return e, nil
}

// setTenants installs the defined tenants (R-TEN-1): tenants.yml ∪ global_tenant.
func (e *Evaluator) setTenants(tenants map[string]Tenant) {
	e.tenantSet = make(map[string]struct{}, len(tenants)+1)
	e.tenantSet[globalTenant] = struct{}{}
	for t := range tenants {
		e.tenantSet[t] = struct{}{}
	}
	e.tenantNames = make([]string, 0, len(e.tenantSet))
	for t := range e.tenantSet {
		e.tenantNames = append(e.tenantNames, t)
	}
	slices.Sort(e.tenantNames)
}

// finish assembles the warnings and starts an empty action memo sized for
// the action sets.
func (e *Evaluator) finish() {
	w := append(slices.Clone(e.warnPre), e.groups.warnings()...)
	for _, id := range e.sorted {
		if r := e.roles[id]; r != nil {
			w = append(w, r.warnings...)
		}
	}
	for _, id := range e.sorted {
		w = append(w, e.mappingWarnings[id]...)
	}
	e.warnings = append(w, e.warnPost...)
	e.memo = newActionMemo(len(e.tab.sets))
	e.memo.prefill(e)
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

// compileRole expands and compiles one role, interning its permissions.
func (e *Evaluator) compileRole(name string, r *Role) *compiledRole {
	cr := &compiledRole{name: name, src: r}
	warnf := func(format string, args ...any) { cr.warnings = append(cr.warnings, fmt.Sprintf(format, args...)) }
	cr.cluster = e.tab.actionSet(e.groups, r.ClusterPermissions)
	for _, p := range cr.cluster.ps.invalid {
		warnf("role %s: cluster_permissions: invalid action pattern %q: %v", name, p.raw, p.err)
	}
	for i, ip := range r.IndexPermissions {
		actions := e.tab.actionSet(e.groups, ip.AllowedActions)
		ent := e.tab.entry(ip.IndexPatterns, actions)
		for _, p := range ent.patterns.invalid {
			warnf("role %s: index_permissions[%d]: invalid index pattern %q: %v", name, i, p.raw, p.err)
		}
		for _, p := range actions.ps.invalid {
			warnf("role %s: index_permissions[%d].allowed_actions: invalid action pattern %q: %v", name, i, p.raw, p.err)
		}
		re := roleEntry{ordinal: i, ent: ent}
		if strings.TrimSpace(ip.DLS) != "" {
			re.dls, re.hasDLS = ip.DLS, true
			re.dlsTpl = isTemplate(ip.DLS)
		}
		re.fls = nonBlank(ip.FLS)
		re.masked = nonBlank(ip.MaskedFields)
		re.hasFLS, re.hasMasked = len(re.fls) > 0, len(re.masked) > 0
		if re.hasDLS || re.hasFLS || re.hasMasked {
			cr.restricted = true
		}
		cr.index = append(cr.index, re)
	}
	e.compileTenantPermissions(cr, r.TenantPermissions, warnf)
	return cr
}

// ownGrant builds the grant of role id alone; for a name with a role it is
// stored in the compiledRole.
func (e *Evaluator) ownGrant(id int32) *grant {
	g := &grant{}
	if r := e.roles[id]; r != nil {
		g = &r.own
		*g = grant{cluster: []grantSet{{r.cluster.id, r.cluster}}, restricted: r.restricted}
		for k := range r.index {
			ent := r.index[k].ent
			if !slices.ContainsFunc(g.entries, func(ge grantEntry) bool { return ge.ent == ent }) {
				g.addEntry(ent)
			}
		}
		g.pack()
	}
	e.fillRoles(g, []int32{id})
	return g
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

// compileMappings indexes every role mapping (R-MAP-4..6) and builds the
// grant of every exact key.
func (e *Evaluator) compileMappings() {
	keys := mappingKeys{user: map[string][]int32{}, backend: map[string][]int32{}, host: map[string][]int32{}}
	for _, id := range e.sorted {
		if m := e.mappings[id]; m != nil {
			e.addMapping(id, m, &keys)
		}
	}
	b := grantBuilder{e: e}
	byUser := make(map[string]*grant, len(keys.user))
	byBackend := make(map[string]*grant, len(keys.backend))
	byHost := make(map[string]*grant, len(keys.host))
	for _, k := range keys.order {
		switch k.field {
		case fieldUsers:
			byUser[k.key] = b.build(keys.user[k.key])
		case fieldBackendRoles:
			byBackend[k.key] = b.build(keys.backend[k.key])
		case fieldHosts:
			byHost[k.key] = b.build(keys.host[k.key])
		}
	}
	e.userKeys, e.backendKeys, e.hostKeys = keyTableOf(byUser), keyTableOf(byBackend), keyTableOf(byHost)
}

// mappingField names the three pattern lists of a role mapping.
type mappingField uint8

const (
	fieldUsers mappingField = iota
	fieldBackendRoles
	fieldHosts
)

// mappingKey is one exact entry of a mapping list.
type mappingKey struct {
	field mappingField
	key   string
}

// mappingKeys collects the exact keys of the mappings, with the roles each
// maps to and the keys in order of first appearance.
type mappingKeys struct {
	user, backend, host map[string][]int32
	order               []mappingKey
}

func (k *mappingKeys) add(field mappingField, key string, id int32) {
	m := k.user
	switch field {
	case fieldBackendRoles:
		m = k.backend
	case fieldHosts:
		m = k.host
	}
	l, ok := m[key]
	if !ok {
		k.order = append(k.order, mappingKey{field, key})
	}
	if len(l) == 0 || l[len(l)-1] != id {
		m[key] = append(l, id)
	}
}

// addMapping records role id's mapping: exact keys into keys (when non-nil),
// pattern entries into the scanned lists, problems into mappingWarnings.
func (e *Evaluator) addMapping(id int32, m *RoleMapping, keys *mappingKeys) {
	name := e.names[id]
	var warns []string
	each := func(field mappingField, what string, pats *[]mappingPattern, raws []string) {
		for _, raw := range raws {
			p := compilePattern(raw)
			switch p.kind {
			case patExact:
				if keys != nil {
					keys.add(field, raw, id)
				}
			case patNone:
				if p.err != nil {
					warns = append(warns, fmt.Sprintf("role mapping %s: %s: invalid pattern %q: %v", name, what, raw, p.err))
				}
			default:
				*pats = append(*pats, mappingPattern{p: p, role: id})
			}
		}
	}
	each(fieldUsers, "users", &e.userPats, m.Users)
	each(fieldBackendRoles, "backend_roles", &e.backendPats, m.BackendRoles)
	each(fieldHosts, "hosts", &e.hostPats, m.Hosts)
	if len(m.AndBackendRoles) > 0 {
		am := andMapping{role: id}
		for _, raw := range m.AndBackendRoles {
			p := compilePattern(raw)
			if p.err != nil {
				warns = append(warns, fmt.Sprintf("role mapping %s: and_backend_roles: invalid pattern %q: %v", name, raw, p.err))
			}
			am.pats = append(am.pats, p)
		}
		e.andMappings = append(e.andMappings, am)
	}
	e.mappingWarnings[id] = warns
}

// exactKeys lists the exact entries of m, per field, deduplicated.
func exactKeys(m *RoleMapping) []mappingKey {
	if m == nil {
		return nil
	}
	var out []mappingKey
	for _, f := range []struct {
		field mappingField
		raws  []string
	}{{fieldUsers, m.Users}, {fieldBackendRoles, m.BackendRoles}, {fieldHosts, m.Hosts}} {
		for _, raw := range f.raws {
			if p := compilePattern(raw); p.kind == patExact {
				k := mappingKey{f.field, raw}
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// compileTenantPermissions precomputes the defined tenants each entry grants
// (R-TEN-2, R-TEN-3).
func (e *Evaluator) compileTenantPermissions(cr *compiledRole, tps []TenantPermission, warnf func(string, ...any)) {
	for i, tp := range tps {
		write := slices.Contains(e.groups.expand(tp.AllowedActions), tenantWriteAction)
		for _, raw := range tp.TenantPatterns {
			if strings.HasPrefix(raw, "${attr") {
				cr.tenantTemplates = append(cr.tenantTemplates, tenantTemplate{raw: raw, write: write})
				continue
			}
			p := compilePattern(raw)
			if p.err != nil {
				warnf("role %s: tenant_permissions[%d]: invalid tenant pattern %q: %v", cr.name, i, raw, p.err)
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

// directRoles indexes the internal users that carry opendistro_security_roles.
func directRoles(users map[string]InternalUser) map[string][]string {
	out := map[string][]string{}
	for name, u := range users {
		if len(u.SecurityRoles) > 0 {
			out[name] = u.SecurityRoles
		}
	}
	return out
}
