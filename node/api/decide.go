package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// evaluateOthersAction is the cluster permission needed to decide for a subject
// other than the caller (all_access has it through cluster "*").
const evaluateOthersAction = "cluster:admin/authz/evaluate"

// maxBatch bounds the requests of one _batch call.
const maxBatch = 10_000

// decisionUser is the subject of a decision request. A field left out (as
// opposed to given empty) is taken from the internal user of that name when
// only the name is given.
type decisionUser struct {
	Name            string            `json:"name"`
	BackendRoles    []string          `json:"backend_roles"`
	Roles           []string          `json:"roles"`
	Attributes      map[string]string `json:"attributes"`
	RequestedTenant *string           `json:"requested_tenant"`
}

// nameOnly reports whether only the name was given.
func (u *decisionUser) nameOnly() bool {
	return u.BackendRoles == nil && u.Roles == nil && u.Attributes == nil && u.RequestedTenant == nil
}

// decisionRequest is one question to POST /_plugins/_authz/evaluate (R-EVAL-1).
type decisionRequest struct {
	User              *decisionUser       `json:"user"`
	RemoteAddress     string              `json:"remote_address"`
	RemoteHost        string              `json:"remote_host"`
	Action            string              `json:"action"`
	Indices           []string            `json:"indices"`
	RemoteIndices     []string            `json:"remote_indices"`
	AllIndices        bool                `json:"all_indices"`
	IndexParents      map[string][]string `json:"index_parents"`
	BulkItems         []string            `json:"bulk_items"`
	CreateWithAliases bool                `json:"create_with_aliases"`
	RemovesIndex      bool                `json:"removes_index"`
	Tenant            string              `json:"tenant"`
	TenantAccess      string              `json:"tenant_access"`
	Explain           bool                `json:"explain"`
}

// decisionResponse is the answer to one decisionRequest.
type decisionResponse struct {
	Allowed bool                     `json:"allowed"`
	Reason  string                   `json:"reason,omitempty"`
	Roles   []string                 `json:"roles"`
	Missing []string                 `json:"missing,omitempty"`
	Indices map[string]indexDecision `json:"indices,omitempty"`
	// EffectiveIndices is present (possibly empty) when the request was
	// reduced: the PEP rewrites the request to these indices (R-EVAL-9).
	EffectiveIndices *[]string       `json:"effective_indices,omitempty"`
	Tenants          map[string]bool `json:"tenants,omitempty"`
	TenantAccess     string          `json:"tenant_access,omitempty"`
	Revision         uint64          `json:"revision"`
	Explain          *authz.Explain  `json:"explain,omitempty"`
}

// indexDecision is the per-index part of a response (R-DLS-4 REST shape).
type indexDecision struct {
	Allowed      bool     `json:"allowed"`
	Missing      []string `json:"missing,omitempty"`
	DLS          []string `json:"dls,omitempty"`
	FLS          *fieldLS `json:"fls,omitempty"`
	MaskedFields []string `json:"masked_fields,omitempty"`
	SystemIndex  bool     `json:"system_index,omitempty"`
}

// fieldLS is field-level security as a mode and a field list (R-DLS-3).
type fieldLS struct {
	Mode   string   `json:"mode"`
	Fields []string `json:"fields"`
}

// errorItem is a refused item of a batch, in OpenSearch's error shape.
type errorItem struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

// evaluate serves POST /_plugins/_authz/evaluate. The common request takes
// the allocation-light path of evaljson.go; explain and every request the
// scanner leaves alone take decide and encoding/json.
func (a *API) evaluate(w http.ResponseWriter, r *request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r.Request, "POST")
	}
	s := getEvalScratch()
	defer s.put()
	var err error
	if s.body, err = readBodyInto(s.body[:0], r.Request, a.cfg.MaxBodyBytes); err != nil {
		return err
	}
	q := &s.q
	if !s.scan(s.body) {
		*q = decisionRequest{}
		if err := decodeStrictBytes(s.body, q); err != nil {
			return err
		}
	}
	if q.Explain {
		resp, err := a.decide(r, q)
		if err != nil {
			return err
		}
		a.met.decided(apiEvaluate, resp.Allowed)
		setRevision(w, r.view.Rev)
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	req, err := a.evalRequest(r, q)
	if err != nil {
		return err
	}
	r.view.Eval.EvaluateInto(&req, &s.d)
	s.out = s.appendDecision(s.out[:0], q, r.view.Rev)
	a.met.decided(apiEvaluate, s.d.Allowed)
	setRevision(w, r.view.Rev)
	writeRaw(w, http.StatusOK, s.out)
	return nil
}

// evaluateBatch serves POST /_plugins/_authz/evaluate/_batch: every request is
// decided against the same revision and answered in order; an item the caller
// may not ask gets an error object in its place. A body the scanner reads
// whole takes batchFast; any other takes evaluateBatchJSON.
func (a *API) evaluateBatch(w http.ResponseWriter, r *request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r.Request, "POST")
	}
	s := getEvalScratch()
	defer s.put()
	var err error
	if s.body, err = readBodyInto(s.body[:0], r.Request, a.cfg.MaxBodyBytes); err != nil {
		return err
	}
	if done, err := a.batchFast(w, r, s); done {
		return err
	}
	return a.evaluateBatchJSON(w, r, s.body)
}

