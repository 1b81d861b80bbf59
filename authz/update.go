package authz

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"sort"
)

// Ref names one changed entity of a configuration: a user, role, role
// mapping, action group or tenant.
type Ref struct {
	Kind Kind
	Name string
}

// Update returns an Evaluator for cfg under s that decides exactly as
// Compile(cfg, s) would, reusing prev. changed must list every entity in which
// cfg differs from the configuration prev was compiled from (added, changed
// or removed; extra or repeated refs are harmless); cfg.SecurityConfig and s
// are compared with prev's by Update itself. prev stays valid and unchanged:
// readers may go on using it. cfg follows the contract of Compile.
//
// The work is proportional to what changed: a role is recompiled and the
// grants of its mapping keys rebuilt; a mapping moves its role between the
// grants of the keys it gained or lost; an action group change recompiles
// the roles that name a group whose closure changed; a tenant change
// recompiles the roles with tenant permissions; a user change only touches
// the direct-role index. Structures are copied on write, by page where they
// are large (key tables) or layered (intern maps).
//
// Update falls back to a full Compile where that pays or where an in-place
// change is not possible: prev is nil; the settings or config.yml changed
// (securityconfig: every decision may change); a ref has another kind; more
// than an eighth of the role names (at least 64) have a changed role or
// mapping; an action group change reaches more than a quarter of the roles;
// no rank is left between two role names (after ~32 insertions at the same
// place); or the interned tables have grown to twice their size at the last
// compile (Update never drops values no longer used; Compile does). Like
// Compile's, the result carries no provenance: see WithProvenance.
func Update(prev *Evaluator, cfg *Config, s Settings, changed []Ref) (*Evaluator, error) {
	if cfg == nil {
		cfg = NewConfig()
	}
	if prev == nil || !reflect.DeepEqual(prev.settings, s) || !bytes.Equal(prev.securityConfig, cfg.SecurityConfig) || prev.tab.garbage() {
		return Compile(cfg, s)
	}
	if n := countRoleRefs(changed); n > max(64, len(prev.names)/8) {
		return Compile(cfg, s)
	}
	u := updater{prev: prev, cfg: cfg, recompile: map[string]bool{}, remap: map[string]bool{}}
	for _, r := range changed {
		switch r.Kind {
		case KindRoles:
			u.recompile[r.Name] = true
		case KindRolesMapping:
			u.remap[r.Name] = true
		case KindActionGroups:
			u.groupsChanged = true
		case KindTenants:
			u.tenantsChanged = true
		case KindInternalUsers:
			u.users = append(u.users, r.Name)
		default:
			return Compile(cfg, s)
		}
	}
	e, ok := u.run()
	if !ok {
		return Compile(cfg, s)
	}
	return e, nil
}

// countRoleRefs counts the refs that cost a role's worth of work.
func countRoleRefs(changed []Ref) int {
	n := 0
	for _, r := range changed {
		if r.Kind == KindRoles || r.Kind == KindRolesMapping {
			n++
		}
	}
	return n
}

// updater carries one Update.
type updater struct {
	prev, e        *Evaluator
	cfg            *Config
	recompile      map[string]bool // role names to compile again
	remap          map[string]bool // mapping names changed
	groupsChanged  bool
	tenantsChanged bool
	users          []string
	nameIDOwned    bool
	// keys are the exact mapping keys whose grant must be rebuilt, with
	// their new role lists.
	keys map[mappingKey][]int32
}

