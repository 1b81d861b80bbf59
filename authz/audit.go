package authz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// AuditConfig is audit.yml's `config` object as the plugin models it
// (AuditConfig with its Filter and ComplianceConfig), defaults filled in. authzd
// stores and serves it; it writes no audit log of its own (R-API-33).
type AuditConfig struct {
	Enabled    bool             `json:"enabled"`
	Audit      AuditFilter      `json:"audit"`
	Compliance ComplianceConfig `json:"compliance"`
}

// AuditFilter is AuditConfig.Filter.
type AuditFilter struct {
	EnableRest                  bool     `json:"enable_rest"`
	DisabledRestCategories      []string `json:"disabled_rest_categories"`
	EnableTransport             bool     `json:"enable_transport"`
	DisabledTransportCategories []string `json:"disabled_transport_categories"`
	ResolveBulkRequests         bool     `json:"resolve_bulk_requests"`
	LogRequestBody              bool     `json:"log_request_body"`
	ResolveIndices              bool     `json:"resolve_indices"`
	ExcludeSensitiveHeaders     bool     `json:"exclude_sensitive_headers"`
	IgnoreUsers                 []string `json:"ignore_users"`
	IgnoreRequests              []string `json:"ignore_requests"`
	IgnoreHeaders               []string `json:"ignore_headers"`
	IgnoreURLParams             []string `json:"ignore_url_params"`
}

// ComplianceConfig is the plugin's ComplianceConfig.
type ComplianceConfig struct {
	Enabled             bool                `json:"enabled"`
	InternalConfig      bool                `json:"internal_config"`
	ExternalConfig      bool                `json:"external_config"`
	ReadMetadataOnly    bool                `json:"read_metadata_only"`
	ReadWatchedFields   map[string][]string `json:"read_watched_fields"`
	ReadIgnoreUsers     []string            `json:"read_ignore_users"`
	WriteMetadataOnly   bool                `json:"write_metadata_only"`
	WriteLogDiffs       bool                `json:"write_log_diffs"`
	WriteWatchedIndices []string            `json:"write_watched_indices"`
	WriteIgnoreUsers    []string            `json:"write_ignore_users"`
}

// AuditCategories are the plugin's AuditCategory values.
var AuditCategories = []string{
	"BAD_HEADERS", "FAILED_LOGIN", "MISSING_PRIVILEGES", "GRANTED_PRIVILEGES", "OPENDISTRO_SECURITY_INDEX_ATTEMPT",
	"SSL_EXCEPTION", "AUTHENTICATED", "INDEX_EVENT", "COMPLIANCE_DOC_READ", "COMPLIANCE_DOC_WRITE",
	"COMPLIANCE_EXTERNAL_CONFIG", "COMPLIANCE_INTERNAL_CONFIG_READ", "COMPLIANCE_INTERNAL_CONFIG_WRITE",
}

// The categories the audit REST API accepts in the disabled lists
// (AuditRequestContentValidator); files may use any category.
var (
	auditRESTCategories      = []string{"BAD_HEADERS", "SSL_EXCEPTION", "AUTHENTICATED", "FAILED_LOGIN", "GRANTED_PRIVILEGES", "MISSING_PRIVILEGES"}
	auditTransportCategories = append(slices.Clone(auditRESTCategories), "INDEX_EVENT", "OPENDISTRO_SECURITY_INDEX_ATTEMPT")
)

// AuditReadonly are the audit paths only a super admin may change (the
// plugin's static_audit.yml `_readonly`, empty in 2.19); GET audit lists them.
var AuditReadonly = []string{}

var auditShape = shObject(map[string]*shape{
	"enabled": shBool,
	"audit": shObject(map[string]*shape{
		"enable_rest": shBool, "disabled_rest_categories": shArray(shString), "enable_transport": shBool,
		"disabled_transport_categories": shArray(shString), "resolve_bulk_requests": shBool,
		"log_request_body": shBool, "resolve_indices": shBool, "exclude_sensitive_headers": shBool,
		"ignore_users": shArray(shString), "ignore_requests": shArray(shString),
		"ignore_headers": shArray(shString), "ignore_url_params": shArray(shString),
	}),
	"compliance": shObject(map[string]*shape{
		"enabled": shBool, "internal_config": shBool, "external_config": shBool, "read_metadata_only": shBool,
		"read_watched_fields": shMapOf(shArray(shString)), "read_ignore_users": shArray(shString),
		"write_metadata_only": shBool, "write_log_diffs": shBool, "write_watched_indices": shArray(shString),
		"write_ignore_users": shArray(shString),
	}),
})