// evaluateBatchJSON is evaluateBatch through encoding/json, which also words
// every error of the body.
func (a *API) evaluateBatchJSON(w http.ResponseWriter, r *request, raw []byte) error {
	var body struct {
		Requests []decisionRequest `json:"requests"`
	}
	if err := decodeStrictBytes(raw, &body); err != nil {
		return err
	}
	if len(body.Requests) > maxBatch {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("A batch holds at most %d requests, got %d", maxBatch, len(body.Requests)))
	}
	out := make([]any, len(body.Requests))
	for i := range body.Requests {
		resp, err := a.decide(r, &body.Requests[i])
		var ae *authz.Error
		if errors.As(err, &ae) {
			out[i] = errorItem{Status: ae.Status, Error: errorPart(ae)}
			a.met.decisions.WithLabelValues(apiBatch, "error").Inc()
			continue
		}
		if err != nil {
			return err
		}
		a.met.decided(apiBatch, resp.Allowed)
		out[i] = resp
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, map[string]any{"revision": r.view.Rev, "responses": out})
	return nil
}

// hasPrivileges serves POST /_plugins/_authz/has_privileges, the
// Elasticsearch-style matrix: every cluster action, and every index × action
// pair, decided alone.
func (a *API) hasPrivileges(w http.ResponseWriter, r *request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r.Request, "POST")
	}
	var body struct {
		User          *decisionUser `json:"user"`
		RemoteAddress string        `json:"remote_address"`
		Cluster       []string      `json:"cluster"`
		Index         []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"index"`
	}
	if err := a.decodeStrict(r, &body); err != nil {
		return err
	}
	s, err := a.subjectFor(r, body.User, body.RemoteAddress)
	if err != nil {
		return err
	}
	all := true
	cluster := map[string]bool{}
	for _, action := range body.Cluster {
		d := r.view.Eval.Evaluate(&authz.Request{Subject: s, Action: action})
		cluster[action] = d.Allowed
		all = all && d.Allowed
	}
	index := map[string]map[string]bool{}
	for _, ip := range body.Index {
		for _, name := range ip.Names {
			if index[name] == nil {
				index[name] = map[string]bool{}
			}
			for _, action := range ip.Privileges {
				d := r.view.Eval.Evaluate(&authz.Request{Subject: s, Action: action, Indices: []string{name}})
				index[name][action] = d.Allowed
				all = all && d.Allowed
			}
		}
	}
	a.met.decided(apiHasPrivileges, all)
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, map[string]any{
		"username": s.Name, "has_all_requested": all, "cluster": cluster, "index": index, "revision": r.view.Rev,
	})
	return nil
}

// decide answers one request against the request's view.
func (a *API) decide(r *request, q *decisionRequest) (*decisionResponse, error) {
	req, err := a.evalRequest(r, q)
	if err != nil {
		return nil, err
	}
	eval := r.view.Eval
	if q.Explain {
		eval = eval.WithProvenance(provenance(r.view))
	}
	d := eval.Evaluate(&req)
	resp := &decisionResponse{
		Allowed: d.Allowed, Reason: d.Reason, Roles: d.Roles, Missing: d.Missing,
		Tenants: d.Tenants, TenantAccess: d.TenantAccess, Revision: r.view.Rev, Explain: d.Explain,
	}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if d.EffectiveIndices != nil {
		eff := slices.Clone(d.EffectiveIndices)
		resp.EffectiveIndices = &eff
	}
	if len(q.Indices) > 0 && (len(d.Indices) > 0 || !authz.IsClusterAction(q.Action)) {
		resp.Indices = make(map[string]indexDecision, len(q.Indices))
		for _, idx := range q.Indices {
			id, ok := d.Indices[idx]
			if !ok {
				resp.Indices[idx] = indexDecision{Allowed: d.Allowed}
				continue
			}
			resp.Indices[idx] = indexDecision{
				Allowed: id.Allowed, Missing: id.Missing, DLS: id.DLS, FLS: fieldLevel(id.FLS),
				MaskedFields: id.MaskedFields, SystemIndex: id.SystemIndex,
			}
		}
	}
	return resp, nil
}

// evalRequest is the engine's request for q, with its subject resolved.
func (a *API) evalRequest(r *request, q *decisionRequest) (authz.Request, error) {
	s, err := a.subjectFor(r, q.User, q.RemoteAddress)
	if err != nil {
		return authz.Request{}, err
	}
	s.RemoteHost = q.RemoteHost
	if q.Action == "" && q.Tenant == "" {
		return authz.Request{}, authz.StatusMessage(http.StatusBadRequest, "A decision request needs an action or a tenant")
	}
	return authz.Request{
		Subject: s, Action: q.Action, Indices: q.Indices, RemoteIndices: q.RemoteIndices,
		AllIndices: q.AllIndices, IndexParents: q.IndexParents, BulkItems: q.BulkItems,
		CreateWithAliases: q.CreateWithAliases, RemovesIndex: q.RemovesIndex,
		Tenant: q.Tenant, TenantAccess: q.TenantAccess, Explain: q.Explain,
	}, nil
}

// subjectFor resolves the subject of a decision (issue 4 §4): no user means the
// caller; a user given by name only that names an internal user takes that
// user's backend roles, roles and attributes; otherwise the fields are used as
// given (a user authenticated elsewhere, e.g. LDAP or SAML). Deciding for anyone
// but oneself needs the cluster permission cluster:admin/authz/evaluate.
func (a *API) subjectFor(r *request, u *decisionUser, remote string) (authz.Subject, error) {
	c := r.caller
	if u == nil || (u.nameOnly() && u.Name == c.Name && !c.SuperAdmin) {
		s := c.Subject
		if remote != "" {
			s.RemoteIP = remote
		}
		return s, nil
	}
	if u.Name == "" {
		return authz.Subject{}, authz.StatusMessage(http.StatusBadRequest, "user.name is required")
	}
	if err := a.mayAskForOthers(r); err != nil {
		return authz.Subject{}, err
	}
	var s authz.Subject
	if iu, ok := r.view.Config.InternalUsers[u.Name]; ok && u.nameOnly() {
		s = subjectOf(u.Name, iu)
	} else {
		s = authz.Subject{Name: u.Name, BackendRoles: u.BackendRoles, SecurityRoles: u.Roles, Attributes: u.Attributes}
		if u.RequestedTenant != nil {
			s.RequestedTenant = *u.RequestedTenant
		}
	}
	s.RemoteIP = remote
	return s, nil
}

// fieldLevel turns the raw FLS entries into the REST shape (R-DLS-3): when any
// entry is an exclusion (~ or !), only the exclusions apply.
func fieldLevel(raw []string) *fieldLS {
	if len(raw) == 0 {
		return nil
	}
	var incl, excl []string
	for _, f := range raw {
		if strings.HasPrefix(f, "~") || strings.HasPrefix(f, "!") {
			excl = append(excl, f[1:])
		} else {
			incl = append(incl, f)
		}
	}
	if len(excl) > 0 {
		slices.Sort(excl)
		return &fieldLS{Mode: "exclude", Fields: slices.Compact(excl)}
	}
	slices.Sort(incl)
	return &fieldLS{Mode: "include", Fields: slices.Compact(incl)}
}

// provenance answers explain's "who changed this last" from the view's change
// records.
func provenance(v *fsm.View) func(authz.Kind, string) any {
	return func(kind authz.Kind, name string) any {
		if ch, ok := v.Change(kind, name); ok {
			return ch
		}
		return nil
	}
}

// errorPart is the "error" object of an OpenSearch error body, or the whole
// body for the plugin's {"status","message"} shape.
func errorPart(e *authz.Error) json.RawMessage {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(e.Body, &env) == nil && len(env.Error) > 0 {
		return env.Error
	}
	return e.Body
}

// privileges serves GET /_plugins/_authz/privileges/{user}: the effective
// cluster, index and tenant privileges of an internal user (or of a user known
// only by name), action groups expanded. Asking about anyone but oneself needs
// cluster:admin/authz/evaluate.
func (a *API) privileges(w http.ResponseWriter, r *request) error {
	name := r.PathValue("user")
	s, err := a.subjectFor(r, &decisionUser{Name: name}, "")
	if err != nil {
		return err
	}
	p := r.view.Eval.EffectivePrivileges(&s)
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, struct {
		User string `json:"user"`
		authz.Privileges
		Revision uint64 `json:"revision"`
	}{name, p, r.view.Rev})
	return nil
}

// whoCan serves POST /_plugins/_authz/who_can {"action","index"?}: the roles,
// users, backend roles and hosts (and the mapping patterns) that may perform
// the action (on the index). It reveals other users' access, so it needs
// cluster:admin/authz/evaluate.
func (a *API) whoCan(w http.ResponseWriter, r *request) error {
	var body struct {
		Action string `json:"action"`
		Index  string `json:"index"`
	}
	if err := a.decodeStrict(r, &body); err != nil {
		return err
	}
	if body.Action == "" {
		return authz.StatusMessage(http.StatusBadRequest, "action is required")
	}
	if err := a.mayAskForOthers(r); err != nil {
		return err
	}
	res := r.view.Eval.WhoCan(body.Action, body.Index)
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, struct {
		authz.WhoCanResult
		Revision uint64 `json:"revision"`
	}{res, r.view.Rev})
	return nil
}

// mayAskForOthers checks that the caller may see decisions about others: the
// super admin certificate, or the cluster permission cluster:admin/authz/evaluate.
func (a *API) mayAskForOthers(r *request) error {
	if r.caller.SuperAdmin {
		return nil
	}
	d := r.view.Eval.Evaluate(&authz.Request{Subject: r.caller.Subject, Action: evaluateOthersAction})
	if !d.Allowed {
		return authz.OpenSearchError(http.StatusForbidden, "security_exception", d.Reason)
	}
	return nil
}
