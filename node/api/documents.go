package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/fsm"
)

// The single-document endpoints: securityconfig (R-API-30), audit (R-API-33),
// allowlist (R-API-32) and tenancy/config. Each GET answers
// {"config": <document>} like the plugin's one-entry configurations; PUT
// replaces the document and PATCH applies RFC 6902 operations whose paths
// start with /config.

// getSecurityConfig serves GET /securityconfig: the configuration with its
// defaults, "password" values redacted.
func (a *API) getSecurityConfig(w http.ResponseWriter, r *request) error {
	doc, e := authz.NormalizeSecurityConfig(r.view.Config.SecurityConfig)
	if e != nil {
		return e
	}
	setRevision(w, r.view.Rev)
	writeRaw(w, http.StatusOK, configEntry(authz.RedactSecurityConfig(doc)))
	return nil
}

// mayWriteSecurityConfig is the access rule of PUT and PATCH securityconfig
// (R-API-30): with plugins.security.restapi.admin.enabled, admin for
// restapi:admin/config/update; without it, the setting
// plugins.security.unsupported.restapi.allow_securityconfig_modification, or
// (authzd) the super admin certificate.
func (a *API) mayWriteSecurityConfig(r *request) bool {
	if a.cfg.Settings.AdminEnabled {
		return a.isAdminFor(r, authz.EndpointConfig, authz.AdminActionConfigUpdate)
	}
	return a.cfg.Settings.AllowSecurityConfigModification || r.caller.SuperAdmin
}

// putSecurityConfig serves PUT /securityconfig/config.
func (a *API) putSecurityConfig(w http.ResponseWriter, r *request) error {
	if !a.mayWriteSecurityConfig(r) {
		return accessDenied()
	}
	return a.putDocument(w, r, events.SecurityConfigPut, authz.ParseSecurityConfigBody, false)
}

// patchSecurityConfig serves PATCH /securityconfig.
func (a *API) patchSecurityConfig(w http.ResponseWriter, r *request) error {
	if !a.mayWriteSecurityConfig(r) {
		return accessDenied()
	}
	return a.patchDocument(w, r, events.SecurityConfigPatch, false)
}

// auditEnabled is the plugin's "audit hot reloading": without an audit
// configuration every audit method answers 501.
func auditEnabled(r *request) error {
	if len(r.view.Config.Audit) == 0 {
		return notImplemented(r.Method)
	}
	return nil
}

// getAudit serves GET /audit: {"_readonly":[...],"config":{...}}.
func (a *API) getAudit(w http.ResponseWriter, r *request) error {
	if err := auditEnabled(r); err != nil {
		return err
	}
	doc, e := authz.NormalizeAudit(r.view.Config.Audit)
	if e != nil {
		return e
	}
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, struct {
		Readonly []string        `json:"_readonly"`
		Config   json.RawMessage `json:"config"`
	}{authz.AuditReadonly, doc})
	return nil
}

// putAudit serves PUT /audit/config. The audit endpoint has no restapi:admin
// permission: any caller past the gate may write it, and only a super admin
// may change its read-only paths.
func (a *API) putAudit(w http.ResponseWriter, r *request) error {
	if err := auditEnabled(r); err != nil {
		return err
	}
	return a.putDocument(w, r, events.AuditPut, authz.ParseAuditBody, r.caller.SuperAdmin)
}

// patchAudit serves PATCH /audit.
func (a *API) patchAudit(w http.ResponseWriter, r *request) error {
	if err := auditEnabled(r); err != nil {
		return err
	}
	return a.patchDocument(w, r, events.AuditPatch, r.caller.SuperAdmin)
}

// allowlistAdmin: every allowlist method needs admin for ALLOWLIST.
func (a *API) allowlistAdmin(r *request) error {
	if !a.isAdminFor(r, authz.EndpointAllowlist, "") {
		return accessDenied()
	}
	return nil
}

// getAllowlist serves GET /allowlist; without an allowlist configuration the
// answer is {} (no entry), as for the plugin's empty configuration.
func (a *API) getAllowlist(w http.ResponseWriter, r *request) error {
	if err := a.allowlistAdmin(r); err != nil {
		return err
	}
	setRevision(w, r.view.Rev)
	if len(r.view.Config.Allowlist) == 0 {
		writeRaw(w, http.StatusOK, []byte("{}"))
		return nil
	}
	doc, e := authz.NormalizeAllowlist(r.view.Config.Allowlist)
	if e != nil {
		return e
	}
	writeRaw(w, http.StatusOK, configEntry(doc))
	return nil
}