func defaultAuditConfig() AuditConfig {
	return AuditConfig{
		Enabled: true,
		Audit: AuditFilter{
			EnableRest: true, DisabledRestCategories: []string{"AUTHENTICATED", "GRANTED_PRIVILEGES"},
			EnableTransport: true, DisabledTransportCategories: []string{"AUTHENTICATED", "GRANTED_PRIVILEGES"},
			LogRequestBody: true, ResolveIndices: true, ExcludeSensitiveHeaders: true,
			IgnoreUsers: []string{"kibanaserver"}, IgnoreRequests: []string{}, IgnoreHeaders: []string{}, IgnoreURLParams: []string{},
		},
		Compliance: ComplianceConfig{
			Enabled: true, ReadWatchedFields: map[string][]string{}, ReadIgnoreUsers: []string{"kibanaserver"},
			WriteWatchedIndices: []string{}, WriteIgnoreUsers: []string{"kibanaserver"},
		},
	}
}

// decodeAudit checks and decodes an audit document. Categories are upper-cased
// and must be AuditCategory names; sets (users, requests, headers, categories)
// lose duplicates, keeping the first occurrence, as ImmutableSet.copyOf does.
func decodeAudit(raw json.RawMessage) (AuditConfig, *shapeProblems) {
	a := defaultAuditConfig()
	p := &shapeProblems{}
	if k := validateJSONKind(raw); k == 0 || k == 'n' {
		return a, p
	}
	auditShape.check("", raw, p)
	if !p.empty() {
		return a, p
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		p.setWrong("config", err.Error())
		return a, p
	}
	f, c := &a.Audit, &a.Compliance
	for _, l := range []struct {
		path string
		v    *[]string
	}{{"audit.disabled_rest_categories", &f.DisabledRestCategories}, {"audit.disabled_transport_categories", &f.DisabledTransportCategories}} {
		for i, s := range *l.v {
			(*l.v)[i] = strings.ToUpper(s)
			if !slices.Contains(AuditCategories, (*l.v)[i]) {
				p.setWrong(l.path, "Unknown audit category: "+s)
			}
		}
	}
	for _, l := range []*[]string{&f.DisabledRestCategories, &f.DisabledTransportCategories, &f.IgnoreUsers,
		&f.IgnoreRequests, &f.IgnoreHeaders, &f.IgnoreURLParams, &c.ReadIgnoreUsers, &c.WriteIgnoreUsers} {
		*l = dedupKeepOrder(*l)
	}
	if c.WriteWatchedIndices == nil {
		c.WriteWatchedIndices = []string{}
	}
	if c.ReadWatchedFields == nil {
		c.ReadWatchedFields = map[string][]string{}
	}
	for k, v := range c.ReadWatchedFields {
		if v == nil {
			c.ReadWatchedFields[k] = []string{}
		}
	}
	return a, p
}

func dedupKeepOrder(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// NormalizeAudit checks audit.yml's `config` object and returns it with the
// defaults filled in, as canonical JSON. Problems are named by path.
func NormalizeAudit(raw json.RawMessage) (json.RawMessage, *Error) {
	a, p := decodeAudit(raw)
	if !p.empty() {
		return nil, p.err()
	}
	return encodeDoc(a), nil
}

func encodeDoc(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// The document types hold only strings, booleans, numbers and slices.
		panic(fmt.Sprintf("authz: encode %T: %v", v, err))
	}
	return b
}

