package api

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/fsm"
)

// authzd's own configuration endpoints (DESIGN.md §6):
//
//	GET /_plugins/_authz/config[?types=roles,tenants]   export the documents
//	PUT /_plugins/_authz/config[?dry_run=true]          replace them (1 event)
//	GET /_plugins/_authz/events[?size=N&before=REV]     the change history
//
// They sit behind the REST API gate; the config endpoint also needs admin
// rights for every type it reads or writes (configAdmin).

// configDocs is the body of GET and PUT /_plugins/_authz/config: the
// documents of authz.Config.Docs by configuration type.
type configDocs struct {
	Revision uint64                     `json:"revision,omitempty"`
	Docs     map[string]json.RawMessage `json:"docs"`
}

// replaceAnswer is the answer of PUT /_plugins/_authz/config.
type replaceAnswer struct {
	// Revision is the revision of the applied event, or the current one for a
	// dry run or a replacement that changed nothing.
	Revision  uint64 `json:"revision"`
	DryRun    bool   `json:"dry_run"`
	Unchanged bool   `json:"unchanged"`
	Added     int    `json:"added"`
	Changed   int    `json:"changed"`
	Removed   int    `json:"removed"`
	// Changes lists the changes, at most maxListedChanges; Truncated is set
	// when there were more.
	Changes   []authz.Change  `json:"changes"`
	Truncated bool            `json:"truncated,omitempty"`
	Warnings  []authz.Problem `json:"warnings"`
}

const maxListedChanges = 1000

// configTypeEndpoint is the endpoint whose admin right a configuration type
// needs in configAdmin. audit needs none: its REST endpoint is open to every
// caller past the gate.
var configTypeEndpoint = map[string]struct {
	ep     authz.Endpoint
	action string
}{
	"internalusers": {authz.EndpointInternalUsers, ""}, "roles": {authz.EndpointRoles, ""},
	"rolesmapping": {authz.EndpointRolesMapping, ""}, "actiongroups": {authz.EndpointActionGroups, ""},
	"tenants": {authz.EndpointTenants, ""}, "nodesdn": {authz.EndpointNodesDN, ""},
	"allowlist": {authz.EndpointAllowlist, ""}, "config": {authz.EndpointConfig, authz.AdminActionConfigUpdate},
}

// configAdmin checks that the caller is admin for every type: the super admin
// certificate, or with plugins.security.restapi.admin.enabled the restapi:admin
// permission of each type's endpoint. Replacing whole types bypasses the
// per-entity rules (reserved, hidden, R-API-7), as securityadmin does, so
// nothing less is accepted.
func (a *API) configAdmin(r *request, types []string) error {
	for _, t := range types {
		if e, ok := configTypeEndpoint[t]; ok && !a.isAdminFor(r, e.ep, e.action) {
			return accessDenied()
		}
	}
	return nil
}

// exportConfig serves GET /_plugins/_authz/config: the live configuration as
// documents (statics left out, password hashes included), for authzctl export
// and diff.
func (a *API) exportConfig(w http.ResponseWriter, r *request) error {
	types := authz.ConfigTypes
	if q := r.URL.Query().Get("types"); q != "" {
		types = strings.Split(q, ",")
		for _, t := range types {
			if !slices.Contains(authz.ConfigTypes, t) {
				return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("unknown configuration type '%s'", t))
			}
		}
	}
	if err := a.configAdmin(r, types); err != nil {
		return err
	}
	docs := map[string]json.RawMessage{}
	for t, d := range r.view.Config.Docs(types) {
		docs[t] = d
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, configDocs{Revision: r.view.Rev, Docs: docs})
	return nil
}

