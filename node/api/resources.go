package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authzd/authzd/authz"
)

// Owners is what the ownership endpoints need from the node: the local
// index, fed by the KV watch, and the KV writes. A Backend that does not
// implement it has no ownership endpoints (they answer 503).
type Owners interface {
	// OwnerIndex is the current index; never blocks.
	OwnerIndex() *authz.OwnerIndex
	// OwnerStaleMS is the index's age (0 current, -1 never loaded).
	OwnerStaleMS() int64
	// WaitOwnerSeq waits (bounded) until the index has applied seq.
	WaitOwnerSeq(ctx context.Context, seq uint64) error
	// RegisterOwner creates the record unless one exists, which it returns.
	RegisterOwner(ctx context.Context, rec *authz.OwnerRecord) (seq uint64, created bool, existing *authz.OwnerRecord, err error)
	// FreshOwner reads the record from the store with its sequence.
	FreshOwner(ctx context.Context, kind authz.OwnerKind, id string) (*authz.OwnerRecord, uint64, error)
	// DeleteOwner deletes the record if it is still at seq.
	DeleteOwner(ctx context.Context, kind authz.OwnerKind, id string, seq uint64) (uint64, error)
}

// Flusher broadcasts credential cache flushes to every node.
type Flusher interface {
	BroadcastFlush(ctx context.Context, users []string) error
}

// Cluster permissions of the ownership API.
const (
	// PermRegisterAs lets a caller (a PEP's service account) register a
	// resource for an explicit owner and read or delete any record.
	PermRegisterAs = "cluster:admin/authz/resources/register_as"
	// PermCheckAs lets a caller ask _check and _visible for another user.
	PermCheckAs = "cluster:admin/authz/resources/check_as"
)

const (
	maxIDLen        = 512
	defaultPageSize = 100
	maxPageSize     = 10_000
)

func (a *API) ownershipRoutes() {
	base := "/_plugins/_authz/resources/{kind}"
	a.mux.Handle(base+"/{id}", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
		http.MethodPut: a.registerResource, http.MethodGet: a.getResource, http.MethodDelete: a.deleteResourceRecord})))
	a.mux.Handle(base+"/{id}/_check", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
		http.MethodPost: a.checkResource})))
	a.mux.Handle(base+"/_visible", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
		http.MethodPost: a.visibleResources})))
	a.mux.Handle("/_cluster/settings", a.authed(methods(map[string]func(http.ResponseWriter, *request) error{
		http.MethodGet: a.getClusterSettings, http.MethodPut: a.putClusterSettings})))
}

// owners returns the backend's ownership store.
func (a *API) owners() (Owners, error) {
	o, ok := a.cfg.Backend.(Owners)
	if !ok {
		return nil, ErrBusUnavailable
	}
	return o, nil
}

// resourceTarget parses {kind} and {id}.
func resourceTarget(r *request) (authz.OwnerKind, string, error) {
	kind := authz.OwnerKind(r.PathValue("kind"))
	if !kind.Valid() {
		return "", "", authz.StatusMessage(http.StatusBadRequest,
			fmt.Sprintf("Unknown resource kind '%s'; expected one of async_search, detector, monitor, model", kind))
	}
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return "", "", authz.StatusMessage(http.StatusBadRequest,
			fmt.Sprintf("Resource id must be 1 to %d characters of valid UTF-8 without control characters", maxIDLen))
	}
	return kind, id, nil
}

// requester is the caller as an ownership requester.
func (r *request) requester() *authz.Requester {
	return &authz.Requester{Subject: r.caller.Subject, AdminCert: r.caller.SuperAdmin}
}

func filterOn(r *request, kind authz.OwnerKind) bool {
	s := kind.FilterSetting()
	return s != "" && r.view.Config.ClusterSettings.Bool(s)
}

// waitOwners honours min_seq (query) or X-Authz-Min-Owners-Seq (header).
func (a *API) waitOwners(r *request, o Owners) error {
	s := r.URL.Query().Get("min_seq")
	if s == "" {
		s = r.Header.Get("X-Authz-Min-Owners-Seq")
	}
	if s == "" {
		return nil
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("min_seq must be a non-negative integer, got '%s'", s))
	}
	return o.WaitOwnerSeq(r.Context(), seq)
}

