package api

import (
	"fmt"
	"net/http"

	"github.com/authzd/authzd/authz"
)

// NewSettings reads the API settings from flat (or nested) opensearch.yml-style
// settings: the REST API keys (authz.ParseRESTSettings) and the admin DNs.
func NewSettings(flat map[string]any) (Settings, error) {
	s, err := authz.ParseSettings(flat)
	if err != nil {
		return Settings{}, err
	}
	rs, err := authz.ParseRESTSettings(flat)
	if err != nil {
		return Settings{}, err
	}
	return Settings{RESTSettings: rs, AdminDN: s.AdminDN}, nil
}

// apiGate applies the REST API access gate of endpoint ep to h (R-API-4,
// R-API-5): see checkGate.
func (a *API) apiGate(ep authz.Endpoint, h func(http.ResponseWriter, *request) error) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		if err := a.checkGate(r, ep); err != nil {
			return err
		}
		return h(w, r)
	}
}

// checkGate lets a caller whose mapped roles intersect
// plugins.security.restapi.roles_enabled use endpoint ep unless
// endpoints_disabled disables the method for it, or a super admin
// certificate; anyone else gets the plugin's 403. ep "" (authzd's own
// endpoints) is never disabled by endpoints_disabled.
func (a *API) checkGate(r *request, ep authz.Endpoint) error {
	c := r.caller
	reason := a.cfg.Settings.AccessDenied(ep, r.Method, authz.Caller{
		Name: c.Name, Roles: c.Roles, TLS: r.TLS != nil, CertDN: c.CertDN, SuperAdmin: c.SuperAdmin,
	})
	if reason == "" {
		return nil
	}
	a.log.Debug("REST API access denied", "request_id", requestID(r.Request), "user", c.Name, "endpoint", string(ep), "method", r.Method)
	return authz.StatusMessage(http.StatusForbidden, "No permission to access REST API: "+reason)
}

// isAdminFor reports whether the caller is admin for the endpoint (R-API-6):
// a super admin certificate, or with plugins.security.restapi.admin.enabled an
// explicit grant of the endpoint's restapi:admin permission through the
// caller's roles. action is the second part of CONFIG's and SSL's permissions
// ("update", "certs/info", "certs/reload"), "" otherwise.
func (a *API) isAdminFor(r *request, ep authz.Endpoint, action string) bool {
	return a.cfg.Settings.IsAdminFor(ep, action, r.caller.SuperAdmin, func(perm string) bool {
		return r.view.Eval.HasClusterPermission(r.caller.Roles, perm)
	})
}

// accessDenied is the plugin's answer when an endpoint's access handler
// refuses the caller (RequestHandler.accessDeniedHandler).
func accessDenied() *authz.Error { return authz.StatusMessage(http.StatusForbidden, "Access denied") }

// notImplemented is the plugin's 501 for a method an endpoint routes but does
// not support (R-API-8).
func notImplemented(method string) *authz.Error {
	return authz.StatusMessage(http.StatusNotImplemented, fmt.Sprintf("Method %s not supported for this action.", method))
}
