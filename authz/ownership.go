package authz

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
)

// OwnerKind is the kind of an owned resource (spec/ownership.md).
type OwnerKind string

// Owned resource kinds. Monitors and models follow the detector rule (O3).
const (
	KindAsyncSearch OwnerKind = "async_search"
	KindDetector    OwnerKind = "detector"
	KindMonitor     OwnerKind = "monitor"
	KindModel       OwnerKind = "model"
)

// OwnerKinds lists every kind.
var OwnerKinds = []OwnerKind{KindAsyncSearch, KindDetector, KindMonitor, KindModel}

// Valid reports whether k is a known kind.
func (k OwnerKind) Valid() bool { return slices.Contains(OwnerKinds, k) }

// KindActions are the transport actions a PEP checks for a kind: creating
// (registering) a resource, reading it and deleting it (O1).
type KindActions struct {
	Create, Get, Delete string
}

// Actions returns the plugin actions of kind k (the names the plugins'
// transport actions carry and their built-in roles grant).
func (k OwnerKind) Actions() KindActions {
	switch k {
	case KindAsyncSearch:
		p := "cluster:admin/opendistro/asynchronous_search/"
		return KindActions{p + "submit", p + "get", p + "delete"}
	case KindDetector:
		p := "cluster:admin/opendistro/ad/"
		return KindActions{p + "detector/write", p + "detectors/get", p + "detector/delete"}
	case KindMonitor:
		p := "cluster:admin/opendistro/alerting/monitor/"
		return KindActions{p + "write", p + "get", p + "delete"}
	case KindModel:
		p := "cluster:admin/opensearch/ml/"
		return KindActions{p + "register_model", p + "models/get", p + "models/delete"}
	}
	return KindActions{}
}

// Cluster settings that turn on the backend-role filter of the kinds that
// follow the detector rule (O3). The models of ml-commons have no such
// setting of their own (their access control is model groups); they follow
// the anomaly detection setting.
const (
	SettingADFilterByBackendRoles       = "plugins.anomaly_detection.filter_by_backend_roles"
	SettingAlertingFilterByBackendRoles = "plugins.alerting.filter_by_backend_roles"
)

// FilterSetting is the cluster setting that turns the O3 filter on for k,
// "" for async searches (O2 is always on).
func (k OwnerKind) FilterSetting() string {
	switch k {
	case KindDetector, KindModel:
		return SettingADFilterByBackendRoles
	case KindMonitor:
		return SettingAlertingFilterByBackendRoles
	}
	return ""
}

// Owner is the user who created a resource, as authenticated then. Later
// changes to the user do not rewrite it.
type Owner struct {
	Name         string   `json:"name"`
	BackendRoles []string `json:"backend_roles"`
	Roles        []string `json:"roles"`
}

// OwnerRecord is one ownership record.
type OwnerRecord struct {
	Kind  OwnerKind `json:"kind"`
	ID    string    `json:"id"`
	Owner Owner     `json:"owner"`
	// CreatedAt is the registering node's clock, Unix milliseconds.
	CreatedAt int64 `json:"created_at"`
	// Node is the id of the node that registered the record.
	Node string `json:"node"`
}

// Requester is who asks for access to an owned resource.
type Requester struct {
	// Subject is the user; its BackendRoles are the ones of this request.
	Subject Subject
	// AdminCert is set for the super admin certificate (O4, R-EVAL-2).
	AdminCert bool
}

// Access is the answer of CheckAccess.
type Access struct {
	// Allowed is the decision.
	Allowed bool `json:"allowed"`
	// Rule is the rule that decided: O1 (action permission), O2 (async
	// search backend-role superset), O3 (detector shared backend role), O4
	// (admin bypass), or "none" when no ownership rule restricts the kind.
	Rule string `json:"rule"`
	// Status is the HTTP status the plugin answers a refusal with (403, or
	// 404 for async searches, whose plugin hides what the user may not see);
	// 200 when allowed.
	Status int `json:"status"`
	// Reason is the plugin's refusal message; "" when allowed.
	Reason string `json:"reason,omitempty"`
	// Type is the OpenSearch exception type of the refusal.
	Type string `json:"-"`
}

// Error returns the refusal as the plugin's JSON error, nil when allowed.
func (a Access) Error() *Error {
	if a.Allowed {
		return nil
	}
	return OpenSearchError(a.Status, a.Type, a.Reason)
}

// OpenSearchError builds OpenSearch's exception body
// {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status"}.
func OpenSearchError(status int, typ, reason string) *Error {
	c := osCause{Type: typ, Reason: reason}
	body, _ := json.Marshal(osErrorBody{Error: osError{RootCause: []osCause{c}, Type: typ, Reason: reason}, Status: status})
	return &Error{Status: status, Body: body}
}

// osErrorBody and the types below are OpenSearch's error body, fields in its order.
type osErrorBody struct {
	Error  osError `json:"error"`
	Status int     `json:"status"`
}

