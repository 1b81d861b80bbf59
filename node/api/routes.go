package api

import (
	"fmt"
	"net/http"
	"strings"
)

// prefixes are the two roots the Security REST API answers under (R-API-1).
var prefixes = []string{"/_plugins/_security", "/_opendistro/_security"}

// routes registers every endpoint. Paths are registered without a method and
// dispatched in the handler, so that an unsupported method gets the plugin's
// JSON answer instead of the mux's plain-text 405.
func (a *API) routes() {
	for _, p := range prefixes {
		a.mux.Handle(p+"/health", a.plain(a.health))
		a.mux.Handle(p+"/authinfo", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
			http.MethodGet: a.authinfo, http.MethodPost: a.authinfo})))
		a.mux.Handle(p+"/api/account", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
			http.MethodGet: a.getAccount, http.MethodPut: a.putAccount})))
		a.mux.Handle(p+"/api/cache", a.authed(a.apiGate(a.cache)))
		a.mux.Handle(p+"/api/cache/user/{name}", a.authed(a.apiGate(a.userCache)))
		a.mux.Handle(p+"/api/{kind}", a.authed(a.apiGate(a.collection)))
		a.mux.Handle(p+"/api/{kind}/{name}", a.authed(a.apiGate(a.collection)))
		a.mux.Handle(p+"/api/{kind}/{$}", a.authed(a.apiGate(a.collection)))
		a.mux.Handle(p+"/", a.plain(notFoundRoute))
	}
	a.mux.Handle("/_plugins/_authz/cluster", a.authed(a.apiGate(a.clusterStatus)))
	a.mux.Handle("POST /_plugins/_authz/internal/propose", a.plain(a.internalPropose))
	a.ownershipRoutes()
	a.mux.Handle("/", a.plain(notFoundRoute))
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