func setOwnerHeaders(w http.ResponseWriter, seq uint64, staleMS int64) {
	w.Header().Set("X-Authz-Owners-Seq", strconv.FormatUint(seq, 10))
	w.Header().Set("X-Authz-Stale-Ms", strconv.FormatInt(staleMS, 10))
}

// registerResource serves PUT /_plugins/_authz/resources/{kind}/{id}.
func (a *API) registerResource(w http.ResponseWriter, r *request) error {
	kind, id, err := resourceTarget(r)
	if err != nil {
		return err
	}
	var body struct {
		Owner *authz.Owner `json:"owner"`
	}
	if err := a.decodeStrict(r, &body); err != nil {
		return err
	}
	o, err := a.owners()
	if err != nil {
		return err
	}
	owner := authz.Owner{Name: r.caller.Name, BackendRoles: r.caller.Subject.BackendRoles, Roles: r.caller.Roles}
	if body.Owner != nil {
		if ok, _, reason := authz.Permitted(r.view.Eval, r.requester(), PermRegisterAs); !ok {
			return authz.OpenSearchError(http.StatusForbidden, "security_exception", reason)
		}
		if body.Owner.Name == "" {
			return authz.StatusMessage(http.StatusBadRequest, "owner.name is required")
		}
		owner = *body.Owner
		if kind != authz.KindAsyncSearch && filterOn(r, kind) && len(owner.BackendRoles) == 0 {
			return authz.OpenSearchError(http.StatusForbidden, "status_exception", authz.NoBackendRoles(owner.Name))
		}
	} else if acc := authz.CheckRegister(r.view.Eval, r.requester(), kind, filterOn(r, kind)); !acc.Allowed {
		return acc.Error()
	}
	if owner.BackendRoles == nil {
		owner.BackendRoles = []string{}
	}
	if owner.Roles == nil {
		owner.Roles = []string{}
	}
	rec := &authz.OwnerRecord{Kind: kind, ID: id, Owner: owner, CreatedAt: a.cfg.Now().UnixMilli(), Node: a.cfg.NodeID}
	seq, created, existing, err := o.RegisterOwner(r.Context(), rec)
	if err != nil {
		return err
	}
	setOwnerHeaders(w, seq, o.OwnerStaleMS())
	switch {
	case created:
		writeJSON(w, http.StatusCreated, map[string]any{"status": "CREATED", "message": fmt.Sprintf("'%s' registered.", id), "record": rec, "seq": seq})
	case existing.Owner.Name == owner.Name:
		writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "message": fmt.Sprintf("'%s' is already registered to '%s'.", id, owner.Name), "record": existing, "seq": seq})
	default:
		return authz.StatusMessage(http.StatusConflict, fmt.Sprintf("%s '%s' is already registered to another owner.", kind, id))
	}
	return nil
}

// accessFor decides whether the caller may read or delete rec: the PEP's
// service account (register_as) may, anyone else by the ownership rules.
func accessFor(r *request, rec *authz.OwnerRecord, action string) authz.Access {
	if ok, _, _ := authz.Permitted(r.view.Eval, r.requester(), PermRegisterAs); ok {
		return authz.Access{Allowed: true, Rule: "register_as", Status: http.StatusOK}
	}
	return authz.CheckAccess(r.view.Eval, r.requester(), action, rec, filterOn(r, rec.Kind))
}

// getResource serves GET /_plugins/_authz/resources/{kind}/{id}, from the
// local index.
func (a *API) getResource(w http.ResponseWriter, r *request) error {
	kind, id, err := resourceTarget(r)
	if err != nil {
		return err
	}
	o, err := a.owners()
	if err != nil {
		return err
	}
	if err := a.waitOwners(r, o); err != nil {
		return err
	}
	x := o.OwnerIndex()
	rec, ok := x.Get(kind, id)
	if !ok {
		return notRegistered(kind, id)
	}
	if acc := accessFor(r, rec, kind.Actions().Get); !acc.Allowed {
		return acc.Error()
	}
	stale := o.OwnerStaleMS()
	setOwnerHeaders(w, x.Seq(), stale)
	writeJSON(w, http.StatusOK, map[string]any{"record": rec, "seq": x.Seq(), "stale_ms": stale})
	return nil
}

