package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// loadFiles lists the OpenSearch configuration files LoadDir reads, in load
// order, with the `_meta.type` each must declare (R-MOD-1).
var loadFiles = []struct{ name, ctype string }{
	{"internal_users.yml", "internalusers"},
	{"roles.yml", "roles"},
	{"roles_mapping.yml", "rolesmapping"},
	{"action_groups.yml", "actiongroups"},
	{"tenants.yml", "tenants"},
	{"config.yml", "config"},
	{"nodes_dn.yml", "nodesdn"},
	{"allowlist.yml", "allowlist"},
	{"audit.yml", "audit"},
}

// loadWhitelistFile is the legacy name of allowlist.yml. LoadBytes checks its
// _meta and otherwise ignores it: allowlist.yml carries the same content.
const loadWhitelistFile = "whitelist.yml"

// Allowed keys of each entity kind in the YAML files (the model's yaml tags).
var (
	loadUserKeys        = loadKeySet("hash", "reserved", "hidden", "backend_roles", "attributes", "description", "opendistro_security_roles", "static")
	loadRoleKeys        = loadKeySet("reserved", "hidden", "description", "cluster_permissions", "index_permissions", "tenant_permissions", "static")
	loadIndexPermKeys   = loadKeySet("index_patterns", "dls", "fls", "masked_fields", "allowed_actions")
	loadTenantPermKeys  = loadKeySet("tenant_patterns", "allowed_actions")
	loadMappingKeys     = loadKeySet("reserved", "hidden", "hosts", "users", "backend_roles", "and_backend_roles", "description")
	loadActionGroupKeys = loadKeySet("reserved", "hidden", "allowed_actions", "static", "description", "type")
	loadTenantKeys      = loadKeySet("reserved", "hidden", "description", "static")
	loadNodesDNKeys     = loadKeySet("nodes_dn")
)

func loadKeySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// LoadDir loads an OpenSearch Security configuration directory: the files
// internal_users.yml, roles.yml, roles_mapping.yml, action_groups.yml,
// tenants.yml, config.yml, nodes_dn.yml, allowlist.yml and audit.yml. A missing
// file counts as empty; whitelist.yml and any other file are ignored. Every file
// must declare the matching `_meta.type` and `config_version: 2` (R-MOD-1), and
// entities may only use the keys of the model (an unknown key is an error naming
// file, entity and key). Statics are not added (see AddStatics).
//
// The result is normalized (no nil slices or maps). Files are decoded entry by
// entry from a yaml.Node, so 100k users load in well under a second or two.
func LoadDir(fsys fs.FS) (*Config, error) {
	c := NewConfig()
	for _, f := range loadFiles {
		data, err := fs.ReadFile(fsys, f.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.name, err)
		}
		if err := LoadBytes(f.name, data, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// LoadBytes loads one configuration file, named by its base name (for example
// "roles.yml"), into c: entities are added to c's maps (replacing same-named
// ones) and a document file (config.yml, nodes_dn.yml, allowlist.yml, audit.yml)
// replaces the corresponding document of c, as canonical JSON. c must not be
// published yet (its maps are written in place). whitelist.yml is checked
// (`_meta.type: whitelist`) and otherwise ignored.
func LoadBytes(name string, data []byte, c *Config) error {
	return loadBytesAt(name, name, data, c, nil)
}

// loadBytesAt is LoadBytes with the file named display in messages (a path)
// and at, when set, called with the type, name and line of every entity
// (name "config" for the single documents).
func loadBytesAt(display, name string, data []byte, c *Config, at func(ctype, entity string, line int)) error {
	ctype := ""
	if name == loadWhitelistFile {
		ctype = "whitelist"
	}
	for _, f := range loadFiles {
		if f.name == name {
			ctype = f.ctype
		}
	}
	if ctype == "" {
		return fmt.Errorf("load %s: unknown configuration file", display)
	}
	if c.InternalUsers == nil || c.Roles == nil || c.RolesMapping == nil || c.ActionGroups == nil || c.Tenants == nil {
		fresh := NewConfig()
		c.InternalUsers = loadOr(c.InternalUsers, fresh.InternalUsers)
		c.Roles = loadOr(c.Roles, fresh.Roles)
		c.RolesMapping = loadOr(c.RolesMapping, fresh.RolesMapping)
		c.ActionGroups = loadOr(c.ActionGroups, fresh.ActionGroups)
		c.Tenants = loadOr(c.Tenants, fresh.Tenants)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("load %s: %w", display, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return fmt.Errorf("load %s: empty document, _meta missing", display)
	}
	root := loadResolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("load %s: top level is not a mapping", display)
	}
	if err := loadCheckMeta(display, ctype, root); err != nil {
		return err
	}
	seen := make(map[string]bool, len(root.Content)/2)
	var entries []loadEntry
	for i := 0; i+1 < len(root.Content); i += 2 {
		keyNode := loadResolve(root.Content[i])
		key := keyNode.Value
		if key == "_meta" {
			continue
		}
		if seen[key] {
			return fmt.Errorf("load %s: entry %q defined twice", loadAt(display, keyNode.Line), key)
		}
		seen[key] = true
		entries = append(entries, loadEntry{key, loadResolve(root.Content[i+1]), keyNode.Line})
		if at != nil {
			at(ctype, key, keyNode.Line)
		}
	}
	switch ctype {
	case "internalusers":
		return loadEntities(display, entries, loadUserKeys, c.InternalUsers, normalizedInternalUser)
	case "roles":
		return loadEntities(display, entries, loadRoleKeys, c.Roles, normalizedRole)
	case "rolesmapping":
		return loadEntities(display, entries, loadMappingKeys, c.RolesMapping, normalizedRoleMapping)
	case "actiongroups":
		return loadEntities(display, entries, loadActionGroupKeys, c.ActionGroups, normalizedActionGroup)
	case "tenants":
		return loadEntities(display, entries, loadTenantKeys, c.Tenants, func(t Tenant) Tenant { return t })
	case "nodesdn":
		return loadNodesDN(display, entries, c)
	case "whitelist":
		return nil
	}
	// config, allowlist, audit: a single `config` document.
	var cfg json.RawMessage
	for _, e := range entries {
		if e.name != "config" {
			return fmt.Errorf("load %s: unknown top-level key %q", loadAt(display, e.line), e.name)
		}
		raw, err := loadCanonicalJSON(e.node)
		if err != nil {
			return fmt.Errorf("load %s: config: %w", loadAt(display, e.line), err)
		}
		cfg = raw
	}
	if cfg == nil {
		cfg = json.RawMessage("{}")
	}
	switch ctype {
	case "config":
		c.SecurityConfig = cfg
	case "allowlist":
		c.Allowlist = cfg
	case "audit":
		c.Audit = cfg
	}
	return nil
}

// loadEntry is one top-level entry of a file (name and value node).
type loadEntry struct {
	name string
	node *yaml.Node
	line int // of the entry's key
}

// loadAt names a line of a file: "roles.yml:12".
func loadAt(file string, line int) string {
	if line <= 0 {
		return file
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// loadKeyError is an unknown key found by loadCheckKeys, at its line.
type loadKeyError struct {
	line int
	msg  string
}

func (e *loadKeyError) Error() string { return e.msg }

// loadEntityError words an error about entity e of file: at the line of the
// unknown key, or else of the entity.
func loadEntityError(file string, e loadEntry, err error) error {
	line := e.line
	var ke *loadKeyError
	if errors.As(err, &ke) {
		line = ke.line
	}
	return fmt.Errorf("load %s: entity %q: %w", loadAt(file, line), e.name, err)
}

func loadOr[M ~map[string]V, V any](m, fresh M) M {
	if m == nil {
		return fresh
	}
	return m
}

// loadResolve follows YAML aliases.
func loadResolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func loadCheckMeta(name, ctype string, root *yaml.Node) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if loadResolve(root.Content[i]).Value != "_meta" {
			continue
		}
		var meta struct {
			Type          string `yaml:"type"`
			ConfigVersion int    `yaml:"config_version"`
		}
		if err := root.Content[i+1].Decode(&meta); err != nil {
			return fmt.Errorf("load %s: _meta: %w", name, err)
		}
		if !strings.EqualFold(meta.Type, ctype) {
			return fmt.Errorf("load %s: _meta.type is %q, want %q", name, meta.Type, ctype)
		}
		if meta.ConfigVersion != 2 {
			return fmt.Errorf("load %s: _meta.config_version is %d, want 2", name, meta.ConfigVersion)
		}
		return nil
	}
	return fmt.Errorf("load %s: _meta missing", name)
}

// loadEntities checks each entity's keys against allowed (and the nested keys of
// role permissions), decodes it, normalizes it and stores it in dst.
func loadEntities[T any](file string, entries []loadEntry, allowed map[string]bool, dst map[string]T, norm func(T) T) error {
	for _, e := range entries {
		var v T
		if !loadIsNull(e.node) {
			if err := loadCheckKeys(e.node, allowed); err != nil {
				return loadEntityError(file, e, err)
			}
			if err := e.node.Decode(&v); err != nil {
				return loadEntityError(file, e, err)
			}
		}
		dst[e.name] = norm(v)
	}
	return nil
}

func loadIsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// loadNestedKeys are the allowed keys of the mappings inside a role's
// permission lists.
var loadNestedKeys = map[string]map[string]bool{
	"index_permissions":  loadIndexPermKeys,
	"tenant_permissions": loadTenantPermKeys,
}

// loadCheckKeys reports the first key of mapping n that is not allowed. For
// roles (whose keys include the permission lists) it also checks the entries of
// index_permissions and tenant_permissions.
func loadCheckKeys(n *yaml.Node, allowed map[string]bool) error {
	if n.Kind != yaml.MappingNode {
		return &loadKeyError{n.Line, "not a mapping"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode := loadResolve(n.Content[i])
		key := keyNode.Value
		if !allowed[key] {
			return &loadKeyError{keyNode.Line, fmt.Sprintf("unknown key %q", key)}
		}
		nested, ok := loadNestedKeys[key]
		if !ok {
			continue
		}
		seq := loadResolve(n.Content[i+1])
		if seq.Kind != yaml.SequenceNode {
			continue // Decode reports the type error
		}
		for j, item := range seq.Content {
			item = loadResolve(item)
			if item.Kind != yaml.MappingNode {
				continue
			}
			if err := loadCheckKeys(item, nested); err != nil {
				var ke *loadKeyError
				if errors.As(err, &ke) {
					return &loadKeyError{ke.line, fmt.Sprintf("%s[%d]: %s", key, j, ke.msg)}
				}
				return fmt.Errorf("%s[%d]: %w", key, j, err)
			}
		}
	}
	return nil
}

// loadNodesDN stores nodes_dn.yml (name → {"nodes_dn": [...]}) as canonical JSON.
func loadNodesDN(file string, entries []loadEntry, c *Config) error {
	doc := make(map[string]any, len(entries))
	for _, e := range entries {
		if err := loadCheckKeys(e.node, loadNodesDNKeys); err != nil {
			return loadEntityError(file, e, err)
		}
		var v struct {
			NodesDN []string `yaml:"nodes_dn"`
		}
		if err := e.node.Decode(&v); err != nil {
			return loadEntityError(file, e, err)
		}
		if v.NodesDN == nil {
			v.NodesDN = []string{}
		}
		doc[e.name] = map[string]any{"nodes_dn": v.NodesDN}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("load %s: %w", file, err)
	}
	c.NodesDN = raw
	return nil
}

// loadCanonicalJSON decodes a YAML value and encodes it as canonical JSON
// (json.Marshal of map[string]any sorts the keys).
func loadCanonicalJSON(n *yaml.Node) (json.RawMessage, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	v, err := loadJSONValue(v)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return json.Marshal(v)
}

// loadJSONValue converts what yaml.v3 decodes into interface{} to values
// encoding/json accepts: maps get string keys.
func loadJSONValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := loadJSONValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := loadJSONValue(e)
			if err != nil {
				return nil, err
			}
			ks := fmt.Sprint(k)
			if _, dup := out[ks]; dup {
				return nil, fmt.Errorf("key %q defined twice", ks)
			}
			out[ks] = ev
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := loadJSONValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	}
	return v, nil
}

// Normalize replaces every nil slice or map in every entity of c by an empty
// one, so that JSON shows [] and {} and msgpack round-trips are byte-stable. It
// writes c's maps in place: call it only on a configuration that is not
// published yet.
func (c *Config) Normalize() {
	if c.InternalUsers == nil {
		c.InternalUsers = map[string]InternalUser{}
	}
	if c.Roles == nil {
		c.Roles = map[string]Role{}
	}
	if c.RolesMapping == nil {
		c.RolesMapping = map[string]RoleMapping{}
	}
	if c.ActionGroups == nil {
		c.ActionGroups = map[string]ActionGroup{}
	}
	if c.Tenants == nil {
		c.Tenants = map[string]Tenant{}
	}
	for k, v := range c.InternalUsers {
		c.InternalUsers[k] = normalizedInternalUser(v)
	}
	for k, v := range c.Roles {
		c.Roles[k] = normalizedRole(v)
	}
	for k, v := range c.RolesMapping {
		c.RolesMapping[k] = normalizedRoleMapping(v)
	}
	for k, v := range c.ActionGroups {
		c.ActionGroups[k] = normalizedActionGroup(v)
	}
}

// Clone returns a copy of c with new maps holding the same entity values (a
// shallow copy of each map). The entities' slices and the JSON documents are
// shared, which is safe because entities are replaced, never modified in place.
func (c *Config) Clone() *Config {
	n := *c
	n.InternalUsers = maps.Clone(c.InternalUsers)
	n.Roles = maps.Clone(c.Roles)
	n.RolesMapping = maps.Clone(c.RolesMapping)
	n.ActionGroups = maps.Clone(c.ActionGroups)
	n.Tenants = maps.Clone(c.Tenants)
	return &n
}

func normalizedStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func normalizedInternalUser(u InternalUser) InternalUser {
	u.BackendRoles = normalizedStrings(u.BackendRoles)
	u.SecurityRoles = normalizedStrings(u.SecurityRoles)
	if u.Attributes == nil {
		u.Attributes = map[string]string{}
	}
	return u
}

func normalizedRole(r Role) Role {
	r.ClusterPermissions = normalizedStrings(r.ClusterPermissions)
	// The permission slices are copied before any change: they may share their
	// backing array with an entity of a published configuration.
	fixIndex := r.IndexPermissions == nil
	for _, p := range r.IndexPermissions {
		fixIndex = fixIndex || p.IndexPatterns == nil || p.FLS == nil || p.MaskedFields == nil || p.AllowedActions == nil
	}
	if fixIndex {
		ips := make([]IndexPermission, len(r.IndexPermissions))
		for i, p := range r.IndexPermissions {
			p.IndexPatterns = normalizedStrings(p.IndexPatterns)
			p.FLS = normalizedStrings(p.FLS)
			p.MaskedFields = normalizedStrings(p.MaskedFields)
			p.AllowedActions = normalizedStrings(p.AllowedActions)
			ips[i] = p
		}
		r.IndexPermissions = ips
	}
	fixTenant := r.TenantPermissions == nil
	for _, p := range r.TenantPermissions {
		fixTenant = fixTenant || p.TenantPatterns == nil || p.AllowedActions == nil
	}
	if fixTenant {
		tps := make([]TenantPermission, len(r.TenantPermissions))
		for i, p := range r.TenantPermissions {
			p.TenantPatterns = normalizedStrings(p.TenantPatterns)
			p.AllowedActions = normalizedStrings(p.AllowedActions)
			tps[i] = p
		}
		r.TenantPermissions = tps
	}
	return r
}

func normalizedRoleMapping(m RoleMapping) RoleMapping {
	m.Hosts = normalizedStrings(m.Hosts)
	m.Users = normalizedStrings(m.Users)
	m.BackendRoles = normalizedStrings(m.BackendRoles)
	m.AndBackendRoles = normalizedStrings(m.AndBackendRoles)
	return m
}

func normalizedActionGroup(g ActionGroup) ActionGroup {
	g.AllowedActions = normalizedStrings(g.AllowedActions)
	return g
}
