package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SecurityConfig is config.yml's `config` object as the plugin models it
// (ConfigV7): every field with its default, so that GET securityconfig shows
// what the plugin shows. Strings are pointers because the plugin omits null
// strings (NON_NULL) but prints empty ones.
type SecurityConfig struct {
	Dynamic DynamicConfig `json:"dynamic"`
}

// DynamicConfig is ConfigV7.Dynamic, fields in the plugin's order.
type DynamicConfig struct {
	FilteredAliasMode            *string                        `json:"filtered_alias_mode,omitempty"`
	DisableRestAuth              bool                           `json:"disable_rest_auth"`
	DisableIntertransportAuth    bool                           `json:"disable_intertransport_auth"`
	RespectRequestIndicesOptions bool                           `json:"respect_request_indices_options"`
	License                      *string                        `json:"license,omitempty"`
	Kibana                       KibanaConfig                   `json:"kibana"`
	HTTP                         HTTPAuthConfig                 `json:"http"`
	Authc                        map[string]AuthcDomain         `json:"authc"`
	Authz                        map[string]AuthzDomain         `json:"authz"`
	AuthFailureListeners         map[string]AuthFailureListener `json:"auth_failure_listeners"`
	DoNotFailOnForbidden         bool                           `json:"do_not_fail_on_forbidden"`
	MultiRolespanEnabled         bool                           `json:"multi_rolespan_enabled"`
	HostsResolverMode            *string                        `json:"hosts_resolver_mode,omitempty"`
	TransportUsernameAttribute   *string                        `json:"transport_userrname_attribute,omitempty"`
	DoNotFailOnForbiddenEmpty    bool                           `json:"do_not_fail_on_forbidden_empty"`
	OnBehalfOf                   OnBehalfOfConfig               `json:"on_behalf_of"`
}

// KibanaConfig is ConfigV7.Kibana (the `kibana` key; `opensearch-dashboards`
// is accepted on input, §13.5).
type KibanaConfig struct {
	MultitenancyEnabled  bool     `json:"multitenancy_enabled"`
	PrivateTenantEnabled bool     `json:"private_tenant_enabled"`
	DefaultTenant        *string  `json:"default_tenant,omitempty"`
	ServerUsername       *string  `json:"server_username,omitempty"`
	OpendistroRole       *string  `json:"opendistro_role,omitempty"`
	Index                *string  `json:"index,omitempty"`
	SignInOptions        []string `json:"sign_in_options,omitempty"`
}

// HTTPAuthConfig is ConfigV7.Http.
type HTTPAuthConfig struct {
	AnonymousAuthEnabled bool      `json:"anonymous_auth_enabled"`
	Xff                  XffConfig `json:"xff"`
}

// XffConfig is ConfigV7.Xff.
type XffConfig struct {
	Enabled         bool    `json:"enabled"`
	InternalProxies *string `json:"internalProxies,omitempty"`
	RemoteIPHeader  *string `json:"remoteIpHeader,omitempty"`
}

// AuthcDomain is ConfigV7.AuthcDomain. The deprecated transport_enabled key
// is accepted and dropped, as by the plugin.
type AuthcDomain struct {
	HTTPEnabled           bool              `json:"http_enabled"`
	Order                 int64             `json:"order"`
	HTTPAuthenticator     HTTPAuthenticator `json:"http_authenticator"`
	AuthenticationBackend AuthBackend       `json:"authentication_backend"`
	Description           *string           `json:"description,omitempty"`
}

// HTTPAuthenticator is ConfigV7.HttpAuthenticator.
type HTTPAuthenticator struct {
	Challenge bool            `json:"challenge"`
	Type      *string         `json:"type,omitempty"`
	Config    json.RawMessage `json:"config"`
}

// AuthBackend is ConfigV7.AuthcBackend and AuthzBackend.
type AuthBackend struct {
	Type   *string         `json:"type,omitempty"`
	Config json.RawMessage `json:"config"`
}