type osError struct {
	RootCause []osCause `json:"root_cause"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
}

type osCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

var decisionPool = sync.Pool{New: func() any { return new(Decision) }}

// Permitted decides O1 and O4's role part: whether the requester may run
// action at all (an ordinary cluster privilege check with ev), and whether
// it is an admin (mapped to all_access, or the admin certificate). reason is
// the plugin's 403 text when not permitted. It allocates nothing when the
// action is permitted.
func Permitted(ev *Evaluator, r *Requester, action string) (ok, admin bool, reason string) {
	d := decisionPool.Get().(*Decision)
	req := Request{Subject: r.Subject, Action: action, AdminCert: r.AdminCert}
	ev.EvaluateInto(&req, d)
	ok = d.Allowed
	if !ok {
		reason = d.ReasonText()
	}
	// The pooled Decision keeps its role-name buffer, so this does not
	// allocate once warm.
	admin = r.AdminCert || slices.Contains(d.RoleNames(), "all_access")
	decisionPool.Put(d)
	return ok, admin, reason
}

// CheckAccess applies the ownership rules to one record: O1 action
// permission first (denied means 403 whatever the ownership), then the O4
// admin bypass, then O2 for async searches or, when filterOn, O3 for the
// kinds that follow the detector rule. It allocates nothing when access is
// allowed.
func CheckAccess(ev *Evaluator, r *Requester, action string, rec *OwnerRecord, filterOn bool) Access {
	ok, admin, reason := Permitted(ev, r, action)
	if !ok {
		return Access{Rule: "O1", Status: http.StatusForbidden, Type: "security_exception", Reason: reason}
	}
	if admin {
		return Access{Allowed: true, Rule: "O4", Status: http.StatusOK}
	}
	return ownerRule(&r.Subject, rec, filterOn)
}

// ownerRule is O2/O3 for a permitted, non-admin requester.
func ownerRule(s *Subject, rec *OwnerRecord, filterOn bool) Access {
	switch {
	case rec.Kind == KindAsyncSearch:
		if s.Name == rec.Owner.Name || isSubset(rec.Owner.BackendRoles, s.BackendRoles) {
			return Access{Allowed: true, Rule: "O2", Status: http.StatusOK}
		}
		// The plugin answers a search the user may not see like a missing one.
		return Access{Rule: "O2", Status: http.StatusNotFound, Type: "resource_not_found_exception",
			Reason: AsyncSearchNotFound(rec.ID)}
	case !filterOn:
		return Access{Allowed: true, Rule: "none", Status: http.StatusOK}
	case len(s.BackendRoles) == 0:
		return Access{Rule: "O3", Status: http.StatusForbidden, Type: "status_exception", Reason: NoBackendRoles(s.Name)}
	case intersects(rec.Owner.BackendRoles, s.BackendRoles):
		return Access{Allowed: true, Rule: "O3", Status: http.StatusOK}
	}
	return Access{Rule: "O3", Status: http.StatusForbidden, Type: "status_exception",
		Reason: "User does not have permissions to access " + string(rec.Kind) + ": " + rec.ID}
}

// CheckRegister decides whether r may register a new resource of kind as
// its owner: O1 with the kind's create action, and for the detector-rule
// kinds with the filter on, a requester without backend roles is refused
// (the plugin refuses to create detectors for such users).
func CheckRegister(ev *Evaluator, r *Requester, kind OwnerKind, filterOn bool) Access {
	ok, admin, reason := Permitted(ev, r, kind.Actions().Create)
	if !ok {
		return Access{Rule: "O1", Status: http.StatusForbidden, Type: "security_exception", Reason: reason}
	}
	if !admin && kind != KindAsyncSearch && filterOn && len(r.Subject.BackendRoles) == 0 {
		return Access{Rule: "O3", Status: http.StatusForbidden, Type: "status_exception", Reason: NoBackendRoles(r.Subject.Name)}
	}
	return Access{Allowed: true, Rule: "O1", Status: http.StatusOK}
}

// AsyncSearchNotFound is the asynchronous search plugin's answer for a
// search that does not exist or that the user may not see.
func AsyncSearchNotFound(id string) string {
	return "Either the resource [" + id + "] does not exist or you do not have access"
}

// NoBackendRoles is the anomaly detection plugin's refusal of a user without
// backend roles while the filter is on.
func NoBackendRoles(user string) string {
	return "Filter by backend roles is enabled and User " + user + " does not have backend roles configured"
}

// isSubset reports sub ⊆ super (small lists: quadratic beats a set).
func isSubset(sub, super []string) bool {
	for _, r := range sub {
		if !slices.Contains(super, r) {
			return false
		}
	}
	return true
}

func intersects(a, b []string) bool {
	for _, r := range a {
		if slices.Contains(b, r) {
			return true
		}
	}
	return false
}