// replaceConfig serves PUT /_plugins/_authz/config: the documents are
// validated on this node against the current state (all errors at once),
// then proposed as one config.replace event, which every node applies only
// if it still validates. With dry_run=true nothing is proposed. The answer
// counts and lists the changes and carries the warnings of authz.Check and of
// the compiler (patterns that match nothing, action group cycles).
func (a *API) replaceConfig(w http.ResponseWriter, r *request) error {
	raw, err := a.readConfigBody(r.Request)
	if err != nil {
		return err
	}
	var body configDocs
	if err := json.Unmarshal(raw, &body); err != nil || body.Docs == nil {
		return authz.Reason("Could not parse content of request.")
	}
	types := make([]string, 0, len(body.Docs))
	docs := events.Docs{}
	for t, d := range body.Docs {
		if !slices.Contains(authz.ConfigTypes, t) {
			return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("unknown configuration type '%s'", t))
		}
		types = append(types, t)
		docs[t] = d
	}
	if err := a.configAdmin(r, types); err != nil {
		return err
	}
	next, e := authz.Replace(r.view.Config, docs)
	if e != nil {
		return e
	}
	ans := replaceAnswer{Revision: r.view.Rev, Changes: []authz.Change{}, Warnings: next.Check()}
	if ev, err := authz.Compile(next, authz.Settings{}); err == nil {
		for _, wmsg := range ev.Warnings() {
			ans.Warnings = append(ans.Warnings, authz.Problem{Type: "compile", Message: wmsg, Warning: true})
		}
	}
	if ans.Warnings == nil {
		ans.Warnings = []authz.Problem{}
	}
	changes := authz.Diff(r.view.Config, next)
	ans.count(changes)
	ans.DryRun, _ = strconv.ParseBool(r.URL.Query().Get("dry_run"))
	if ans.DryRun || len(changes) == 0 {
		ans.Unchanged = len(changes) == 0
		setRevision(w, r.view.Rev)
		writeJSON(w, http.StatusOK, ans)
		return nil
	}
	res, err := a.propose(r, events.ConfigReplace, events.Replace{Docs: docs})
	if err != nil {
		return err
	}
	ans.Revision = res.Rev
	ans.Unchanged = res.Unchanged
	a.creds.flush() // hashes may have changed for any user
	setRevision(w, res.Rev)
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (ans *replaceAnswer) count(changes []authz.Change) {
	for _, c := range changes {
		switch c.Op {
		case "added":
			ans.Added++
		case "changed":
			ans.Changed++
		default:
			ans.Removed++
		}
	}
	if len(changes) > maxListedChanges {
		ans.Changes, ans.Truncated = changes[:maxListedChanges], true
	} else {
		ans.Changes = changes
	}
}

// readConfigBody reads a whole-configuration body, gzip-compressed or not,
// within MaxConfigBytes (after decompression).
func (a *API) readConfigBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, authz.Reason("Could not parse content of request.")
		}
		defer zr.Close()
		rd = zr
	}
	b, err := io.ReadAll(io.LimitReader(rd, a.cfg.MaxConfigBytes+1))
	if err != nil {
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, authz.Reason("Could not parse content of request.")
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > a.cfg.MaxConfigBytes {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

// eventsPage is the answer of GET /_plugins/_authz/events.
type eventsPage struct {
	Events []fsm.Record `json:"events"`
	// Next is the value of before for the next (older) page; absent on the last.
	Next uint64 `json:"next_before,omitempty"`
}

// events serves GET /_plugins/_authz/events: the latest applied changes,
// newest first, size per page (default 50, at most 1000), older pages with
// before=<next_before>. The state keeps fsm.HistoryLimit records, so every
// node answers the same at the same revision.
func (a *API) events(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	size := 50
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("size must be an integer from 1 to 1000, got '%s'", s))
		}
		size = n
	}
	var before uint64
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("before must be a revision, got '%s'", s))
		}
		before = n
	}
	recs, more := r.view.History.Page(before, size)
	page := eventsPage{Events: recs}
	if page.Events == nil {
		page.Events = []fsm.Record{}
	}
	if more && len(recs) > 0 {
		page.Next = recs[len(recs)-1].Rev
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, page)
	return nil
}