func notRegistered(kind authz.OwnerKind, id string) error {
	return authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("%s '%s' is not registered.", kind, id))
}

// deleteResourceRecord serves DELETE /_plugins/_authz/resources/{kind}/{id}:
// the record is read from the store, checked, and deleted only if unchanged.
func (a *API) deleteResourceRecord(w http.ResponseWriter, r *request) error {
	kind, id, err := resourceTarget(r)
	if err != nil {
		return err
	}
	o, err := a.owners()
	if err != nil {
		return err
	}
	rec, seq, err := o.FreshOwner(r.Context(), kind, id)
	if errors.Is(err, ErrOwnerNotFound) {
		return notRegistered(kind, id)
	}
	if err != nil {
		return err
	}
	if acc := accessFor(r, rec, kind.Actions().Delete); !acc.Allowed {
		return acc.Error()
	}
	dseq, err := o.DeleteOwner(r.Context(), kind, id, seq)
	if err != nil {
		return err
	}
	setOwnerHeaders(w, dseq, o.OwnerStaleMS())
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "message": fmt.Sprintf("'%s' deleted.", id), "seq": dseq})
	return nil
}

// checkUser is the "user" of a _check or _visible body: an internal user's
// name, or a user object as the PEP authenticated it.
type checkUser struct {
	name  string
	obj   *authz.Owner
	given bool
}

func (u *checkUser) UnmarshalJSON(b []byte) error {
	u.given = true
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &u.name)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o authz.Owner
	if err := dec.Decode(&o); err != nil {
		return err
	}
	u.obj = &o
	return nil
}

// subjectFor resolves who the question is about. Asking for another user
// needs the check_as permission.
func subjectFor(r *request, u checkUser) (*authz.Requester, error) {
	if !u.given || (u.obj == nil && u.name == r.caller.Name) {
		return r.requester(), nil
	}
	if ok, _, reason := authz.Permitted(r.view.Eval, r.requester(), PermCheckAs); !ok {
		return nil, authz.OpenSearchError(http.StatusForbidden, "security_exception", reason)
	}
	if u.obj != nil {
		if u.obj.Name == "" {
			return nil, authz.StatusMessage(http.StatusBadRequest, "user.name is required")
		}
		return &authz.Requester{Subject: authz.Subject{Name: u.obj.Name, BackendRoles: u.obj.BackendRoles, SecurityRoles: u.obj.Roles}}, nil
	}
	iu, ok := r.view.Config.InternalUsers[u.name]
	if !ok {
		return nil, authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("user '%s' not found.", u.name))
	}
	s := subjectOf(u.name, iu)
	return &authz.Requester{Subject: s}, nil
}

// checkResource serves POST /_plugins/_authz/resources/{kind}/{id}/_check
// with {"user": <name or object>, "action": "..."}: whether the user may run
// action on the resource, from the local index.
func (a *API) checkResource(w http.ResponseWriter, r *request) error {
	kind, id, err := resourceTarget(r)
	if err != nil {
		return err
	}
	var body struct {
		User   checkUser `json:"user"`
		Action string    `json:"action"`
	}
	if err := a.decodeStrict(r, &body); err != nil {
		return err
	}
	if body.Action == "" {
		return authz.StatusMessage(http.StatusBadRequest, "action is required")
	}
	who, err := subjectFor(r, body.User)
	if err != nil {
		return err
	}
	o, err := a.owners()
	if err != nil {
		return err
	}
	if err := a.waitOwners(r, o); err != nil {
		return err
	}
	x := o.OwnerIndex()
	stale := o.OwnerStaleMS()
	setOwnerHeaders(w, x.Seq(), stale)
	setRevision(w, r.view.Rev)
	rec, ok := x.Get(kind, id)
	if !ok {
		return notRegistered(kind, id) // O6: unknown is 404, never "allowed"
	}
	acc := authz.CheckAccess(r.view.Eval, who, body.Action, rec, filterOn(r, kind))
	writeJSON(w, http.StatusOK, map[string]any{
		"allowed": acc.Allowed, "rule": acc.Rule, "status": acc.Status, "reason": acc.Reason,
		"seq": x.Seq(), "revision": r.view.Rev, "stale_ms": stale,
	})
	return nil
}

