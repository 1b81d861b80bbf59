package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/fsm"
)

// kindAliases maps URL segments to resource kinds, with the deprecated singular
// aliases of R-API-1.
var kindAliases = map[string]authz.Kind{
	"internalusers": authz.KindInternalUsers, "user": authz.KindInternalUsers,
	"roles": authz.KindRoles, "rolesmapping": authz.KindRolesMapping,
	"actiongroups": authz.KindActionGroups, "actiongroup": authz.KindActionGroups,
	"tenants": authz.KindTenants,
}

// collection is the one generic handler for the resource collections
// (internalusers, roles, rolesmapping, actiongroups, tenants; nodesdn through
// nodesDN). It resolves the kind from the URL, applies the access gate of its
// endpoint, and dispatches on the method.
func (a *API) collection(w http.ResponseWriter, r *request) error {
	seg := r.PathValue("kind")
	kind, ok := kindAliases[seg]
	if !ok {
		return notFoundRoute(w, r.Request)
	}
	alias := seg == "user" || seg == "actiongroup"
	return a.serveCollection(w, r, kind, alias)
}

// nodesDN serves /api/nodesdn[/{name}] (R-API-31): every method needs admin
// for NODESDN (restapi:admin/nodesdn or the super admin certificate).
func (a *API) nodesDN(w http.ResponseWriter, r *request) error {
	return a.serveCollection(w, r, authz.KindNodesDN, false)
}

func (a *API) serveCollection(w http.ResponseWriter, r *request, kind authz.Kind, alias bool) error {
	ep := authz.EndpointOf(kind)
	if err := a.checkGate(r, ep); err != nil {
		return err
	}
	name := r.PathValue("name")
	known := r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodDelete ||
		(r.Method == http.MethodPatch && !alias)
	if known && kind == authz.KindNodesDN && !a.isAdminFor(r, ep, "") {
		return accessDenied()
	}
	switch {
	case r.Method == http.MethodGet:
		return a.getResources(w, r, kind, name)
	case r.Method == http.MethodPut:
		return a.putResource(w, r, kind, name)
	case r.Method == http.MethodDelete:
		return a.deleteResource(w, r, kind, name)
	case r.Method == http.MethodPatch && !alias:
		return a.patchResources(w, r, kind, name)
	}
	allowed := []string{"GET", "PUT", "DELETE", "PATCH"}
	if alias {
		allowed = allowed[:3]
	}
	return methodNotAllowed(w, r.Request, allowed...)
}

// getResources serves GET /<kind> and GET /<kind>/<name> (R-API-10, R-API-23):
// hidden resources are left out unless the caller is admin for the endpoint,
// and a hidden resource asked for by name is then not found.
func (a *API) getResources(w http.ResponseWriter, r *request, kind authz.Kind, name string) error {
	out := map[string]any{}
	admin := a.isAdminFor(r, authz.EndpointOf(kind), "")
	visible := func(n string, v any) bool { return admin || !hidden(v) }
	switch m := fsm.Items(r.view.Config, kind).(type) {
	case map[string]authz.InternalUser:
		for n, u := range m {
			u.Hash = "" // R-API-23: never returned
			if visible(n, u) {
				out[n] = u
			}
		}
	case map[string]authz.Role:
		copyVisible(out, m, visible)
	case map[string]authz.RoleMapping:
		copyVisible(out, m, visible)
	case map[string]authz.ActionGroup:
		copyVisible(out, m, visible)
	case map[string]authz.Tenant:
		copyVisible(out, m, visible)
	case map[string]authz.NodesDN:
		copyVisible(out, m, visible)
		if show, _ := strconv.ParseBool(r.URL.Query().Get("show_all")); show {
			dns := a.cfg.Settings.NodesDN
			if dns == nil {
				dns = []string{}
			}
			out[authz.StaticNodesDNName] = authz.NodesDN{NodesDN: dns}
		}
	}
	setRevision(w, r.view.Rev)
	if name == "" {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	v, ok := out[name]
	if !ok {
		return authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("%s '%s' not found.", kind.Noun(), name))
	}
	writeJSON(w, http.StatusOK, map[string]any{name: v})
	return nil
}

func copyVisible[T any](out map[string]any, m map[string]T, visible func(string, any) bool) {
	for n, v := range m {
		if visible(n, v) {
			out[n] = v
		}
	}
}

