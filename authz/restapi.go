package authz

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Endpoint names one group of REST API routes the way the plugin's Endpoint
// enum does. It is what plugins.security.restapi.endpoints_disabled refers to
// (R-API-5) and what the restapi:admin/* permissions are derived from (R-API-6).
type Endpoint string

// The plugin's endpoints (its Endpoint enum, in its order).
const (
	EndpointAccount         Endpoint = "ACCOUNT"
	EndpointActionGroups    Endpoint = "ACTIONGROUPS"
	EndpointAudit           Endpoint = "AUDIT"
	EndpointCache           Endpoint = "CACHE"
	EndpointConfig          Endpoint = "CONFIG"
	EndpointRoles           Endpoint = "ROLES"
	EndpointRolesMapping    Endpoint = "ROLESMAPPING"
	EndpointInternalUsers   Endpoint = "INTERNALUSERS"
	EndpointSystemInfo      Endpoint = "SYSTEMINFO"
	EndpointPermissionsInfo Endpoint = "PERMISSIONSINFO"
	EndpointAuthToken       Endpoint = "AUTHTOKEN"
	EndpointTenants         Endpoint = "TENANTS"
	EndpointMigrate         Endpoint = "MIGRATE"
	EndpointValidate        Endpoint = "VALIDATE"
	EndpointWhitelist       Endpoint = "WHITELIST"
	EndpointAllowlist       Endpoint = "ALLOWLIST"
	EndpointNodesDN         Endpoint = "NODESDN"
	EndpointSSL             Endpoint = "SSL"
)

// Endpoints lists every endpoint in the plugin's enum order.
var Endpoints = []Endpoint{
	EndpointAccount, EndpointActionGroups, EndpointAudit, EndpointCache, EndpointConfig, EndpointRoles,
	EndpointRolesMapping, EndpointInternalUsers, EndpointSystemInfo, EndpointPermissionsInfo, EndpointAuthToken,
	EndpointTenants, EndpointMigrate, EndpointValidate, EndpointWhitelist, EndpointAllowlist, EndpointNodesDN,
	EndpointSSL,
}

// HTTPMethods are the values of OpenSearch's RestRequest.Method, in its order;
// "*" in an endpoints_disabled list stands for all of them.
var HTTPMethods = []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT"}

// EndpointOf returns the endpoint of a resource kind.
func EndpointOf(k Kind) Endpoint {
	switch k {
	case KindInternalUsers:
		return EndpointInternalUsers
	case KindRoles:
		return EndpointRoles
	case KindRolesMapping:
		return EndpointRolesMapping
	case KindActionGroups:
		return EndpointActionGroups
	case KindTenants:
		return EndpointTenants
	case KindNodesDN:
		return EndpointNodesDN
	}
	return ""
}

// Actions of the endpoints whose restapi:admin permission has two parts
// (RestApiAdminPrivilegesEvaluator: CONFIG's "update", SSL's "certs/info" and
// "certs/reload").
const (
	AdminActionConfigUpdate = "update"
	AdminActionCertsInfo    = "certs/info"
	AdminActionCertsReload  = "certs/reload"
)

// AdminPermission is the cluster permission that makes a caller admin for an
// endpoint when plugins.security.restapi.admin.enabled is true (R-API-6), for
// example restapi:admin/roles or restapi:admin/config/update. Endpoints without
// such a permission (AUDIT, CACHE, ...) return "": only super admins are admins
// there.
func AdminPermission(ep Endpoint, action string) string {
	switch ep {
	case EndpointActionGroups, EndpointAllowlist, EndpointInternalUsers, EndpointNodesDN,
		EndpointRoles, EndpointRolesMapping, EndpointTenants:
		return "restapi:admin/" + strings.ToLower(string(ep))
	case EndpointConfig, EndpointSSL:
		return "restapi:admin/" + strings.ToLower(string(ep)) + "/" + action
	}
	return ""
}

