package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/authzd/authzd/authz"
)

// prefixes are the two roots the Security REST API answers under (R-API-1).
var prefixes = []string{"/_plugins/_security", "/_opendistro/_security"}

// routes registers every endpoint. Paths are registered without a method and
// dispatched in the handler, so that an unsupported method gets the plugin's
// JSON answer instead of the mux's plain-text 405.
func (a *API) routes() {
	type h = func(http.ResponseWriter, *request) error
	for _, p := range prefixes {
		a.mux.Handle(p+"/health", a.plain(a.health))
		a.mux.Handle(p+"/whoami", a.plain(a.whoami))
		a.mux.Handle(p+"/authinfo", a.authed(methods(map[string]h{http.MethodGet: a.authinfo, http.MethodPost: a.authinfo})))
		a.mux.Handle(p+"/api/account", a.authed(methods(map[string]h{http.MethodGet: a.getAccount, http.MethodPut: a.putAccount})))
		a.mux.Handle(p+"/api/permissionsinfo", a.authed(methods(map[string]h{http.MethodGet: a.permissionsInfo})))
		a.mux.Handle(p+"/api/cache", a.authed(a.apiGate(authz.EndpointCache, a.cache)))
		a.mux.Handle(p+"/api/cache/user/{name}", a.authed(a.apiGate(authz.EndpointCache, a.userCache)))
		a.mux.Handle(p+"/api/securityconfig", a.authed(a.gated(authz.EndpointConfig, map[string]h{http.MethodGet: a.getSecurityConfig, http.MethodPatch: a.patchSecurityConfig})))
		a.mux.Handle(p+"/api/securityconfig/config", a.authed(a.gated(authz.EndpointConfig, map[string]h{http.MethodPut: a.putSecurityConfig})))
		a.mux.Handle(p+"/api/audit", a.authed(a.gated(authz.EndpointAudit, map[string]h{http.MethodGet: a.getAudit, http.MethodPatch: a.patchAudit})))
		a.mux.Handle(p+"/api/audit/config", a.authed(a.gated(authz.EndpointAudit, map[string]h{http.MethodPut: a.putAudit})))
		a.mux.Handle(p+"/api/tenancy/config", a.authed(a.gated(authz.EndpointTenants, map[string]h{http.MethodGet: a.getTenancy, http.MethodPut: a.putTenancy})))
		a.mux.Handle(p+"/api/ssl/certs", a.authed(a.gated(authz.EndpointSSL, map[string]h{http.MethodGet: a.sslCerts})))
		a.mux.Handle(p+"/api/ssl/{certType}/reloadcerts", a.authed(a.gated(authz.EndpointSSL, map[string]h{http.MethodPut: a.sslReload})))
		if a.cfg.Settings.NodesDNDynamicConfigEnabled {
			// Like the plugin, the nodesdn routes exist only with
			// plugins.security.nodes_dn_dynamic_config_enabled (R-API-31).
			a.mux.Handle(p+"/api/nodesdn", a.authed(a.nodesDN))
			a.mux.Handle(p+"/api/nodesdn/{name}", a.authed(a.nodesDN))
		}
		a.mux.Handle(p+"/api/{kind}", a.authed(a.collection))
		a.mux.Handle(p+"/api/{kind}/{name}", a.authed(a.collection))
		a.mux.Handle(p+"/api/{kind}/{$}", a.authed(a.collection))
		a.mux.Handle(p+"/", a.plain(notFoundRoute))
	}
	// The allowlist exists under the new prefix only (R-API-32).
	a.mux.Handle("/_plugins/_security/api/allowlist", a.authed(a.gated(authz.EndpointAllowlist, map[string]h{http.MethodGet: a.getAllowlist, http.MethodPut: a.putAllowlist, http.MethodPatch: a.patchAllowlist})))

	a.mux.Handle("/_plugins/_authz/cluster", a.authed(a.gated("", map[string]h{http.MethodGet: a.clusterStatus})))
	a.mux.Handle("/_plugins/_authz/events", a.authed(a.gated("", map[string]h{http.MethodGet: a.events})))
	a.mux.Handle("/_plugins/_authz/events/_stream", a.authed(a.gated("", map[string]h{http.MethodGet: a.streamEvents})))
	a.mux.Handle("/_plugins/_authz/config", a.authed(a.gated("", map[string]h{http.MethodGet: a.exportConfig, http.MethodPut: a.replaceConfig})))
	a.mux.Handle("/_plugins/_authz/evaluate", a.met.timed(apiEvaluate, a.authed(a.evaluate)))
	a.mux.Handle("/_plugins/_authz/evaluate/_batch", a.met.timed(apiBatch, a.authed(a.evaluateBatch)))
	a.mux.Handle("/_plugins/_authz/has_privileges", a.met.timed(apiHasPrivileges, a.authed(a.hasPrivileges)))
	a.mux.Handle("/_plugins/_authz/privileges/{user}", a.met.timed(apiPrivileges, a.authed(methods(map[string]h{http.MethodGet: a.privileges}))))
	a.mux.Handle("/_plugins/_authz/who_can", a.met.timed(apiWhoCan, a.authed(methods(map[string]h{http.MethodPost: a.whoCan}))))
	a.mux.Handle("/_plugins/_authz/snapshot", a.authed(a.gated("", map[string]h{http.MethodGet: a.getSnapshot, http.MethodPost: a.postSnapshot})))
	a.mux.Handle("POST /_plugins/_authz/internal/propose", a.plain(a.internalPropose))
	a.mux.Handle("POST /_plugins/_authz/internal/restore", a.plain(a.internalRestore))
	a.ownershipRoutes()
	if a.cfg.Metrics != nil {
		a.mux.Handle("GET /metrics", a.cfg.Metrics)
	}
	a.membersRoutes()
	a.mux.Handle("/", a.plain(notFoundRoute))
}

// gated is methods with the access gate of endpoint ep applied to every
// handler: an unrouted method gets its 405 first, as from OpenSearch's router.
func (a *API) gated(ep authz.Endpoint, m map[string]func(http.ResponseWriter, *request) error) func(http.ResponseWriter, *request) error {
	g := make(map[string]func(http.ResponseWriter, *request) error, len(m))
	for method, h := range m {
		g[method] = a.apiGate(ep, h)
	}
	return methods(g)
}

// methods dispatches on the request method; others get OpenSearch's 405.
func methods(m map[string]func(http.ResponseWriter, *request) error) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		if h, ok := m[r.Method]; ok {
			return h(w, r)
		}
		allowed := make([]string, 0, len(m))
		for k := range m {
			allowed = append(allowed, k)
		}
		slices.Sort(allowed)
		return methodNotAllowed(w, r.Request, allowed...)
	}
}

// methodNotAllowed writes OpenSearch's answer for a method without a route (R-API-8).
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) error {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
		"error": fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]",
			r.URL.RequestURI(), r.Method, strings.Join(allowed, ", ")),
		"status": http.StatusMethodNotAllowed,
	})
	return nil
}

func notFoundRoute(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusNotFound, map[string]any{
		"error": map[string]any{
			"root_cause": []map[string]string{{"type": "resource_not_found_exception", "reason": "no handler found for uri [" + r.URL.Path + "] and method [" + r.Method + "]"}},
			"type":       "resource_not_found_exception",
			"reason":     "no handler found for uri [" + r.URL.Path + "] and method [" + r.Method + "]",
		},
		"status": http.StatusNotFound,
	})
	return nil
}
