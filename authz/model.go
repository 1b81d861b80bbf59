package authz

import "encoding/json"

// Kind names one of the five resource collections served by the REST API.
// Its value is the URL segment of the collection (`/_plugins/_security/api/<kind>`).
type Kind string

// The resource kinds of the Security REST API.
const (
	KindInternalUsers Kind = "internalusers"
	KindRoles         Kind = "roles"
	KindRolesMapping  Kind = "rolesmapping"
	KindActionGroups  Kind = "actiongroups"
	KindTenants       Kind = "tenants"
	// KindNodesDN is nodes_dn.yml (R-API-31). It is served by the same generic
	// collection code but is not in Kinds: its entries are stored as one JSON
	// document (Config.NodesDN) and carry no reserved/hidden/static flags.
	KindNodesDN Kind = "nodesdn"
)

// Kinds lists every resource kind in a fixed order (used wherever order must be
// deterministic, e.g. state hashing).
var Kinds = []Kind{KindInternalUsers, KindRoles, KindRolesMapping, KindActionGroups, KindTenants}

// Noun is the word the plugin uses for one resource of the kind in messages such
// as `user 'kirk' not found.` (R-API-11).
func (k Kind) Noun() string {
	switch k {
	case KindInternalUsers:
		return "user"
	case KindRoles:
		return "role"
	case KindRolesMapping:
		return "rolesmapping"
	case KindActionGroups:
		return "actiongroup"
	case KindTenants:
		return "tenant"
	}
	return string(k)
}

// Valid reports whether k is one of the five kinds or KindNodesDN.
func (k Kind) Valid() bool {
	switch k {
	case KindInternalUsers, KindRoles, KindRolesMapping, KindActionGroups, KindTenants, KindNodesDN:
		return true
	}
	return false
}

// Flags are the bookkeeping flags every resource carries (R-API-9).
type Flags struct {
	Reserved bool `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden   bool `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	Static   bool `json:"static" yaml:"static,omitempty" msgpack:"static"`
}

// InternalUser is one entry of internal_users.yml (R-MOD-2). Hash is the bcrypt
// hash; it is never returned by the API (GET shows "hash": "").
type InternalUser struct {
	Hash          string            `json:"hash" yaml:"hash,omitempty" msgpack:"hash"`
	Reserved      bool              `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden        bool              `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	BackendRoles  []string          `json:"backend_roles" yaml:"backend_roles,omitempty" msgpack:"backend_roles"`
	Attributes    map[string]string `json:"attributes" yaml:"attributes,omitempty" msgpack:"attributes"`
	Description   string            `json:"description,omitempty" yaml:"description,omitempty" msgpack:"description,omitempty"`
	SecurityRoles []string          `json:"opendistro_security_roles" yaml:"opendistro_security_roles,omitempty" msgpack:"opendistro_security_roles"`
	Static        bool              `json:"static" yaml:"static,omitempty" msgpack:"static"`
}

// Role is one entry of roles.yml (R-MOD-3).
type Role struct {
	Reserved           bool               `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden             bool               `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	Description        string             `json:"description,omitempty" yaml:"description,omitempty" msgpack:"description,omitempty"`
	ClusterPermissions []string           `json:"cluster_permissions" yaml:"cluster_permissions,omitempty" msgpack:"cluster_permissions"`
	IndexPermissions   []IndexPermission  `json:"index_permissions" yaml:"index_permissions,omitempty" msgpack:"index_permissions"`
	TenantPermissions  []TenantPermission `json:"tenant_permissions" yaml:"tenant_permissions,omitempty" msgpack:"tenant_permissions"`
	Static             bool               `json:"static" yaml:"static,omitempty" msgpack:"static"`
}

// IndexPermission is one entry of a role's index_permissions.
type IndexPermission struct {
	IndexPatterns  []string `json:"index_patterns" yaml:"index_patterns,omitempty" msgpack:"index_patterns"`
	DLS            string   `json:"dls,omitempty" yaml:"dls,omitempty" msgpack:"dls,omitempty"`
	FLS            []string `json:"fls" yaml:"fls,omitempty" msgpack:"fls"`
	MaskedFields   []string `json:"masked_fields" yaml:"masked_fields,omitempty" msgpack:"masked_fields"`
	AllowedActions []string `json:"allowed_actions" yaml:"allowed_actions,omitempty" msgpack:"allowed_actions"`
}