// AuthzDomain is ConfigV7.AuthzDomain.
type AuthzDomain struct {
	HTTPEnabled          bool        `json:"http_enabled"`
	AuthorizationBackend AuthBackend `json:"authorization_backend"`
	Description          *string     `json:"description,omitempty"`
}

// AuthFailureListener is ConfigV7.AuthFailureListener.
type AuthFailureListener struct {
	Type                  *string  `json:"type,omitempty"`
	AuthenticationBackend *string  `json:"authentication_backend,omitempty"`
	IgnoreHosts           []string `json:"ignore_hosts,omitempty"`
	AllowedTries          int64    `json:"allowed_tries"`
	TimeWindowSeconds     int64    `json:"time_window_seconds"`
	BlockExpirySeconds    int64    `json:"block_expiry_seconds"`
	MaxBlockedClients     int64    `json:"max_blocked_clients"`
	MaxTrackedClients     int64    `json:"max_tracked_clients"`
}

// OnBehalfOfConfig is ConfigV7.OnBehalfOfSettings.
type OnBehalfOfConfig struct {
	Enabled       bool    `json:"enabled"`
	SigningKey    *string `json:"signing_key,omitempty"`
	EncryptionKey *string `json:"encryption_key,omitempty"`
}

func strp(s string) *string { return &s }

// defaultXffProxies is ConfigV7.Xff's default internalProxies.
const defaultXffProxies = `10\.\d{1,3}\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}\.\d{1,3}|169\.254\.\d{1,3}\.\d{1,3}|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|172\.1[6-9]{1}\.\d{1,3}\.\d{1,3}|172\.2[0-9]{1}\.\d{1,3}\.\d{1,3}|172\.3[0-1]{1}\.\d{1,3}\.\d{1,3}`

// defaultSecurityConfig is a new ConfigV7 with every default.
func defaultSecurityConfig() SecurityConfig {
	return SecurityConfig{Dynamic: DynamicConfig{
		FilteredAliasMode: strp("warn"),
		Kibana: KibanaConfig{
			MultitenancyEnabled: true, PrivateTenantEnabled: true, DefaultTenant: strp(""),
			ServerUsername: strp("kibanaserver"), Index: strp(".kibana"), SignInOptions: []string{"BASIC"},
		},
		HTTP:                 HTTPAuthConfig{Xff: XffConfig{InternalProxies: strp(defaultXffProxies), RemoteIPHeader: strp("X-Forwarded-For")}},
		Authc:                map[string]AuthcDomain{},
		Authz:                map[string]AuthzDomain{},
		AuthFailureListeners: map[string]AuthFailureListener{},
		MultiRolespanEnabled: true,
		HostsResolverMode:    strp("ip-only"),
	}}
}

// UnmarshalJSON fills the plugin's defaults before decoding.
func (d *AuthcDomain) UnmarshalJSON(b []byte) error {
	type plain AuthcDomain
	p := plain{HTTPEnabled: true, HTTPAuthenticator: HTTPAuthenticator{Challenge: true},
		AuthenticationBackend: AuthBackend{Type: strp("org.opensearch.security.auth.internal.InternalAuthenticationBackend")}}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = AuthcDomain(p)
	return nil
}

// UnmarshalJSON fills the plugin's defaults before decoding.
func (d *AuthzDomain) UnmarshalJSON(b []byte) error {
	type plain AuthzDomain
	p := plain{HTTPEnabled: true, AuthorizationBackend: AuthBackend{Type: strp("noop")}}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = AuthzDomain(p)
	return nil
}

// UnmarshalJSON fills the plugin's defaults before decoding.
func (l *AuthFailureListener) UnmarshalJSON(b []byte) error {
	type plain AuthFailureListener
	p := plain{AllowedTries: 10, TimeWindowSeconds: 3600, BlockExpirySeconds: 600, MaxBlockedClients: 100_000, MaxTrackedClients: 100_000}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*l = AuthFailureListener(p)
	return nil
}