// HasClusterPermission reports whether one of mappedRoles (names as returned by
// MappedRoles) grants action through its cluster_permissions, after action
// group expansion. restapi:admin/* and system:admin/system_index need an
// explicit grant: "*" does not give them (R-EVAL-12). This is the plugin's
// hasRestAdminPermissions check.
func (e *Evaluator) HasClusterPermission(mappedRoles []string, action string) bool {
	for _, n := range mappedRoles {
		id, ok := e.nameID[n]
		if !ok {
			continue
		}
		if r := e.roles[id]; r != nil && r.cluster != nil && r.cluster.grants(action, explicitOnly(action)) {
			return true
		}
	}
	return false
}

// RESTSettings are the node settings of the REST API (plugins.security.restapi.*
// and related keys, R-API-4..7, R-API-20/21, R-API-30/31/37). The zero value is
// the plugin's default except for RolesEnabled (see its comment).
type RESTSettings struct {
	// RolesEnabled are the roles that may use the REST API
	// [plugins.security.restapi.roles_enabled]. nil means the key was not set.
	RolesEnabled []string
	// EndpointsDisabled maps a role of RolesEnabled, or "global", to the
	// methods disabled per endpoint
	// [plugins.security.restapi.endpoints_disabled.<role>.<ENDPOINT>].
	EndpointsDisabled map[string]map[Endpoint][]string
	// AdminEnabled turns on the restapi:admin/* permissions
	// [plugins.security.restapi.admin.enabled], default false (R-API-6).
	AdminEnabled bool
	// AllowSecurityConfigModification allows PUT and PATCH of securityconfig
	// [plugins.security.unsupported.restapi.allow_securityconfig_modification]
	// (R-API-30).
	AllowSecurityConfigModification bool
	// NodesDN are the node certificate DNs of opensearch.yml
	// [plugins.security.nodes_dn]: shown as STATIC_OPENSEARCH_YML_NODES_DN by
	// GET nodesdn?show_all=true and matched by whoami (patterns, ignoring case).
	NodesDN []string
	// NodesDNDynamicConfigEnabled serves the nodesdn endpoint
	// [plugins.security.nodes_dn_dynamic_config_enabled], default false: like
	// the plugin, the routes do not exist otherwise (R-API-31).
	NodesDNDynamicConfigEnabled bool
	// SSLCertReloadEnabled is plugins.security.ssl_cert_reload_enabled: without
	// it PUT ssl/{http,transport}/reloadcerts answers the plugin's 400.
	SSLCertReloadEnabled bool
	// Password is the password policy [plugins.security.restapi.password_*].
	Password PasswordPolicy
	// BcryptRounds is the bcrypt cost [plugins.security.password.hashing.bcrypt.rounds],
	// 0 meaning 12.
	BcryptRounds int
	// Warnings are settings the parser skipped, as the plugin does with a log
	// line (unknown endpoint or method names).
	Warnings []string
}

// Setting keys of ParseRESTSettings.
const (
	settingRolesEnabled         = "plugins.security.restapi.roles_enabled"
	settingEndpointsDisabled    = "plugins.security.restapi.endpoints_disabled"
	settingRestAdminEnabled     = "plugins.security.restapi.admin.enabled"
	settingAllowSecConfigMod    = "plugins.security.unsupported.restapi.allow_securityconfig_modification"
	settingNodesDN              = "plugins.security.nodes_dn"
	settingNodesDNDynamic       = "plugins.security.nodes_dn_dynamic_config_enabled"
	settingSSLCertReloadEnabled = "plugins.security.ssl_cert_reload_enabled"
	settingPasswordRegex        = "plugins.security.restapi.password_validation_regex"
	settingPasswordRegexMessage = "plugins.security.restapi.password_validation_error_message"
	settingPasswordMinLength    = "plugins.security.restapi.password_min_length"
	settingPasswordStrength     = "plugins.security.restapi.password_score_based_validation_strength"
	settingBcryptRounds         = "plugins.security.password.hashing.bcrypt.rounds"
)