// hidden reports the hidden flag of any resource type.
func hidden(v any) bool {
	switch x := v.(type) {
	case authz.InternalUser:
		return x.Hidden
	case authz.Role:
		return x.Hidden
	case authz.RoleMapping:
		return x.Hidden
	case authz.ActionGroup:
		return x.Hidden
	case authz.Tenant:
		return x.Hidden
	}
	return false
}

// putResource serves PUT /<kind>/<name> (R-API-3, R-API-13..15, R-API-20..22).
func (a *API) putResource(w http.ResponseWriter, r *request, kind authz.Kind, name string) error {
	if name == "" {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("No %s specified.", kind.Noun()))
	}
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	admin := a.isAdminFor(r, authz.EndpointOf(kind), "")
	body, e := authz.ParseBody(kind, name, raw, authz.ParseOptions{Admin: admin})
	if e != nil {
		return e
	}
	value := body.Value
	if u, ok := value.(authz.InternalUser); ok && body.HasPassword {
		if u.Hash, err = a.hashPassword(name, body.Password); err != nil {
			return err
		}
		value = u
	}
	doc, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode %s '%s': %w", kind.Noun(), name, err)
	}
	res, err := a.propose(r, fsm.EventType(kind, "put"), events.ResourcePut{Name: name, Doc: doc, Admin: admin})
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	if res.Created {
		status(w, http.StatusCreated, fmt.Sprintf("'%s' created.", name))
	} else {
		status(w, http.StatusOK, fmt.Sprintf("'%s' updated.", name))
	}
	return nil
}

// deleteResource serves DELETE /<kind>/<name>.
func (a *API) deleteResource(w http.ResponseWriter, r *request, kind authz.Kind, name string) error {
	if name == "" {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("No %s specified.", kind.Noun()))
	}
	res, err := a.propose(r, fsm.EventType(kind, "delete"), events.ResourceDelete{Name: name, Admin: a.isAdminFor(r, authz.EndpointOf(kind), "")})
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	status(w, http.StatusOK, fmt.Sprintf("'%s' deleted.", name))
	return nil
}

// patchResources serves PATCH /<kind> and PATCH /<kind>/<name> (R-API-16..19).
func (a *API) patchResources(w http.ResponseWriter, r *request, kind authz.Kind, name string) error {
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if e := fsm.ValidatePatch(raw); e != nil {
		return e
	}
	ops := raw
	if kind == authz.KindInternalUsers {
		if ops, err = a.hashPatchPasswords(raw, name); err != nil {
			return err
		}
	}
	res, err := a.propose(r, fsm.EventType(kind, "patch"), events.ResourcePatch{Name: name, Ops: ops, Admin: a.isAdminFor(r, authz.EndpointOf(kind), "")})
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	switch {
	case res.Unchanged:
		status(w, http.StatusOK, "No updates required")
	case name != "":
		status(w, http.StatusOK, fmt.Sprintf("'%s' updated.", name))
	default:
		status(w, http.StatusOK, "Resource updated.")
	}
	return nil
}

// propose encodes an event for the caller and commits it. A refusal comes back
// as the *authz.Error in the result.
func (a *API) propose(r *request, typ events.Type, payload any) (fsm.Result, error) {
	b, err := events.Encode(typ, events.Meta{
		Actor: r.caller.Name, At: a.cfg.Now().UnixMilli(), RequestID: requestID(r.Request),
	}, payload)
	if err != nil {
		return fsm.Result{}, err
	}
	ctx, cancel := contextWithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	res, err := a.cfg.Backend.Propose(ctx, b)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("propose %s: %w", typ, err)
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

func setRevision(w http.ResponseWriter, rev uint64) {
	w.Header()["X-Authz-Revision"] = revisionHeader(rev)
}

// revisionValue is the X-Authz-Revision header value of one revision.
type revisionValue struct {
	rev uint64
	v   []string
}

// lastRevisionValue is the header value of the revision answered last: most
// answers in a row are at the same revision, and they share its value like
// jsonContentType.
var lastRevisionValue atomic.Pointer[revisionValue]

func revisionHeader(rev uint64) []string {
	if c := lastRevisionValue.Load(); c != nil && c.rev == rev {
		return c.v
	}
	c := &revisionValue{rev: rev, v: []string{strconv.FormatUint(rev, 10)}}
	lastRevisionValue.Store(c)
	return c.v
}