// securityConfigShape is what config.yml's `config` object accepts.
var securityConfigShape = func() *shape {
	backend := shObject(map[string]*shape{"type": shString, "config": shObjAny})
	authc := shObject(map[string]*shape{
		"http_enabled": shBool, "transport_enabled": shBool, "order": shInt, "description": shString,
		"http_authenticator":     shObject(map[string]*shape{"challenge": shBool, "type": shString, "config": shObjAny}),
		"authentication_backend": backend,
	})
	authz := shObject(map[string]*shape{
		"http_enabled": shBool, "transport_enabled": shBool, "description": shString, "authorization_backend": backend,
	})
	listener := shObject(map[string]*shape{
		"type": shString, "authentication_backend": shString, "ignore_hosts": shArray(shString),
		"allowed_tries": shInt, "time_window_seconds": shInt, "block_expiry_seconds": shInt,
		"max_blocked_clients": shInt, "max_tracked_clients": shInt,
	})
	kibana := shObject(map[string]*shape{
		"multitenancy_enabled": shBool, "private_tenant_enabled": shBool, "default_tenant": shString,
		"server_username": shString, "opendistro_role": shString, "index": shString,
		"sign_in_options": shArray(shEnum("BASIC", "SAML", "OPENID", "ANONYMOUS")),
	})
	dynamic := shObject(map[string]*shape{
		"filtered_alias_mode": shEnum("warn", "nowarn", "disallow"), "disable_rest_auth": shBool,
		"disable_intertransport_auth": shBool, "respect_request_indices_options": shBool, "license": shString,
		"kibana": kibana, "opensearch-dashboards": kibana,
		"http": shObject(map[string]*shape{
			"anonymous_auth_enabled": shBool,
			"xff":                    shObject(map[string]*shape{"enabled": shBool, "internalProxies": shString, "remoteIpHeader": shString}),
		}),
		"authc": shMapOf(authc), "authz": shMapOf(authz), "auth_failure_listeners": shMapOf(listener),
		"do_not_fail_on_forbidden": shBool, "multi_rolespan_enabled": shBool,
		"hosts_resolver_mode":           shEnum("ip-only", "ip-hostname", "ip-hostname-lookup"),
		"transport_userrname_attribute": shString, "do_not_fail_on_forbidden_empty": shBool,
		"on_behalf_of": shObject(map[string]*shape{"enabled": shBool, "signing_key": shString, "encryption_key": shString}),
	})
	return shObject(map[string]*shape{"dynamic": dynamic})
}()

// NormalizeSecurityConfig checks config.yml's `config` object (a JSON object
// {"dynamic":{...}}) and returns it with the plugin's defaults filled in, as
// canonical JSON: unknown keys, wrong types and unknown enum values are
// refused, every problem named by its path. An empty document is the default
// configuration. The result is stable: normalizing it again returns the same
// bytes.
func NormalizeSecurityConfig(raw json.RawMessage) (json.RawMessage, *Error) {
	sc, p := decodeSecurityConfig(raw)
	if !p.empty() {
		return nil, p.err()
	}
	return encodeSecurityConfig(sc), nil
}

// securityConfigProblems lists the problems of a config document as text
// (authzctl check).
func securityConfigProblems(raw json.RawMessage) []string {
	_, p := decodeSecurityConfig(raw)
	return p.messages()
}

func decodeSecurityConfig(raw json.RawMessage) (SecurityConfig, *shapeProblems) {
	sc := defaultSecurityConfig()
	p := &shapeProblems{}
	if k := validateJSONKind(raw); k == 0 || k == 'n' {
		return sc, p
	}
	securityConfigShape.check("", raw, p)
	if !p.empty() {
		return sc, p
	}
	raw = renameDashboardsKey(raw, p)
	if !p.empty() {
		return sc, p
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		p.setWrong("dynamic", err.Error())
		return sc, p
	}
	d := &sc.Dynamic
	if d.Authc == nil {
		d.Authc = map[string]AuthcDomain{}
	}
	if d.Authz == nil {
		d.Authz = map[string]AuthzDomain{}
	}
	if d.AuthFailureListeners == nil {
		d.AuthFailureListeners = map[string]AuthFailureListener{}
	}
	for k, v := range d.Authc {
		v.HTTPAuthenticator.Config = canonicalConfigMap(v.HTTPAuthenticator.Config)
		v.AuthenticationBackend.Config = canonicalConfigMap(v.AuthenticationBackend.Config)
		d.Authc[k] = v
	}
	for k, v := range d.Authz {
		v.AuthorizationBackend.Config = canonicalConfigMap(v.AuthorizationBackend.Config)
		d.Authz[k] = v
	}
	return sc, p
}

