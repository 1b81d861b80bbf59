package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/authzd/authzd/authz"
)

// apiGate applies the REST API access gate (R-API-4): a caller whose mapped roles
// intersect plugins.security.restapi.roles_enabled, or a super admin certificate,
// may use the endpoint; anyone else gets the plugin's 403.
func (a *API) apiGate(h func(http.ResponseWriter, *request) error) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		c := r.caller
		for _, role := range c.Roles {
			if slices.Contains(a.cfg.Settings.RolesEnabled, role) {
				return h(w, r)
			}
		}
		if c.SuperAdmin {
			return h(w, r)
		}
		var roleReason string
		if len(a.cfg.Settings.RolesEnabled) == 0 {
			roleReason = "Role based access not enabled."
		} else {
			roleReason = fmt.Sprintf("User %s with Security roles [%s] does not have any role privileged for admin access",
				c.Name, strings.Join(c.Roles, ", "))
		}
		certReason := "No client TLS certificate found in request"
		if r.TLS == nil {
			certReason = "No ssl info found in request."
		} else if c.CertDN != "" {
			certReason = fmt.Sprintf("Security admin permissions required but %s is not an admin", c.CertDN)
		}
		return authz.StatusMessage(http.StatusForbidden, "No permission to access REST API: "+roleReason+". "+certReason)
	}
}

// isAdmin reports whether the caller is admin for the REST endpoints (R-API-6):
// with plugins.security.restapi.admin.enabled off (the default), only a super
// admin certificate is.
func (r *request) isAdmin() bool { return r.caller.SuperAdmin }