// run applies the changes; false means "compile instead".
func (u *updater) run() (*Evaluator, bool) {
	prev := u.prev
	e := &Evaluator{}
	*e = *prev
	e.compiled, e.provenance, e.slowPath = false, nil, false
	u.e = e
	e.tab = prev.tab.fork(u.groupsChanged)

	if u.groupsChanged && !u.updateGroups() {
		return nil, false
	}
	if u.tenantsChanged {
		u.updateTenants()
	}
	if len(u.users) > 0 {
		u.updateUsers()
	}
	if len(u.recompile) == 0 && len(u.remap) == 0 {
		e.finish()
		return e, true
	}
	// The per-name slices are copied whole: a memmove of a few hundred
	// kilobytes at most, far below compiling.
	e.names = slices.Clone(prev.names)
	e.rank = slices.Clone(prev.rank)
	e.roles = slices.Clone(prev.roles)
	e.mappings = slices.Clone(prev.mappings)
	e.roleGrants = slices.Clone(prev.roleGrants)
	e.mappingWarnings = slices.Clone(prev.mappingWarnings)

	// Every name that now has a role or a mapping needs an id.
	for name := range u.recompile {
		if _, ok := u.cfg.Roles[name]; ok && !u.addName(name) {
			return nil, false
		}
	}
	for name := range u.remap {
		if _, ok := u.cfg.RolesMapping[name]; ok && !u.addName(name) {
			return nil, false
		}
	}

	u.keys = map[mappingKey][]int32{}
	if len(u.remap) > 0 {
		u.updateMappings()
	}
	for name := range u.recompile {
		id, ok := e.nameID[name]
		if !ok {
			continue // neither role nor mapping, before or now
		}
		e.roles[id] = nil
		if r, ok := u.cfg.Roles[name]; ok {
			e.roles[id] = e.compileRole(name, &r)
		}
		e.roleGrants[id] = e.ownGrant(id)
		// Its mapping keys keep their roles but grant something else now.
		for _, k := range exactKeys(e.mappings[id]) {
			if _, ok := u.keys[k]; !ok {
				u.keys[k] = u.roleList(k)
			}
		}
	}
	u.rebuildKeys()
	e.finish()
	return e, true
}

// updateGroups installs the new action groups and marks the roles that
// name a group whose closure changed (or that became or stopped being a
// group). It returns false when too many roles are affected.
func (u *updater) updateGroups() bool {
	e := u.e
	old, next := u.prev.groups, flattenActionGroups(u.cfg.ActionGroups)
	e.groups = next
	diff := map[string]bool{}
	for name, c := range next.closure {
		if oc, ok := old.closure[name]; !ok || !slices.Equal(oc, c) {
			diff[name] = true
		}
	}
	for name := range old.closure {
		if _, ok := next.closure[name]; !ok {
			diff[name] = true
		}
	}
	if len(diff) == 0 {
		return true
	}
	names := func(l []string) bool {
		for _, x := range l {
			if diff[x] {
				return true
			}
		}
		return false
	}
	marked := 0
	for _, r := range e.roles {
		if r == nil || u.recompile[r.name] {
			continue
		}
		hit := names(r.src.ClusterPermissions)
		for i := 0; !hit && i < len(r.src.IndexPermissions); i++ {
			hit = names(r.src.IndexPermissions[i].AllowedActions)
		}
		for i := 0; !hit && i < len(r.src.TenantPermissions); i++ {
			hit = names(r.src.TenantPermissions[i].AllowedActions)
		}
		if hit {
			u.recompile[r.name] = true
			if marked++; marked > len(e.roles)/4 {
				return false
			}
		}
	}
	return true
}

// updateTenants installs the defined tenants and, when the set of names
// changed, marks the roles with tenant permissions (R-TEN-2 matches
// patterns against the defined names at compile time).
func (u *updater) updateTenants() {
	e := u.e
	next := make(map[string]struct{}, len(u.cfg.Tenants)+1)
	next[globalTenant] = struct{}{}
	for t := range u.cfg.Tenants {
		next[t] = struct{}{}
	}
	if maps.Equal(next, u.prev.tenantSet) {
		return
	}
	e.setTenants(u.cfg.Tenants)
	for _, r := range e.roles {
		if r != nil && len(r.src.TenantPermissions) > 0 {
			u.recompile[r.name] = true
		}
	}
}

// updateUsers refreshes the direct roles WhoCan reports.
func (u *updater) updateUsers() {
	e := u.e
	e.userRoles = maps.Clone(u.prev.userRoles)
	for _, name := range u.users {
		if usr, ok := u.cfg.InternalUsers[name]; ok && len(usr.SecurityRoles) > 0 {
			e.userRoles[name] = usr.SecurityRoles
		} else {
			delete(e.userRoles, name)
		}
	}
}