// TenantPermission is one entry of a role's tenant_permissions.
type TenantPermission struct {
	TenantPatterns []string `json:"tenant_patterns" yaml:"tenant_patterns,omitempty" msgpack:"tenant_patterns"`
	AllowedActions []string `json:"allowed_actions" yaml:"allowed_actions,omitempty" msgpack:"allowed_actions"`
}

// RoleMapping is one entry of roles_mapping.yml (R-MOD-4); its name is the role
// it maps. Role mappings have no static flag.
type RoleMapping struct {
	Reserved        bool     `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden          bool     `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	Hosts           []string `json:"hosts" yaml:"hosts,omitempty" msgpack:"hosts"`
	Users           []string `json:"users" yaml:"users,omitempty" msgpack:"users"`
	BackendRoles    []string `json:"backend_roles" yaml:"backend_roles,omitempty" msgpack:"backend_roles"`
	AndBackendRoles []string `json:"and_backend_roles" yaml:"and_backend_roles,omitempty" msgpack:"and_backend_roles"`
	Description     string   `json:"description,omitempty" yaml:"description,omitempty" msgpack:"description,omitempty"`
}

// ActionGroup is one entry of action_groups.yml (R-MOD-5).
type ActionGroup struct {
	Reserved       bool     `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden         bool     `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	AllowedActions []string `json:"allowed_actions" yaml:"allowed_actions,omitempty" msgpack:"allowed_actions"`
	Static         bool     `json:"static" yaml:"static,omitempty" msgpack:"static"`
	Description    string   `json:"description,omitempty" yaml:"description,omitempty" msgpack:"description,omitempty"`
	Type           string   `json:"type,omitempty" yaml:"type,omitempty" msgpack:"type,omitempty"`
}

// Tenant is one entry of tenants.yml (R-MOD-6).
type Tenant struct {
	Reserved    bool   `json:"reserved" yaml:"reserved,omitempty" msgpack:"reserved"`
	Hidden      bool   `json:"hidden" yaml:"hidden,omitempty" msgpack:"hidden"`
	Description string `json:"description,omitempty" yaml:"description,omitempty" msgpack:"description,omitempty"`
	Static      bool   `json:"static" yaml:"static,omitempty" msgpack:"static"`
}

// NodesDN is one entry of nodes_dn.yml: the certificate DNs (patterns) of
// other clusters' nodes (R-API-31).
type NodesDN struct {
	NodesDN []string `json:"nodes_dn" yaml:"nodes_dn" msgpack:"nodes_dn"`
}

// Config is the whole security configuration: the five collections plus the
// documents that are stored verbatim (config.yml's `config`, audit, nodes_dn,
// allowlist) as canonical JSON. A Config reachable from a published state is
// never mutated: writers clone the map they change (copy on write).
//
// Static entries (R-MOD-7) are stored in the maps with Static set; they are
// read-only through the API and stripped by exports.
type Config struct {
	InternalUsers map[string]InternalUser `msgpack:"internalusers"`
	Roles         map[string]Role         `msgpack:"roles"`
	RolesMapping  map[string]RoleMapping  `msgpack:"rolesmapping"`
	ActionGroups  map[string]ActionGroup  `msgpack:"actiongroups"`
	Tenants       map[string]Tenant       `msgpack:"tenants"`

	// SecurityConfig is config.yml's `config` object ({"dynamic":{...}}), canonical JSON.
	SecurityConfig json.RawMessage `msgpack:"config,omitempty"`
	// Audit is audit.yml's `config` object, canonical JSON.
	Audit json.RawMessage `msgpack:"audit,omitempty"`
	// NodesDN is nodes_dn.yml without _meta (name → {"nodes_dn":[...]}), canonical JSON.
	NodesDN json.RawMessage `msgpack:"nodesdn,omitempty"`
	// Allowlist is allowlist.yml's `config` object, canonical JSON.
	Allowlist json.RawMessage `msgpack:"allowlist,omitempty"`

	// ClusterSettings are the dynamic cluster settings (PUT /_cluster/settings);
	// not part of a configuration directory.
	ClusterSettings ClusterSettings `msgpack:"-"`
}

// NewConfig returns an empty configuration with all maps allocated.
func NewConfig() *Config {
	return &Config{
		InternalUsers: map[string]InternalUser{},
		Roles:         map[string]Role{},
		RolesMapping:  map[string]RoleMapping{},
		ActionGroups:  map[string]ActionGroup{},
		Tenants:       map[string]Tenant{},
	}
}
