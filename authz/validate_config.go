package authz

// The rules of this file depend on the configuration a change lands on
// (references, reserved/hidden/static flags, R-API-7); the state machine
// applies them to the state an event is applied to. validate.go checks the
// request bodies themselves.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CheckPut applies the rules that depend on the current configuration to the
// creation or replacement of resource name of kind by v (a Body.Value: the
// entity as value or pointer), in the plugin's order. admin is true when the
// caller is admin for the endpoint (R-API-6). It is deterministic (FSM-safe)
// and does not change c.
//
// Order: name (R-API-12, no '/'); R-API-9 on the existing entity (hidden 404
// unless admin, static 403 for everyone, reserved 403 unless admin); R-API-7
// (restapi:admin/* in the existing or new role/action group, or in the role a
// mapping maps: 403 Access denied for everyone); then per kind:
//   - internalusers: opendistro_security_roles exist and are not hidden, and
//     their mappings are not hidden/reserved (R-API-24, unless admin); no ':' in
//     the name (R-API-22); a new user needs a hash; an existing user without a
//     hash in v keeps its stored hash, which must not be empty. CheckPut does not
//     copy that hash into v: call KeepHash for the value to store.
//   - rolesmapping: the role exists and is not hidden unless admin (R-API-26).
//   - actiongroups: type (R-API-27, when non-empty), not named like a role
//     (R-API-27), no self reference (R-API-28).
func (c *Config) CheckPut(kind Kind, name string, v any, admin bool) *Error {
	if err := validateName(kind, name); err != nil {
		return err
	}
	if err := c.validateImmutable(kind, name, admin); err != nil {
		return err
	}
	switch kind {
	case KindInternalUsers:
		u, ok := validateValueAs[InternalUser](v)
		if !ok {
			return validateWrongValue(kind, v)
		}
		return c.validateUserPut(name, u, admin)
	case KindRoles:
		r, ok := validateValueAs[Role](v)
		if !ok {
			return validateWrongValue(kind, v)
		}
		if validateHasRestAdmin(r.ClusterPermissions) {
			return StatusMessage(http.StatusForbidden, "Access denied")
		}
	case KindRolesMapping:
		if _, ok := validateValueAs[RoleMapping](v); !ok {
			return validateWrongValue(kind, v)
		}
		return c.validateRoleRef(name, admin)
	case KindActionGroups:
		g, ok := validateValueAs[ActionGroup](v)
		if !ok {
			return validateWrongValue(kind, v)
		}
		if validateHasRestAdmin(g.AllowedActions) {
			return StatusMessage(http.StatusForbidden, "Access denied")
		}
		if err := validateActionGroupContent(name, ActionGroup{Type: g.Type}, g.Type != ""); err != nil {
			return err
		}
		if _, ok := c.Roles[name]; ok {
			return StatusMessage(http.StatusBadRequest, name+" is an existing role. A action group cannot be named with an existing role name.")
		}
		return validateActionGroupContent(name, ActionGroup{AllowedActions: g.AllowedActions}, false)
	case KindTenants:
		if _, ok := validateValueAs[Tenant](v); !ok {
			return validateWrongValue(kind, v)
		}
	case KindNodesDN:
		if _, ok := validateValueAs[NodesDN](v); !ok {
			return validateWrongValue(kind, v)
		}
	default:
		return validateWrongValue(kind, v)
	}
	return nil
}

// CheckDelete applies the plugin's rules for deleting resource name of kind, in
// its order: name (R-API-12, no '/'); R-API-9 (hidden 404 unless admin, static
// 403 for everyone, reserved 403 unless admin); R-API-7 (a role or action group
// with restapi:admin/* permissions, or the mapping of such a role: 403 Access
// denied for everyone); then 404 `<noun> '<name>' not found.` (R-API-11).
func (c *Config) CheckDelete(kind Kind, name string, admin bool) *Error {
	if !kind.Valid() {
		return validateWrongValue(kind, nil)
	}
	if err := validateName(kind, name); err != nil {
		return err
	}
	if err := c.validateImmutable(kind, name, admin); err != nil {
		return err
	}
	if _, ok := c.validateLookup(kind, name); !ok {
		return StatusMessage(http.StatusNotFound, kind.Noun()+" '"+name+"' not found.")
	}
	return nil
}

// KeepHash returns u with the stored hash of user name when u.Hash is empty
// (R-API-22: a PUT without password or hash keeps the existing password).
func (c *Config) KeepHash(name string, u InternalUser) InternalUser {
	if u.Hash == "" {
		if old, ok := c.InternalUsers[name]; ok {
			u.Hash = old.Hash
		}
	}
	return u
}

// validateValueAs accepts an entity as T or *T.
func validateValueAs[T any](v any) (T, bool) {
	switch x := v.(type) {
	case T:
		return x, true
	case *T:
		if x != nil {
			return *x, true
		}
	}
	var zero T
	return zero, false
}