// addName gives name an id if it has none, with a rank between its
// neighbours' (false when none is left).
func (u *updater) addName(name string) bool {
	e := u.e
	if _, ok := e.nameID[name]; ok {
		return true
	}
	pos := sort.Search(len(e.sorted), func(i int) bool { return e.names[e.sorted[i]] >= name })
	var lo, hi uint64
	if pos > 0 {
		lo = e.rank[e.sorted[pos-1]]
	}
	if pos < len(e.sorted) {
		hi = e.rank[e.sorted[pos]]
	} else {
		hi = lo + 2*rankStep
		if hi < lo {
			return false // overflow
		}
	}
	if hi-lo < 2 {
		return false
	}
	id := int32(len(e.names))
	if !u.nameIDOwned {
		e.nameID = maps.Clone(e.nameID)
		e.sorted = slices.Clone(e.sorted)
		u.nameIDOwned = true
	}
	e.nameID[name] = id
	e.sorted = slices.Insert(e.sorted, pos, id)
	e.names = append(e.names, name)
	e.rank = append(e.rank, lo+(hi-lo)/2)
	e.roles = append(e.roles, nil)
	e.mappings = append(e.mappings, nil)
	e.mappingWarnings = append(e.mappingWarnings, nil)
	e.roleGrants = append(e.roleGrants, nil)
	e.roleGrants[id] = e.ownGrant(id)
	return true
}

// updateMappings applies the changed role mappings: pattern lists are
// filtered and refilled, exact keys gain or lose the role.
func (u *updater) updateMappings() {
	e := u.e
	ids := map[int32]bool{}
	for name := range u.remap {
		if id, ok := e.nameID[name]; ok {
			ids[id] = true
		}
	}
	drop := func(l []mappingPattern) []mappingPattern {
		return slices.DeleteFunc(slices.Clone(l), func(mp mappingPattern) bool { return ids[mp.role] })
	}
	e.userPats, e.backendPats, e.hostPats = drop(e.userPats), drop(e.backendPats), drop(e.hostPats)
	e.andMappings = slices.DeleteFunc(slices.Clone(e.andMappings), func(am andMapping) bool { return ids[am.role] })
	for _, id := range e.sorted {
		if !ids[id] {
			continue
		}
		oldKeys := exactKeys(e.mappings[id])
		e.mappings[id], e.mappingWarnings[id] = nil, nil
		if m, ok := u.cfg.RolesMapping[e.names[id]]; ok {
			e.mappings[id] = &m
			e.addMapping(id, &m, nil)
		}
		newKeys := exactKeys(e.mappings[id])
		for _, k := range oldKeys {
			if !slices.Contains(newKeys, k) {
				l := u.keyRoles(k)
				u.keys[k] = slices.DeleteFunc(l, func(x int32) bool { return x == id })
			}
		}
		for _, k := range newKeys {
			if !slices.Contains(oldKeys, k) {
				l := u.keyRoles(k)
				if !slices.Contains(l, id) {
					l = append(l, id)
				}
				u.keys[k] = l
			}
		}
	}
}

// keyRoles returns a private copy of the role list of key k as this update
// has it so far.
func (u *updater) keyRoles(k mappingKey) []int32 {
	if l, ok := u.keys[k]; ok {
		return l
	}
	return u.roleList(k)
}

// roleList is a copy of the roles key k maps to in prev.
func (u *updater) roleList(k mappingKey) []int32 {
	if g := keyTableFor(u.prev, k.field).get(k.key); g != nil {
		return g.roleIDs()
	}
	return nil
}

func keyTableFor(e *Evaluator, f mappingField) *keyTable {
	switch f {
	case fieldBackendRoles:
		return e.backendKeys
	case fieldHosts:
		return e.hostKeys
	}
	return e.userKeys
}

// rebuildKeys builds the grants of the keys collected in u.keys and
// derives the key tables that change (keyTable.with copies only the pages
// it writes), adding and deleting keys as their role lists require.
func (u *updater) rebuildKeys() {
	e := u.e
	var changes [3]map[string]*grant
	b := grantBuilder{e: e}
	for k, ids := range u.keys {
		var g *grant
		switch {
		case len(ids) > 0:
			g = b.build(ids)
		case keyTableFor(e, k.field).get(k.key) == nil:
			continue // nothing to delete
		}
		if changes[k.field] == nil {
			changes[k.field] = map[string]*grant{}
		}
		changes[k.field][k.key] = g
	}
	if ch := changes[fieldUsers]; ch != nil {
		e.userKeys = e.userKeys.with(ch)
	}
	if ch := changes[fieldBackendRoles]; ch != nil {
		e.backendKeys = e.backendKeys.with(ch)
	}
	if ch := changes[fieldHosts]; ch != nil {
		e.hostKeys = e.hostKeys.with(ch)
	}
}