// putAllowlist serves PUT /allowlist.
func (a *API) putAllowlist(w http.ResponseWriter, r *request) error {
	if err := a.allowlistAdmin(r); err != nil {
		return err
	}
	return a.putDocument(w, r, events.AllowlistPut, authz.ParseAllowlistBody, true)
}

// patchAllowlist serves PATCH /allowlist.
func (a *API) patchAllowlist(w http.ResponseWriter, r *request) error {
	if err := a.allowlistAdmin(r); err != nil {
		return err
	}
	return a.patchDocument(w, r, events.AllowlistPatch, true)
}

// putDocument validates a document body and proposes it: 200 "'config'
// updated." or 201 "'config' created." (R-API-3).
func (a *API) putDocument(w http.ResponseWriter, r *request, typ events.Type, parse func([]byte) (json.RawMessage, *authz.Error), admin bool) error {
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	doc, e := parse(raw)
	if e != nil {
		return e
	}
	res, err := a.propose(r, typ, events.DocPut{Doc: doc, Admin: admin})
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	if res.Created {
		status(w, http.StatusCreated, "'config' created.")
	} else {
		status(w, http.StatusOK, "'config' updated.")
	}
	return nil
}

// patchDocument proposes RFC 6902 operations on {"config": <document>}; the
// state machine applies and validates them against the current document.
func (a *API) patchDocument(w http.ResponseWriter, r *request, typ events.Type, admin bool) error {
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if e := fsm.ValidatePatch(raw); e != nil {
		return e
	}
	res, err := a.propose(r, typ, events.DocPatch{Ops: raw, Admin: admin})
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	if res.Unchanged {
		status(w, http.StatusOK, "No updates required")
	} else {
		status(w, http.StatusOK, "Resource updated.")
	}
	return nil
}

// configEntry wraps a document as {"config": <document>}.
func configEntry(doc json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteString(`{"config":`)
	b.Write(doc)
	b.WriteByte('}')
	return b.Bytes()
}

// tenancyView is the body of GET and PUT tenancy/config.
type tenancyView struct {
	DefaultTenant        *string  `json:"default_tenant"`
	PrivateTenantEnabled bool     `json:"private_tenant_enabled"`
	MultitenancyEnabled  bool     `json:"multitenancy_enabled"`
	SignInOptions        []string `json:"sign_in_options"`
}

func tenancyOf(c *authz.Config) tenancyView {
	k := authz.SecurityConfigOf(c.SecurityConfig).Dynamic.Kibana
	return tenancyView{DefaultTenant: k.DefaultTenant, PrivateTenantEnabled: k.PrivateTenantEnabled,
		MultitenancyEnabled: k.MultitenancyEnabled, SignInOptions: k.SignInOptions}
}

// getTenancy serves GET tenancy/config (MultiTenancyConfigApiAction).
func (a *API) getTenancy(w http.ResponseWriter, r *request) error {
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, tenancyOf(r.view.Config))
	return nil
}

// putTenancy serves PUT tenancy/config: the given keys of
// config.dynamic.kibana are set by one securityconfig.patch event, which the
// state machine checks against the tenants and authentication domains of the
// state it applies to. The answer is the new tenancy configuration.
func (a *API) putTenancy(w http.ResponseWriter, r *request) error {
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	ops, e := authz.TenancyPatch(raw)
	if e != nil {
		return e
	}
	res, err := a.propose(r, events.SecurityConfigPatch, events.DocPatch{Ops: ops, Admin: r.caller.SuperAdmin, Tenancy: true})
	if err != nil {
		return err
	}
	ctx, cancel := contextWithTimeout(r.Context(), a.cfg.RevisionWait)
	defer cancel()
	if err := a.cfg.Backend.WaitFor(ctx, res.Rev); err != nil {
		return fmt.Errorf("wait for revision %d: %w", res.Rev, err)
	}
	setRevision(w, res.Rev)
	writeJSON(w, http.StatusOK, tenancyOf(a.cfg.Backend.View().Config))
	return nil
}
