// Package authztest loads the decision test vectors (spec/vectors.yaml, copied
// to authz/testdata) for tests outside package authz: the REST decision API
// runs every vector through each of its endpoints, which must agree with the
// expectation and with one another. It is imported only by tests; package
// authz's own tests keep their loader (they cannot import this package).
package authztest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/authzd/authzd/authz"
)

// Vector is one decision case: a configuration, node settings, a request and
// what the plugin decides.
type Vector struct {
	ID, Rule string
	Config   *authz.Config
	Settings authz.Settings
	Request  authz.Request
	Expect   Expect
}

// Expect is a vector's expectation; nil fields are not pinned.
type Expect struct {
	Allowed bool
	// Roles are the mapped roles, sorted.
	Roles []string
	// Reason is the 403 text, when pinned.
	Reason *string
	// Tenants is the tenant map of tenant vectors.
	Tenants map[string]bool
	// EffectiveIndices is the reduced index list of dnfof vectors.
	EffectiveIndices []string
}

type file struct {
	Vectors []struct {
		ID     string `yaml:"id"`
		Rule   string `yaml:"rule"`
		Config struct {
			Static        bool                          `yaml:"static"`
			ActionGroups  map[string]authz.ActionGroup  `yaml:"action_groups"`
			Roles         map[string]authz.Role         `yaml:"roles"`
			RolesMapping  map[string]authz.RoleMapping  `yaml:"roles_mapping"`
			InternalUsers map[string]authz.InternalUser `yaml:"internal_users"`
			Tenants       map[string]authz.Tenant       `yaml:"tenants"`
			Settings      map[string]any                `yaml:"settings"`
			Dynamic       map[string]any                `yaml:"dynamic"`
		} `yaml:"config"`
		Request struct {
			User struct {
				Name            string            `yaml:"name"`
				BackendRoles    []string          `yaml:"backend_roles"`
				SecurityRoles   []string          `yaml:"security_roles"`
				Attributes      map[string]string `yaml:"attributes"`
				RequestedTenant *string           `yaml:"requested_tenant"`
			} `yaml:"user"`
			RemoteAddress string   `yaml:"remote_address"`
			Action        string   `yaml:"action"`
			Indices       []string `yaml:"indices"`
			BulkItems     []string `yaml:"bulk_items"`
			Tenant        string   `yaml:"tenant"`
			TenantAccess  string   `yaml:"tenant_access"`
		} `yaml:"request"`
		Expect struct {
			Allowed          bool            `yaml:"allowed"`
			Roles            []string        `yaml:"roles"`
			Reason           *string         `yaml:"reason"`
			Tenants          map[string]bool `yaml:"tenants"`
			EffectiveIndices []string        `yaml:"effective_indices"`
		} `yaml:"expect"`
	} `yaml:"vectors"`
}

// Load reads a vectors file (spec/vectors.yaml format).
func Load(path string) ([]Vector, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read vectors: %w", err)
	}
	var f file
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := make([]Vector, 0, len(f.Vectors))
	for _, fv := range f.Vectors {
		cfg := authz.NewConfig()
		maps.Copy(cfg.ActionGroups, fv.Config.ActionGroups)
		maps.Copy(cfg.Roles, fv.Config.Roles)
		maps.Copy(cfg.RolesMapping, fv.Config.RolesMapping)
		maps.Copy(cfg.InternalUsers, fv.Config.InternalUsers)
		maps.Copy(cfg.Tenants, fv.Config.Tenants)
		if fv.Config.Static {
			cfg.AddStatics()
		}
		cfg.Normalize()
		if fv.Config.Dynamic != nil {
			if cfg.SecurityConfig, err = json.Marshal(map[string]any{"dynamic": fv.Config.Dynamic}); err != nil {
				return nil, fmt.Errorf("vector %s: %w", fv.ID, err)
			}
		}
		s, err := authz.ParseSettings(fv.Config.Settings)
		if err != nil {
			return nil, fmt.Errorf("vector %s: settings: %w", fv.ID, err)
		}
		u := fv.Request.User
		req := authz.Request{
			Subject: authz.Subject{Name: u.Name, BackendRoles: u.BackendRoles, SecurityRoles: u.SecurityRoles,
				Attributes: u.Attributes, RemoteIP: fv.Request.RemoteAddress},
			Action: fv.Request.Action, Indices: fv.Request.Indices, BulkItems: fv.Request.BulkItems,
			Tenant: fv.Request.Tenant, TenantAccess: fv.Request.TenantAccess,
		}
		if u.RequestedTenant != nil {
			req.Subject.RequestedTenant = *u.RequestedTenant
		}
		e := fv.Expect
		out = append(out, Vector{ID: fv.ID, Rule: fv.Rule, Config: cfg, Settings: s, Request: req,
			Expect: Expect{Allowed: e.Allowed, Roles: e.Roles, Reason: e.Reason, Tenants: e.Tenants, EffectiveIndices: e.EffectiveIndices}})
	}
	return out, nil
}
