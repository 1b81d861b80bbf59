package authz

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Problem is one finding of Config.Check: an error makes the configuration
// unusable (apply refuses it), a warning is something the plugin accepts but
// that is most likely a mistake (a reference to nothing, a pattern that
// matches nothing).
type Problem struct {
	// Type is the configuration type: internalusers, roles, rolesmapping,
	// actiongroups, tenants, config, nodesdn, allowlist or audit.
	Type string `json:"type"`
	// Name is the entity, "" for a document type.
	Name string `json:"name,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Warning is false for errors.
	Warning bool `json:"warning,omitempty"`
	// File and Line locate the entity in a directory, when known (LoadDirs).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	} else {
		b.WriteString("error: ")
	}
	if p.Name != "" {
		fmt.Fprintf(&b, "%s '%s': ", p.Type, p.Name)
	} else {
		fmt.Fprintf(&b, "%s: ", p.Type)
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors returns the problems that are errors.
func Errors(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// ProblemsError is the 400 answer for a configuration with errors:
// {"status":"error","reason":"Invalid configuration","problems":[...]}.
func ProblemsError(ps []Problem) *Error {
	b, _ := json.Marshal(struct {
		Status   string    `json:"status"`
		Reason   string    `json:"reason"`
		Problems []Problem `json:"problems"`
	}{"error", "Invalid configuration", ps})
	return &Error{Status: http.StatusBadRequest, Body: b}
}

// Check reports the problems of a whole configuration, as loaded from files or
// sent by authzctl apply. It checks what the plugin's loader would refuse and
// what the REST API validates about content, not the REST API's permission
// rules (reserved, hidden, restapi:admin/*), which do not apply to
// configuration files:
//
// errors: documents (config, audit, allowlist) that do not normalize; role
// masked fields and DLS queries that do not parse (R-API-25, R-DLS-4, R-DLS-5);
// action group types other than the plugin's (cluster, index, kibana, all);
// entity names that are empty or contain '/'; the read-only nodesdn name.
//
// warnings: role mappings of roles that do not exist (R-API-26); users'
// opendistro_security_roles that do not exist (R-API-24); action groups that
// list themselves (R-API-28) or share a role's name (R-API-27); user names with
// ':' (R-API-22); hashes that are not bcrypt (the user cannot log in); action
// group entries and permissions that are neither a group, nor an action
// pattern (R-AG-3); and regular expressions that do not compile (R-PAT-4).
//
// The result is sorted by type, name and message. Statics are skipped.
func (c *Config) Check() []Problem {
	var ps []Problem
	add := func(typ, name, msg string, warn bool) {
		ps = append(ps, Problem{Type: typ, Name: name, Message: msg, Warning: warn})
	}
	checkName := func(typ, name string) {
		if name == "" {
			add(typ, name, "empty name", false)
		} else if strings.Contains(name, "/") {
			add(typ, name, "name must not contain '/'", false)
		}
	}
	for _, d := range []struct {
		typ string
		raw json.RawMessage
	}{{"config", c.SecurityConfig}, {"audit", c.Audit}, {"allowlist", c.Allowlist}} {
		if len(d.raw) == 0 {
			continue
		}
		for _, m := range documentProblems(d.typ, d.raw) {
			add(d.typ, "", m, false)
		}
	}
	for name := range c.NodesDNEntries() {
		checkName("nodesdn", name)
		if name == StaticNodesDNName {
			add("nodesdn", name, "this name is reserved for plugins.security.nodes_dn", false)
		}
	}

	groups := c.ActionGroups
	checkActions := func(typ, name, where string, entries []string) {
		for _, a := range entries {
			if _, isGroup := groups[a]; isGroup || strings.ContainsAny(a, ":*?") || isRegexPattern(a) {
				continue
			}
			add(typ, name, fmt.Sprintf("%s: '%s' is neither an action group nor an action pattern, it grants nothing", where, a), true)
		}
	}
	checkPatterns := func(typ, name, where string, pats []string) {
		for _, p := range pats {
			if msg := regexPatternProblem(p); msg != "" {
				add(typ, name, fmt.Sprintf("%s: pattern %s does not compile, it matches nothing: %s", where, p, msg), true)
			}
		}
	}

	for _, name := range slices.Sorted(maps.Keys(c.Roles)) {
		r := c.Roles[name]
		if r.Static {
			continue
		}
		checkName("roles", name)
		if e := validateRoleContent(r); e != nil {
			add("roles", name, errorText(e), false)
		}
		checkActions("roles", name, "cluster_permissions", r.ClusterPermissions)
		checkPatterns("roles", name, "cluster_permissions", r.ClusterPermissions)
		for i, ip := range r.IndexPermissions {
			where := fmt.Sprintf("index_permissions[%d]", i)
			checkActions("roles", name, where+".allowed_actions", ip.AllowedActions)
			checkPatterns("roles", name, where+".index_patterns", ip.IndexPatterns)
			checkPatterns("roles", name, where+".allowed_actions", ip.AllowedActions)
		}
		for i, tp := range r.TenantPermissions {
			checkPatterns("roles", name, fmt.Sprintf("tenant_permissions[%d].tenant_patterns", i), tp.TenantPatterns)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.ActionGroups)) {
		g := c.ActionGroups[name]
		if g.Static {
			continue
		}
		checkName("actiongroups", name)
		switch strings.ToLower(g.Type) {
		case "", "cluster", "index", "kibana", "all":
		default:
			add("actiongroups", name, "invalid action group type: "+g.Type+" (cluster, index, kibana or all)", false)
		}
		if slices.Contains(g.AllowedActions, name) {
			add("actiongroups", name, name+" cannot be an allowed_action of itself", true)
		}
		if _, ok := c.Roles[name]; ok {
			add("actiongroups", name, "an action group with the name of an existing role", true)
		}
		checkActions("actiongroups", name, "allowed_actions", g.AllowedActions)
		checkPatterns("actiongroups", name, "allowed_actions", g.AllowedActions)
	}
	for _, name := range slices.Sorted(maps.Keys(c.RolesMapping)) {
		m := c.RolesMapping[name]
		checkName("rolesmapping", name)
		if _, ok := c.Roles[name]; !ok {
			add("rolesmapping", name, "role '"+name+"' not found: the mapping grants nothing", true)
		}
		for _, l := range []struct {
			where string
			pats  []string
		}{{"users", m.Users}, {"backend_roles", m.BackendRoles}, {"and_backend_roles", m.AndBackendRoles}, {"hosts", m.Hosts}} {
			checkPatterns("rolesmapping", name, l.where, l.pats)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.InternalUsers)) {
		u := c.InternalUsers[name]
		checkName("internalusers", name)
		if strings.Contains(name, ":") {
			add("internalusers", name, "the name contains ':', which the REST API refuses", true)
		}
		for _, r := range u.SecurityRoles {
			if _, ok := c.Roles[r]; !ok {
				add("internalusers", name, "opendistro_security_roles: role '"+r+"' not found", true)
			}
		}
		if u.Hash != "" && !isBcryptHash(u.Hash) {
			add("internalusers", name, "hash is not a bcrypt hash ($2a$, $2b$ or $2y$): the user cannot log in", true)
		}
	}
	for name := range c.Tenants {
		checkName("tenants", name)
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Message < b.Message
	})
	return ps
}

func isBcryptHash(h string) bool {
	return len(h) == 60 && (strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$"))
}

// regexPatternProblem returns why a /regex/ pattern (R-PAT-1) does not compile
// as authzd compiles it (R-PAT-4), or "".
func regexPatternProblem(p string) string {
	if !isRegexPattern(p) || strings.Contains(p, "${") {
		return ""
	}
	if cp := compilePattern(p); cp.err != nil {
		return cp.err.Error()
	}
	return ""
}

// errorText is the human part of a plugin-shaped error body: its message or
// reason, followed by the keys of a validation error.
func errorText(e *Error) string {
	var body map[string]any
	if json.Unmarshal(e.Body, &body) != nil {
		return string(e.Body)
	}
	var parts []string
	for _, k := range []string{"message", "reason"} {
		if s, ok := body[k].(string); ok {
			parts = append(parts, s)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if k == "message" || k == "reason" || k == "status" {
			continue
		}
		v, _ := json.Marshal(body[k])
		parts = append(parts, k+"="+string(v))
	}
	return strings.Join(parts, "; ")
}

// ProblemsOf returns the problems of a refusal made by ProblemsError, or the
// refusal as one problem of type typ.
func ProblemsOf(e *Error, typ string) []Problem {
	var body struct {
		Problems []Problem `json:"problems"`
	}
	if json.Unmarshal(e.Body, &body) == nil && len(body.Problems) > 0 {
		return body.Problems
	}
	return []Problem{{Type: typ, Message: errorText(e)}}
}