// renameDashboardsKey turns dynamic."opensearch-dashboards" into
// dynamic.kibana (§13.5); having both is an error.
func renameDashboardsKey(raw json.RawMessage, p *shapeProblems) json.RawMessage {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return raw
	}
	var dyn map[string]json.RawMessage
	if json.Unmarshal(top["dynamic"], &dyn) != nil || dyn == nil {
		return raw
	}
	alias, ok := dyn["opensearch-dashboards"]
	if !ok {
		return raw
	}
	if _, both := dyn["kibana"]; both {
		p.invalid = append(p.invalid, "dynamic.opensearch-dashboards")
		return raw
	}
	delete(dyn, "opensearch-dashboards")
	dyn["kibana"] = alias
	top["dynamic"], _ = json.Marshal(dyn)
	out, _ := json.Marshal(top)
	return out
}

// canonicalConfigMap keeps a free-form `config` map exactly (numbers as
// written, keys sorted); null or absent is {}.
func canonicalConfigMap(raw json.RawMessage) json.RawMessage {
	if k := validateJSONKind(raw); k == 0 || k == 'n' {
		return json.RawMessage("{}")
	}
	out, err := canonicalJSONValue(raw)
	if err != nil {
		return json.RawMessage("{}")
	}
	return out
}

func encodeSecurityConfig(sc SecurityConfig) json.RawMessage {
	b, err := json.Marshal(sc)
	if err != nil {
		// Every field is a plain value or canonical JSON.
		panic(fmt.Sprintf("authz: encode security config: %v", err))
	}
	return b
}

// ParseSecurityConfigBody validates the body of PUT securityconfig/config
// (R-API-30): a non-empty JSON object whose only key is "dynamic", an object
// (R-API-15), then the document itself. It returns the normalized document.
func ParseSecurityConfigBody(raw []byte) (json.RawMessage, *Error) {
	top, err := parseTopObject(raw)
	if err != nil {
		return nil, err
	}
	if e := checkTopKeys(top, map[string]validateType{"dynamic": validateObject}, nil); e != nil {
		return nil, e
	}
	doc, _ := json.Marshal(top)
	return NormalizeSecurityConfig(doc)
}