// ParseAuditBody validates the body of PUT audit/config, or the result of a
// PATCH, as the plugin's AuditRequestContentValidator does: the keys enabled,
// audit and compliance (R-API-15), then the document, whose problems all give
// the plugin's "Could not parse content of request.", including disabled
// categories outside the lists the REST API accepts.
func ParseAuditBody(raw []byte) (json.RawMessage, *Error) {
	top, err := parseTopObject(raw)
	if err != nil {
		return nil, err
	}
	if e := checkTopKeys(top, map[string]validateType{"enabled": validateBool, "audit": validateObject, "compliance": validateObject}, nil); e != nil {
		return nil, e
	}
	doc, _ := json.Marshal(top)
	a, p := decodeAudit(doc)
	if !p.empty() {
		return nil, Reason("Could not parse content of request.")
	}
	for _, c := range a.Audit.DisabledRestCategories {
		if !slices.Contains(auditRESTCategories, c) {
			return nil, Reason("Could not parse content of request.")
		}
	}
	for _, c := range a.Audit.DisabledTransportCategories {
		if !slices.Contains(auditTransportCategories, c) {
			return nil, Reason("Could not parse content of request.")
		}
	}
	return encodeDoc(a), nil
}

// CheckAuditReadonly refuses, for anyone but a super admin, a change of one of
// the readonly paths (JSON pointers into the audit document): 409 "Attempted to
// update read-only property." (R-API-33).
func CheckAuditReadonly(before, after json.RawMessage, readonly []string, superAdmin bool) *Error {
	if superAdmin || len(readonly) == 0 {
		return nil
	}
	for _, path := range readonly {
		if !jsonPointerEqual(before, after, path) {
			return StatusMessage(http.StatusConflict, "Attempted to update read-only property.")
		}
	}
	return nil
}

// jsonPointerEqual compares the values at a JSON pointer in two documents
// (a missing value equals only a missing value).
func jsonPointerEqual(a, b json.RawMessage, pointer string) bool {
	get := func(doc json.RawMessage) (json.RawMessage, bool) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return nil, false
		}
		for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
			if pointer == "" {
				break
			}
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[tok]; !ok {
				return nil, false
			}
		}
		out, _ := json.Marshal(v)
		return out, true
	}
	va, oka := get(a)
	vb, okb := get(b)
	return oka == okb && (!oka || jsonpatch.Equal(va, vb))
}

// AllowlistConfig is allowlist.yml's `config` object (AllowlistingSettings,
// R-API-32): whether the allowlist is on and the allowed methods per path.
type AllowlistConfig struct {
	Enabled  bool                `json:"enabled"`
	Requests map[string][]string `json:"requests"`
}

var allowlistShape = shObject(map[string]*shape{
	"enabled":  shBool,
	"requests": shMapOf(shArray(shEnum(HTTPMethods...))),
})

func decodeAllowlist(raw json.RawMessage) (AllowlistConfig, *shapeProblems) {
	a := AllowlistConfig{Requests: map[string][]string{}}
	p := &shapeProblems{}
	if k := validateJSONKind(raw); k == 0 || k == 'n' {
		return a, p
	}
	allowlistShape.check("", raw, p)
	if !p.empty() {
		return a, p
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		p.setWrong("config", err.Error())
		return a, p
	}
	if a.Requests == nil {
		a.Requests = map[string][]string{}
	}
	for k, v := range a.Requests {
		if v == nil {
			a.Requests[k] = []string{}
		}
	}
	return a, p
}

// NormalizeAllowlist checks allowlist.yml's `config` object and returns it as
// canonical JSON with its defaults (disabled, no requests).
func NormalizeAllowlist(raw json.RawMessage) (json.RawMessage, *Error) {
	a, p := decodeAllowlist(raw)
	if !p.empty() {
		return nil, p.err()
	}
	return encodeDoc(a), nil
}

// ParseAllowlistBody validates the body of PUT allowlist, or the result of a
// PATCH: the keys enabled and requests (R-API-15, R-API-32), then methods that
// are OpenSearch's.
func ParseAllowlistBody(raw []byte) (json.RawMessage, *Error) {
	top, err := parseTopObject(raw)
	if err != nil {
		return nil, err
	}
	if e := checkTopKeys(top, map[string]validateType{"enabled": validateBool, "requests": validateObject}, nil); e != nil {
		return nil, e
	}
	doc, _ := json.Marshal(top)
	return NormalizeAllowlist(doc)
}