// visibleResources serves POST /_plugins/_authz/resources/{kind}/_visible
// with {"user", "action", "size", "after"}: the ids the user may see, in
// ascending order after the cursor, and the next cursor (null on the last page).
func (a *API) visibleResources(w http.ResponseWriter, r *request) error {
	kind := authz.OwnerKind(r.PathValue("kind"))
	if !kind.Valid() {
		return authz.StatusMessage(http.StatusBadRequest,
			fmt.Sprintf("Unknown resource kind '%s'; expected one of async_search, detector, monitor, model", kind))
	}
	var body struct {
		User   checkUser `json:"user"`
		Action string    `json:"action"`
		Size   *int      `json:"size"`
		After  string    `json:"after"`
	}
	if err := a.decodeStrict(r, &body); err != nil {
		return err
	}
	size := defaultPageSize
	if body.Size != nil {
		size = *body.Size
	}
	if size < 1 || size > maxPageSize {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("size must be 1 to %d", maxPageSize))
	}
	who, err := subjectFor(r, body.User)
	if err != nil {
		return err
	}
	action := body.Action
	if action == "" {
		action = kind.Actions().Get
	}
	ok, admin, reason := authz.Permitted(r.view.Eval, who, action)
	if !ok {
		return authz.OpenSearchError(http.StatusForbidden, "security_exception", reason)
	}
	fo := filterOn(r, kind)
	if !admin && kind != authz.KindAsyncSearch && fo && len(who.Subject.BackendRoles) == 0 {
		return authz.OpenSearchError(http.StatusForbidden, "status_exception", authz.NoBackendRoles(who.Subject.Name))
	}
	o, err := a.owners()
	if err != nil {
		return err
	}
	if err := a.waitOwners(r, o); err != nil {
		return err
	}
	x := o.OwnerIndex()
	ids, more := x.Visible(authz.VisibleQuery{Kind: kind, Subject: &who.Subject, Admin: admin, FilterOn: fo, After: body.After, Size: size})
	if ids == nil {
		ids = []string{}
	}
	var next any
	if more {
		next = ids[len(ids)-1]
	}
	stale := o.OwnerStaleMS()
	setOwnerHeaders(w, x.Seq(), stale)
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, map[string]any{"ids": ids, "next": next, "seq": x.Seq(), "stale_ms": stale})
	return nil
}

// flushCache drops cached credentials here and on every node (R-API-34).
// When the broadcast fails this node is flushed and the answer says the
// others may not be.
func (a *API) flushCache(w http.ResponseWriter, r *request, users []string) error {
	a.creds.flush(users...)
	msg := "Cache flushed successfully."
	if len(users) > 0 {
		msg = fmt.Sprintf("Cache flushed successfully for user '%s'.", users[0])
	}
	if f, ok := a.cfg.Backend.(Flusher); ok {
		ctx, cancel := contextWithTimeout(r.Context(), a.cfg.WriteTimeout)
		defer cancel()
		if err := f.BroadcastFlush(ctx, users); err != nil {
			a.log.Warn("cache flush not broadcast", "request_id", requestID(r.Request), "err", err)
			status(w, http.StatusServiceUnavailable, "Cache flushed on this node only: NATS is unavailable, other nodes were not reached")
			return nil
		}
	}
	status(w, http.StatusOK, msg)
	return nil
}

// userCache serves DELETE /api/cache/user/{name}: drop one user's cached
// credentials on every node.
func (a *API) userCache(w http.ResponseWriter, r *request) error {
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, r.Request, "DELETE")
	}
	return a.flushCache(w, r, []string{r.PathValue("name")})
}
