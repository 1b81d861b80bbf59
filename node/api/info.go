package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/transport"
)

// ErrNotLeader is returned by Proposer.ApplyLocal on a node that is not the leader.
var ErrNotLeader = errors.New("not the leader")

// health serves GET|POST /health (R-INFO-1): no authentication. In strict mode
// (the default) the node is DOWN until its configuration is initialized and while
// it knows no leader.
func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return methodNotAllowed(w, r, "GET", "POST")
	}
	mode := r.URL.Query().Get("mode")
	if mode == "" {
		mode = "strict"
	}
	st := a.cfg.Backend.Status()
	v := a.cfg.Backend.View()
	var down string
	switch {
	case !v.Initialized:
		down = "Not initialized"
	case st.LeaderID == "":
		down = "No leader"
	case st.NATS != nil && !st.NATS.OwnersLoaded:
		// Until its ownership index was loaded once, the node would answer
		// every ownership check "not found". Later NATS outages do not make it
		// DOWN: checks keep answering from the last index (O6).
		down = "Ownership index not loaded"
	}
	if mode == "strict" && down != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": down, "mode": mode, "status": "DOWN"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": nil, "mode": mode, "status": "UP"})
	return nil
}

// authinfo serves GET|POST /authinfo (R-INFO-2).
func (a *API) authinfo(w http.ResponseWriter, r *request) error {
	c := r.caller
	peerCerts := "0"
	if r.TLS != nil {
		peerCerts = fmt.Sprint(len(r.TLS.PeerCertificates))
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, map[string]any{
		"user":                   authz.UserString(&c.Subject),
		"user_name":              c.Name,
		"user_requested_tenant":  requestedTenant(c),
		"remote_address":         r.RemoteAddr,
		"backend_roles":          sorted(c.Subject.BackendRoles),
		"custom_attribute_names": attributeNames(c),
		"roles":                  sorted(c.Roles),
		"tenants":                r.view.Eval.Tenants(&c.Subject, c.Roles),
		"principal":              nil,
		"peer_certificates":      peerCerts,
		"sso_logout_url":         nil,
	})
	return nil
}

// whoami serves GET|POST /whoami (R-INFO-4) without authentication, like the
// plugin: the verified client certificate's DN, whether it is an admin DN, and
// whether it matches plugins.security.nodes_dn (patterns, ignoring case).
func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return methodNotAllowed(w, r, "GET", "POST")
	}
	if r.TLS == nil {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("No security data"))
		return nil
	}
	var dn *string
	isAdmin, isNode := false, false
	if len(r.TLS.VerifiedChains) > 0 {
		d := transport.DN(r.TLS.VerifiedChains[0][0])
		dn = &d
		isAdmin = authz.DNMatches(a.cfg.Settings.AdminDN, d)
		isNode = authz.MatchesAnyIgnoreCase(a.cfg.Settings.NodesDN, d)
	}
	writeJSON(w, http.StatusOK, struct {
		DN     *string `json:"dn"`
		Admin  bool    `json:"is_admin"`
		IsNode bool    `json:"is_node_certificate_request"`
	}{dn, isAdmin, isNode})
	return nil
}

// permissionsInfo serves GET /api/permissionsinfo (R-API-36) to any
// authenticated caller: whether it may use the REST API and which endpoints
// and methods are disabled for it. AUDIT is disabled entirely while no audit
// configuration exists (the plugin's audit hot reloading off).
func (a *API) permissionsInfo(w http.ResponseWriter, r *request) error {
	c := r.caller
	disabled := a.cfg.Settings.DisabledEndpoints(c.Roles)
	if len(r.view.Config.Audit) == 0 {
		disabled[authz.EndpointAudit] = slices.Clone(authz.HTTPMethods)
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, struct {
		User      string                      `json:"user"`
		UserName  string                      `json:"user_name"`
		APIAccess bool                        `json:"has_api_access"`
		Disabled  map[authz.Endpoint][]string `json:"disabled_endpoints"`
	}{authz.UserString(&c.Subject), c.Name, a.cfg.Settings.HasAPIAccess(c.Roles), disabled})
	return nil
}

// cache serves /api/cache (R-API-34): DELETE drops the credential cache.
func (a *API) cache(w http.ResponseWriter, r *request) error {
	switch r.Method {
	case http.MethodDelete:
		return a.flushCache(w, r, nil)
	case http.MethodGet, http.MethodPut, http.MethodPost:
		return notImplemented(r.Method)
	}
	return methodNotAllowed(w, r.Request, "DELETE")
}

// clusterStatus serves GET /_plugins/_authz/cluster.
func (a *API) clusterStatus(w http.ResponseWriter, r *request) error {
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, a.cfg.Backend.Status())
	return nil
}

// internalPropose serves writes forwarded by followers. Only nodes of the cluster
// may call it: the client certificate must be verified by the cluster CA and carry
// OU=node.
func (a *API) internalPropose(w http.ResponseWriter, r *http.Request) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(r.TLS.VerifiedChains[0][0].Subject.OrganizationalUnit, "node") {
		return authz.StatusMessage(http.StatusForbidden, "Only cluster nodes may forward writes")
	}
	data, err := a.readBody(r, a.cfg.MaxInternalBodyBytes)
	if err != nil {
		return err
	}
	res, err := a.cfg.Backend.ApplyLocal(r.Context(), data)
	if errors.Is(err, ErrNotLeader) {
		status(w, http.StatusMisdirectedRequest, "not the leader")
		return nil
	}
	if err != nil {
		return err
	}
	b, err := msgpack.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	w.Header().Set("Content-Type", "application/msgpack")
	_, _ = w.Write(b)
	return nil
}
