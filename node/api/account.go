package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// accountInfo is the body of GET /api/account (R-INFO-3).
type accountInfo struct {
	UserName            string          `json:"user_name"`
	IsReserved          bool            `json:"is_reserved"`
	IsHidden            bool            `json:"is_hidden"`
	IsInternalUser      bool            `json:"is_internal_user"`
	UserRequestedTenant *string         `json:"user_requested_tenant"`
	BackendRoles        []string        `json:"backend_roles"`
	CustomAttributes    []string        `json:"custom_attribute_names"`
	Tenants             map[string]bool `json:"tenants"`
	Roles               []string        `json:"roles"`
}

func (a *API) getAccount(w http.ResponseWriter, r *request) error {
	c := r.caller
	u, internal := r.view.Config.InternalUsers[c.Name]
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, accountInfo{
		UserName:            c.Name,
		IsReserved:          internal && u.Reserved,
		IsHidden:            internal && u.Hidden,
		IsInternalUser:      internal,
		UserRequestedTenant: requestedTenant(c),
		BackendRoles:        sorted(c.Subject.BackendRoles),
		CustomAttributes:    attributeNames(c),
		Tenants:             r.view.Eval.Tenants(&c.Subject, c.Roles),
		Roles:               sorted(c.Roles),
	})
	return nil
}

// putAccount changes the caller's own password (R-API-35).
func (a *API) putAccount(w http.ResponseWriter, r *request) error {
	c := r.caller
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil || body == nil {
		return authz.Reason("Could not parse content of request.")
	}
	if len(body) == 0 {
		return authz.Reason("Request body required for this action.")
	}
	var invalid []string
	for k := range body {
		if k != "current_password" && k != "password" && k != "hash" {
			invalid = append(invalid, k)
		}
	}
	if len(invalid) > 0 || body["current_password"] == nil {
		return invalidConfiguration(invalid, body["current_password"] == nil)
	}
	strs := map[string]string{}
	for k, v := range body {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			b, _ := json.Marshal(map[string]string{"status": "error", "reason": "Wrong datatype", k: "String expected"})
			return &authz.Error{Status: http.StatusBadRequest, Body: b}
		}
		strs[k] = s
	}
	u, ok := r.view.Config.InternalUsers[c.Name]
	if !c.Internal || !ok {
		return authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("account '%s' not found.", c.Name))
	}
	if !authz.VerifyPassword(u.Hash, strs["current_password"]) {
		return authz.StatusMessage(http.StatusBadRequest, "Could not validate your current password.")
	}
	hash := strs["hash"]
	if pw := strs["password"]; pw != "" {
		if hash, err = a.hashPassword(c.Name, pw); err != nil {
			return err
		}
	}
	if hash == "" {
		return authz.StatusMessage(http.StatusBadRequest, "Both provided password and hash cannot be null/empty.")
	}
	res, err := a.propose(r, events.AccountPassword, events.PasswordChange{Name: c.Name, Hash: hash, Admin: a.isAdminFor(r, authz.EndpointAccount, "")})
	if err != nil {
		return err
	}
	a.creds.flush(c.Name)
	setRevision(w, res.Rev)
	status(w, http.StatusOK, fmt.Sprintf("'%s' updated.", c.Name))
	return nil
}

// invalidConfiguration builds the R-API-14 body for unknown and missing keys.
func invalidConfiguration(invalid []string, missingCurrent bool) *authz.Error {
	type keys struct {
		Keys string `json:"keys"`
	}
	body := struct {
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Invalid *keys  `json:"invalid_keys,omitempty"`
		Missing *keys  `json:"missing_mandatory_keys,omitempty"`
	}{Status: "error", Reason: "Invalid configuration"}
	if len(invalid) > 0 {
		sort.Strings(invalid)
		body.Invalid = &keys{strings.Join(invalid, ",")}
	}
	if missingCurrent {
		body.Missing = &keys{"current_password"}
	}
	b, _ := json.Marshal(body)
	return &authz.Error{Status: http.StatusBadRequest, Body: b}
}

func requestedTenant(c *Caller) *string {
	if c.Subject.RequestedTenant == "" {
		return nil
	}
	t := c.Subject.RequestedTenant
	return &t
}

func attributeNames(c *Caller) []string {
	out := make([]string, 0, len(c.Subject.Attributes))
	for k := range c.Subject.Attributes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sorted returns a sorted copy, never nil (JSON shows []).
func sorted(in []string) []string {
	out := slices.Clone(in)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
