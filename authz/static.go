package authz

import (
	"embed"
	"fmt"
	"io/fs"
	"sync"
)

// configFS holds the built-in configuration: config/static (the plugin's static
// action groups, roles and tenants) and config/demo (the plugin's demo
// configuration). See config/README.md.
//
//go:embed config
var configFS embed.FS

var (
	staticsOnce   sync.Once
	staticsParsed *Config
)

// loadEmbedded loads one embedded directory. The files are part of the binary
// and covered by tests, so a failure is a broken invariant.
func loadEmbedded(dir string) *Config {
	sub, err := fs.Sub(configFS, dir)
	if err != nil {
		panic(fmt.Sprintf("authz: embedded %s: %v", dir, err))
	}
	c, err := LoadDir(sub)
	if err != nil {
		panic(fmt.Sprintf("authz: embedded %s: %v", dir, err))
	}
	return c
}

// loadEmbeddedFile loads one embedded file into a fresh configuration.
func loadEmbeddedFile(path, name string) *Config {
	data, err := configFS.ReadFile(path)
	if err != nil {
		panic(fmt.Sprintf("authz: embedded %s: %v", path, err))
	}
	c := NewConfig()
	if err := LoadBytes(name, data, c); err != nil {
		panic(fmt.Sprintf("authz: embedded %s: %v", path, err))
	}
	return c
}

func staticsShared() *Config {
	staticsOnce.Do(func() {
		c := loadEmbedded("config/static")
		// R-MOD-7: statics are merged with static: true, whatever the file says.
		for k, v := range c.Roles {
			v.Static = true
			c.Roles[k] = v
		}
		for k, v := range c.ActionGroups {
			v.Static = true
			c.ActionGroups[k] = v
		}
		for k, v := range c.Tenants {
			v.Static = true
			c.Tenants[k] = v
		}
		staticsParsed = c
	})
	return staticsParsed
}

// Statics returns the plugin's static action groups (26), roles (8) and tenants
// (global_tenant), all with static and reserved set (R-MOD-7). The embedded
// files are parsed once; each call returns a fresh Config whose maps the caller
// may change. The entities' slices are shared between calls and must not be
// modified in place.
func Statics() *Config {
	return staticsShared().Clone()
}

// AddStatics puts the static action groups, roles and tenants into c, replacing
// same-named entries (R-MOD-7: the plugin's addStatics uses putAll). It writes
// c's maps in place: c must be freshly built, not published.
func (c *Config) AddStatics() {
	s := staticsShared()
	if c.Roles == nil {
		c.Roles = make(map[string]Role, len(s.Roles))
	}
	if c.ActionGroups == nil {
		c.ActionGroups = make(map[string]ActionGroup, len(s.ActionGroups))
	}
	if c.Tenants == nil {
		c.Tenants = make(map[string]Tenant, len(s.Tenants))
	}
	for k, v := range s.Roles {
		c.Roles[k] = v
	}
	for k, v := range s.ActionGroups {
		c.ActionGroups[k] = v
	}
	for k, v := range s.Tenants {
		c.Tenants[k] = v
	}
}

// Bootstrap returns the first configuration of a new production cluster: the
// statics, the reserved plugin roles of the demo roles.yml, the internal user
// admin (hash adminHash, reserved, backend role "admin"), the role mapping
// all_access ← backend role and user admin, no tenant besides global_tenant, and
// config.yml's `config` object of the demo directory as SecurityConfig. It has
// no demo users, no other demo mappings, and no audit, nodes_dn or allowlist
// document. The result is normalized and not shared with any other caller.
func Bootstrap(adminHash string) *Config {
	c := NewConfig()
	c.Roles = loadEmbeddedFile("config/demo/roles.yml", "roles.yml").Roles
	c.AddStatics()
	c.InternalUsers["admin"] = normalizedInternalUser(InternalUser{
		Hash:         adminHash,
		Reserved:     true,
		BackendRoles: []string{"admin"},
		Description:  "Initial admin user",
	})
	c.RolesMapping["all_access"] = normalizedRoleMapping(RoleMapping{
		BackendRoles: []string{"admin"},
		Users:        []string{"admin"},
		Description:  "Maps admin to all_access",
	})
	c.SecurityConfig = loadEmbeddedFile("config/demo/config.yml", "config.yml").SecurityConfig
	return c
}

// Demo returns the plugin's whole demo configuration (authzd dev): every file
// of the embedded demo directory (7 internal users, 42 reserved plugin roles,
// 7 mappings, the admin_tenant, config, nodes_dn, allowlist, audit) plus the
// statics. The demo admin's hash is replaced by adminHash. The result is
// normalized and not shared with any other caller.
func Demo(adminHash string) *Config {
	c := loadEmbedded("config/demo")
	if u, ok := c.InternalUsers["admin"]; ok {
		u.Hash = adminHash
		c.InternalUsers["admin"] = u
	}
	c.AddStatics()
	return c
}