// checkTopKeys is the plugin's RequestContentValidator for the documents:
// unknown and missing keys, then top-level types.
func checkTopKeys(top map[string]json.RawMessage, allowed map[string]validateType, mandatory []string) *Error {
	var invalid, missing []string
	for k := range top {
		if _, ok := allowed[k]; !ok {
			invalid = append(invalid, k)
		}
	}
	for _, k := range mandatory {
		if _, ok := top[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(invalid)+len(missing) > 0 {
		return validateInvalidConfiguration(invalid, missing, nil)
	}
	wrong := map[string]string{}
	for k, t := range allowed {
		if raw, ok := top[k]; ok && t != validateBool {
			validateCheckType(k, raw, t, wrong)
		}
	}
	if len(wrong) > 0 {
		return validateWrongDatatype(wrong)
	}
	for k := range allowed {
		if validateHasNullArrayElement(top[k]) {
			return Reason("`null` is not allowed as json array element")
		}
	}
	return nil
}

// RedactSecurityConfig replaces the value of every "password" key by "******",
// as the plugin does when it serves securityconfig (ConfigMapSerializer).
func RedactSecurityConfig(raw json.RawMessage) json.RawMessage {
	if !strings.Contains(string(raw), `"password"`) {
		return raw
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return raw
	}
	redact(v)
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

func redact(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "password" {
				x[k] = "******"
				continue
			}
			redact(e)
		}
	case []any:
		for _, e := range x {
			redact(e)
		}
	}
}

// SecurityConfigOf decodes a stored (normalized) config document; an empty or
// undecodable one gives the defaults.
func SecurityConfigOf(raw json.RawMessage) SecurityConfig {
	sc, p := decodeSecurityConfig(raw)
	if !p.empty() {
		return defaultSecurityConfig()
	}
	return sc
}

// TenancyPatch turns the body of PUT tenancy/config into RFC 6902 operations
// on {"config": <security config>}: one "add" per given key of
// default_tenant (string), private_tenant_enabled and multitenancy_enabled
// (booleans) and sign_in_options (array, only when not empty), as
// MultiTenancyConfigApiAction sets them.
func TenancyPatch(raw []byte) ([]byte, *Error) {
	top, err := parseTopObject(raw)
	if err != nil {
		return nil, err
	}
	if e := checkTopKeys(top, map[string]validateType{
		"default_tenant": validateString, "private_tenant_enabled": validateBool,
		"multitenancy_enabled": validateBool, "sign_in_options": validateArray,
	}, nil); e != nil {
		return nil, e
	}
	type op struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	var ops []op
	for _, k := range []string{"default_tenant", "private_tenant_enabled", "multitenancy_enabled", "sign_in_options"} {
		v, ok := top[k]
		if !ok || validateJSONKind(v) == 'n' {
			continue
		}
		if k == "sign_in_options" && string(bytes.TrimSpace(v)) == "[]" {
			continue
		}
		ops = append(ops, op{"add", "/config/dynamic/kibana/" + k, v})
	}
	if len(ops) == 0 {
		return nil, Reason("Request body required for this action.")
	}
	b, _ := json.Marshal(ops)
	return b, nil
}

// CheckTenancySignIn is the sign-in option rule of PUT tenancy/config: every
// option must be ANONYMOUS or name an authentication domain of sc (a domain
// whose name contains the option in lower case).
func CheckTenancySignIn(sc SecurityConfig, options []string) *Error {
	for _, opt := range options {
		ok := opt == "ANONYMOUS"
		for domain := range sc.Dynamic.Authc {
			ok = ok || strings.Contains(domain, strings.ToLower(opt))
		}
		if !ok {
			return IllegalArgument("Validation failure: " + strings.ToUpper(opt) + " authentication provider is not available for this cluster.")
		}
	}
	return nil
}

// CheckTenancyConfig applies the tenant rules of PUT tenancy/config
// (MultiTenancyConfigApiAction.updateAndValidatesValues) to a security config
// after the change: the private tenant cannot be disabled while it is the
// default tenant, and the default tenant must be "", "global", "private" or
// an existing tenant (compared ignoring case). The plugin answers these with
// an IllegalArgumentException, that is OpenSearch's 400 error shape.
func (c *Config) CheckTenancyConfig(sc SecurityConfig) *Error {
	k := sc.Dynamic.Kibana
	def := ""
	if k.DefaultTenant != nil {
		def = strings.ToLower(*k.DefaultTenant)
	}
	if !k.PrivateTenantEnabled && def == "private" {
		return IllegalArgument("Private tenant can not be disabled if it is the default tenant.")
	}
	switch def {
	case "", "global", "private":
		return nil
	}
	for name := range c.Tenants {
		if strings.ToLower(name) == def {
			return nil
		}
	}
	return IllegalArgument(*k.DefaultTenant + " can not be set to default tenant. Default tenant should be selected from one of the available tenants.")
}

// IllegalArgument is OpenSearch's answer to an IllegalArgumentException: 400
// with the standard error envelope.
func IllegalArgument(reason string) *Error {
	cause := map[string]string{"type": "illegal_argument_exception", "reason": reason}
	b, _ := json.Marshal(map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": "illegal_argument_exception", "reason": reason},
		"status": http.StatusBadRequest,
	})
	return &Error{Status: http.StatusBadRequest, Body: b}
}