// validateWrongValue reports a caller bug: a value that does not match kind.
func validateWrongValue(kind Kind, v any) *Error {
	return StatusMessage(http.StatusInternalServerError, fmt.Sprintf("Internal error: unexpected %T for %q", v, string(kind)))
}

// validateLookup returns the flags of entity name of kind and whether it exists.
func (c *Config) validateLookup(kind Kind, name string) (Flags, bool) {
	var (
		v  any
		ok bool
	)
	switch kind {
	case KindInternalUsers:
		v, ok = c.InternalUsers[name]
	case KindRoles:
		v, ok = c.Roles[name]
	case KindRolesMapping:
		v, ok = c.RolesMapping[name]
	case KindActionGroups:
		v, ok = c.ActionGroups[name]
	case KindTenants:
		v, ok = c.Tenants[name]
	case KindNodesDN:
		v, ok = c.NodesDNEntries()[name]
	}
	return validateFlagsOf(v), ok
}

// validateImmutable is the plugin's isAllowedToChangeImmutableEntity for the
// existing entity name of kind (R-API-9), followed by the R-API-7 check of the
// existing role, action group, or role mapped by a mapping.
func (c *Config) validateImmutable(kind Kind, name string, admin bool) *Error {
	if kind == KindNodesDN && name == StaticNodesDNName {
		// NodesDnApiAction: the opensearch.yml entry is read-only, for admins too.
		return StatusMessage(http.StatusForbidden, "Resource '"+StaticNodesDNName+"' is read-only.")
	}
	if f, ok := c.validateLookup(kind, name); ok {
		if err := validateFlagsAllow(name, f, admin); err != nil {
			return err
		}
	}
	var restAdmin bool
	switch kind {
	case KindRoles, KindRolesMapping:
		restAdmin = validateHasRestAdmin(c.Roles[name].ClusterPermissions)
	case KindActionGroups:
		restAdmin = validateHasRestAdmin(c.ActionGroups[name].AllowedActions)
	}
	if restAdmin {
		return StatusMessage(http.StatusForbidden, "Access denied")
	}
	return nil
}

// validateFlagsAllow is R-API-9 for an existing entity with flags f. Static is
// refused for admins too (authzd never writes static entities).
func validateFlagsAllow(name string, f Flags, admin bool) *Error {
	switch {
	case f.Hidden && !admin:
		return StatusMessage(http.StatusNotFound, "Resource '"+name+"' is not available.")
	case f.Static:
		return StatusMessage(http.StatusForbidden, "Resource '"+name+"' is static.")
	case f.Reserved && !admin:
		return StatusMessage(http.StatusForbidden, "Resource '"+name+"' is reserved.")
	}
	return nil
}

// validateHasRestAdmin reports whether a permission list has an entry matching
// restapi:admin/* (R-API-7, the plugin's REST_API_PERMISSION_PREFIX_MATCHER).
func validateHasRestAdmin(perms []string) bool {
	return slices.ContainsFunc(perms, func(p string) bool { return strings.HasPrefix(p, "restapi:admin/") })
}

// validateRoleRef is the plugin's validateRoles for one role: it must exist
// (404 `role '<r>' not found.`) and not be hidden unless admin.
func (c *Config) validateRoleRef(role string, admin bool) *Error {
	r, ok := c.Roles[role]
	if !ok {
		return StatusMessage(http.StatusNotFound, "role '"+role+"' not found.")
	}
	if r.Hidden && !admin {
		return StatusMessage(http.StatusNotFound, "Resource '"+role+"' is not available.")
	}
	return nil
}

// validateUserPut is the internal-user part of CheckPut (R-API-22, R-API-24).
func (c *Config) validateUserPut(name string, u InternalUser, admin bool) *Error {
	for _, r := range u.SecurityRoles {
		if err := c.validateRoleRef(r, admin); err != nil {
			return err
		}
	}
	if !admin {
		for _, r := range u.SecurityRoles {
			if m, ok := c.RolesMapping[r]; ok {
				if err := validateFlagsAllow(r, Flags{Hidden: m.Hidden, Reserved: m.Reserved}, false); err != nil {
					return err
				}
			}
		}
	}
	// The plugin URL-decodes the (already decoded) name once more.
	decoded, err := url.QueryUnescape(name)
	if err != nil {
		decoded = name
	}
	if strings.Contains(name, ":") || strings.Contains(decoded, ":") {
		return StatusMessage(http.StatusBadRequest, "A restricted character(s) was detected in the account name. Please remove: ':'")
	}
	old, exists := c.InternalUsers[name]
	switch {
	case u.Hash != "":
	case !exists:
		return StatusMessage(http.StatusBadRequest, "Please specify either 'hash' or 'password' when creating a new internal user.")
	case old.Hash == "":
		return StatusMessage(http.StatusBadRequest, "Existing user "+name+" has no password, and no new password or hash was specified.")
	}
	return nil
}