// ParseRESTSettings reads the REST API settings from flat (or nested)
// opensearch.yml-style settings. Type errors and an unusable password policy
// are returned together; unknown endpoint and method names in
// endpoints_disabled are skipped and listed in Warnings, as the plugin logs and
// skips them. Only the endpoints_disabled entries of roles in roles_enabled and
// of "global" are read (RestApiPrivilegesEvaluator).
func ParseRESTSettings(settings map[string]any) (RESTSettings, error) {
	m := map[string]any{}
	flattenSettings("", settings, m)
	var (
		s    RESTSettings
		errs []string
	)
	bad := func(key, want string, v any) {
		errs = append(errs, fmt.Sprintf("setting %s: %s expected, got %T", key, want, v))
	}
	getBool := func(key string, dst *bool) {
		if v, ok := m[key]; ok && v != nil {
			b, ok := settingBool(v)
			if !ok {
				bad(key, "boolean", v)
				return
			}
			*dst = b
		}
	}
	getString := func(key string, dst *string) {
		if v, ok := m[key]; ok && v != nil {
			str, ok := v.(string)
			if !ok {
				bad(key, "string", v)
				return
			}
			*dst = str
		}
	}
	getInt := func(key string, dst *int) {
		if v, ok := m[key]; ok && v != nil {
			n, ok := settingInt(v)
			if !ok {
				bad(key, "integer", v)
				return
			}
			*dst = n
		}
	}
	getList := func(key string, dst *[]string) bool {
		v, ok := m[key]
		if !ok || v == nil {
			return false
		}
		l, ok := settingList(v)
		if !ok {
			bad(key, "list of strings", v)
			return false
		}
		*dst = l
		return true
	}
	if getList(settingRolesEnabled, &s.RolesEnabled) && s.RolesEnabled == nil {
		s.RolesEnabled = []string{}
	}
	getBool(settingRestAdminEnabled, &s.AdminEnabled)
	getBool(settingAllowSecConfigMod, &s.AllowSecurityConfigModification)
	getList(settingNodesDN, &s.NodesDN)
	getBool(settingNodesDNDynamic, &s.NodesDNDynamicConfigEnabled)
	getBool(settingSSLCertReloadEnabled, &s.SSLCertReloadEnabled)
	getString(settingPasswordRegex, &s.Password.Regex)
	getString(settingPasswordRegexMessage, &s.Password.RegexMessage)
	getInt(settingPasswordMinLength, &s.Password.MinLength)
	getString(settingPasswordStrength, &s.Password.ScoreStrength)
	getInt(settingBcryptRounds, &s.BcryptRounds)
	if s.BcryptRounds != 0 && (s.BcryptRounds < 4 || s.BcryptRounds > 31) {
		errs = append(errs, fmt.Sprintf("setting %s: %d is outside 4..31", settingBcryptRounds, s.BcryptRounds))
	}
	if err := s.Password.Validate(); err != nil {
		errs = append(errs, "password policy: "+err.Error())
	}

	for _, role := range append([]string{"global"}, s.RolesEnabled...) {
		prefix := settingEndpointsDisabled + "." + role + "."
		for key, v := range m {
			name, ok := strings.CutPrefix(key, prefix)
			if !ok || strings.Contains(name, ".") {
				continue
			}
			ep := Endpoint(strings.ToUpper(name))
			if !slices.Contains(Endpoints, ep) {
				s.Warnings = append(s.Warnings, fmt.Sprintf("unknown endpoint '%s' in %s, skipped", strings.ToUpper(name), key))
				continue
			}
			l, ok := settingList(v)
			if !ok {
				bad(key, "list of strings", v)
				continue
			}
			methods := parseDisabledMethods(l, key, &s.Warnings)
			if s.EndpointsDisabled == nil {
				s.EndpointsDisabled = map[string]map[Endpoint][]string{}
			}
			if s.EndpointsDisabled[role] == nil {
				s.EndpointsDisabled[role] = map[Endpoint][]string{}
			}
			s.EndpointsDisabled[role][ep] = methods
		}
	}
	sort.Strings(s.Warnings)
	if len(errs) > 0 {
		sort.Strings(errs)
		return s, fmt.Errorf("parse REST API settings: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

// parseDisabledMethods is the plugin's parseDisabledEndpoints for one list:
// "*" means every method; unknown names are skipped.
func parseDisabledMethods(l []string, key string, warnings *[]string) []string {
	out := []string{}
	for _, m := range l {
		if strings.TrimSpace(m) == "*" {
			return slices.Clone(HTTPMethods)
		}
		u := strings.ToUpper(m)
		if !slices.Contains(HTTPMethods, u) {
			*warnings = append(*warnings, fmt.Sprintf("invalid HTTP method '%s' in %s, skipped", u, key))
			continue
		}
		out = append(out, u)
	}
	return out
}

func settingInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	case string:
		var i int
		if _, err := fmt.Sscanf(strings.TrimSpace(n), "%d", &i); err == nil {
			return i, true
		}
	}
	return 0, false
}

// HasAPIAccess reports whether the mapped roles intersect roles_enabled
// (currentUserHasRestApiAccess).
func (s *RESTSettings) HasAPIAccess(mappedRoles []string) bool {
	for _, r := range mappedRoles {
		if slices.Contains(s.RolesEnabled, r) {
			return true
		}
	}
	return false
}

// DisabledEndpoints returns the methods disabled for a caller with these
// mapped roles (R-API-5, getDisabledEndpointsForCurrentUser): every endpoint
// with every method when the caller has no API access; otherwise, for each
// endpoint that every one of the caller's roles with an endpoints_disabled
// entry disables, the methods all of them disable, plus the global entries.
// Endpoints with no disabled method are left out. Method lists keep the
// plugin's method order.
func (s *RESTSettings) DisabledEndpoints(mappedRoles []string) map[Endpoint][]string {
	out := map[Endpoint][]string{}
	if !s.HasAPIAccess(mappedRoles) {
		for _, ep := range Endpoints {
			out[ep] = slices.Clone(HTTPMethods)
		}
		return out
	}
	remaining := slices.Clone(Endpoints)
	var withEntries []map[Endpoint][]string
	for _, r := range mappedRoles {
		if d := s.EndpointsDisabled[r]; len(d) > 0 && r != "global" {
			withEntries = append(withEntries, d)
			remaining = slices.DeleteFunc(remaining, func(ep Endpoint) bool { _, ok := d[ep]; return !ok })
		}
	}
	if len(withEntries) > 0 {
		for _, ep := range remaining {
			methods := slices.Clone(HTTPMethods)
			for _, d := range withEntries {
				methods = slices.DeleteFunc(methods, func(m string) bool { return !slices.Contains(d[ep], m) })
			}
			out[ep] = methods
		}
	}
	for ep, methods := range s.EndpointsDisabled["global"] {
		out[ep] = append(out[ep], methods...)
	}
	for ep, methods := range out {
		if len(methods) == 0 {
			delete(out, ep)
		}
	}
	return out
}

// Caller is what the REST API access rules need to know about who asks.
type Caller struct {
	// Name is the user name.
	Name string
	// Roles are the mapped security roles.
	Roles []string
	// TLS reports whether the request came over TLS.
	TLS bool
	// CertDN is the verified client certificate's DN ("" when none).
	CertDN string
	// SuperAdmin reports whether CertDN is an admin DN (R-EVAL-2).
	SuperAdmin bool
}

// AccessDenied applies the REST API access gate (R-API-4, R-API-5,
// checkAccessPermissions) to a request for method on ep. It returns "" when
// access is granted, and otherwise the text that follows "No permission to
// access REST API: " in the plugin's 403. ACCOUNT is open to everyone.
func (s *RESTSettings) AccessDenied(ep Endpoint, method string, c Caller) string {
	if ep == EndpointAccount {
		return ""
	}
	var roleReason string
	switch {
	case len(s.RolesEnabled) == 0:
		roleReason = "Role based access not enabled."
	case !s.HasAPIAccess(c.Roles):
		roleReason = fmt.Sprintf("User %s with Security roles %s does not have any role privileged for admin access", c.Name, javaSetString(c.Roles))
	case ep != "" && slices.Contains(s.DisabledEndpoints(c.Roles)[ep], method):
		roleReason = fmt.Sprintf("User %s with Security roles %s does not have any access to endpoint %s and method %s",
			c.Name, javaSetString(c.Roles), ep, method)
	default:
		return ""
	}
	var certReason string
	switch {
	case !c.TLS:
		certReason = "No ssl info found in request."
	case c.CertDN == "":
		certReason = "No client TLS certificate found in request"
	case !c.SuperAdmin:
		certReason = fmt.Sprintf("Security admin permissions required but %s is not an admin", c.CertDN)
	default:
		return ""
	}
	return roleReason + ". " + certReason
}

// IsAdminFor is the plugin's isCurrentUserAdminFor (R-API-6): a super admin
// always is; anyone else only with plugins.security.restapi.admin.enabled and
// an explicit grant of the endpoint's restapi:admin permission, which has
// reports (typically Evaluator.HasClusterPermission over the caller's roles).
func (s *RESTSettings) IsAdminFor(ep Endpoint, action string, superAdmin bool, has func(permission string) bool) bool {
	if superAdmin {
		return true
	}
	perm := AdminPermission(ep, action)
	return s.AdminEnabled && perm != "" && has != nil && has(perm)
}

// javaSetString prints roles like a Java Set's toString; authzd sorts them
// (the plugin's order is a HashSet's).
func javaSetString(roles []string) string {
	r := slices.Clone(roles)
	sort.Strings(r)
	return "[" + strings.Join(slices.Compact(r), ", ") + "]"
}

// DNMatches reports whether dn equals one of the DNs in list the way the
// plugin's AdminDNs compares LDAP names: attribute types and values ignoring
// case, and spaces around ',', '+' and '=' ignored.
func DNMatches(list []string, dn string) bool {
	if dn == "" {
		return false
	}
	n := normalizeDN(dn)
	for _, d := range list {
		if normalizeDN(d) == n {
			return true
		}
	}
	return false
}

func normalizeDN(dn string) string {
	var b strings.Builder
	b.Grow(len(dn))
	escaped := false
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if !escaped && (c == ',' || c == '+' || c == '=') {
			s := strings.TrimRight(b.String(), " ")
			b.Reset()
			b.WriteString(s)
			b.WriteByte(c)
			for i+1 < len(dn) && dn[i+1] == ' ' {
				i++
			}
			continue
		}
		escaped = !escaped && c == '\\'
		b.WriteByte(c)
	}
	return strings.ToLower(strings.TrimSpace(b.String()))
}

// MatchesAnyIgnoreCase reports whether s matches one of the patterns (§3)
// ignoring case, like the plugin's WildcardMatcher.ignoreCase (used for
// nodes_dn).
func MatchesAnyIgnoreCase(patterns []string, s string) bool {
	ls := strings.ToLower(s)
	for _, p := range patterns {
		var cp pattern
		if isRegexPattern(p) {
			cp = compilePattern("/(?i)" + p[1:])
		} else {
			cp = compilePattern(strings.ToLower(p))
		}
		if cp.match(ls) || (cp.kind == patRegex && cp.match(s)) {
			return true
		}
	}
	return false
}

// isRegexPattern reports whether p is a /regex/ pattern (R-PAT-1).
func isRegexPattern(p string) bool { return len(p) > 1 && p[0] == '/' && p[len(p)-1] == '/' }
