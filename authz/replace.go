package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
)

// ConfigTypes are the configuration types of a whole configuration, in the
// order of the plugin's files (R-MOD-1); they are the keys of Replace's docs.
var ConfigTypes = []string{"internalusers", "roles", "rolesmapping", "actiongroups", "tenants", "config", "nodesdn", "allowlist", "audit"}

// Replace builds the configuration that replacing documents in prev gives
// (config.replace, authzctl apply). docs maps configuration types to their
// JSON document without _meta: for the five collections and nodesdn a map of
// name to entity, for config, allowlist and audit the `config` object. A type
// absent from docs keeps prev's value. Statics are merged in (R-MOD-7), every
// entity normalized, the single documents normalized with their defaults, and
// the result must have no Check error. prev is not changed. Deterministic.
func Replace(prev *Config, docs map[string][]byte) (*Config, *Error) {
	loaded := NewConfig()
	var problems []Problem
	types := slices.Sorted(maps.Keys(docs))
	for _, typ := range types {
		doc := docs[typ]
		var err error
		switch typ {
		case "internalusers":
			loaded.InternalUsers, err = replaceDecode[InternalUser](doc)
		case "roles":
			loaded.Roles, err = replaceDecode[Role](doc)
		case "rolesmapping":
			loaded.RolesMapping, err = replaceDecode[RoleMapping](doc)
		case "actiongroups":
			loaded.ActionGroups, err = replaceDecode[ActionGroup](doc)
		case "tenants":
			loaded.Tenants, err = replaceDecode[Tenant](doc)
		case "nodesdn":
			var m map[string]NodesDN
			if m, err = replaceDecode[NodesDN](doc); err == nil {
				loaded.NodesDN = EncodeNodesDN(m)
			}
		case "config":
			loaded.SecurityConfig = doc
		case "audit":
			loaded.Audit = doc
		case "allowlist":
			loaded.Allowlist = doc
		default:
			return nil, StatusMessage(http.StatusBadRequest, fmt.Sprintf("unknown configuration type '%s'", typ))
		}
		if err != nil {
			problems = append(problems, Problem{Type: typ, Message: "invalid document: " + err.Error()})
		}
	}
	if len(problems) > 0 {
		return nil, ProblemsError(problems)
	}
	return ReplaceWith(prev, loaded, types)
}

// ReplaceWith is Replace with the new types already loaded (LoadDirs):
// prev's types are replaced by loaded's, for the given types only. loaded is
// not changed, and its entities are shared, not copied (entities are never
// changed in place).
func ReplaceWith(prev, loaded *Config, types []string) (*Config, *Error) {
	next := prev.Clone()
	var problems []Problem
	for _, typ := range types {
		var e *Error
		switch typ {
		case "internalusers":
			next.InternalUsers = maps.Clone(loaded.InternalUsers)
		case "roles":
			next.Roles = maps.Clone(loaded.Roles)
		case "rolesmapping":
			next.RolesMapping = maps.Clone(loaded.RolesMapping)
		case "actiongroups":
			next.ActionGroups = maps.Clone(loaded.ActionGroups)
		case "tenants":
			next.Tenants = maps.Clone(loaded.Tenants)
		case "nodesdn":
			next.NodesDN = EncodeNodesDN(loaded.NodesDNEntries())
		case "config", "audit", "allowlist":
			doc := loaded.doc(typ)
			if len(doc) == 0 {
				doc = json.RawMessage("{}")
			}
			if msgs := documentProblems(typ, doc); len(msgs) > 0 {
				for _, m := range msgs {
					problems = append(problems, Problem{Type: typ, Message: m})
				}
				continue
			}
			switch typ {
			case "config":
				next.SecurityConfig, e = NormalizeSecurityConfig(doc)
			case "audit":
				next.Audit, e = NormalizeAudit(doc)
			default:
				next.Allowlist, e = NormalizeAllowlist(doc)
			}
		default:
			return nil, StatusMessage(http.StatusBadRequest, fmt.Sprintf("unknown configuration type '%s'", typ))
		}
		if e != nil {
			problems = append(problems, Problem{Type: typ, Message: errorText(e)})
		}
	}
	if len(problems) > 0 {
		return nil, ProblemsError(problems)
	}
	next.AddStatics()
	next.Normalize()
	if errs := Errors(next.Check()); len(errs) > 0 {
		return nil, ProblemsError(errs)
	}
	return next, nil
}

// documentProblems lists what is wrong with a single document, one message
// per problem, each with its path.
func documentProblems(typ string, raw json.RawMessage) []string {
	if validateJSONKind(raw) != '{' && validateJSONKind(raw) != 'n' {
		return []string{"the document is not a JSON object"}
	}
	switch typ {
	case "config":
		return securityConfigProblems(raw)
	case "audit":
		_, p := decodeAudit(raw)
		return p.messages()
	default:
		_, p := decodeAllowlist(raw)
		return p.messages()
	}
}

func replaceDecode[T any](doc []byte) (map[string]T, error) {
	m := map[string]T{}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]T{}
	}
	return m, nil
}

// Docs returns the JSON documents of the given configuration types (all of
// ConfigTypes when types is nil), as Replace accepts them: statics left out
// (R-MOD-7), hashes included. Single documents that are not set are left out.
// Replace(c, c.Docs(nil)) equals c.
func (c *Config) Docs(types []string) map[string][]byte {
	if types == nil {
		types = ConfigTypes
	}
	out := map[string][]byte{}
	for _, typ := range types {
		var v any
		switch typ {
		case "internalusers":
			v = c.InternalUsers
		case "roles":
			v = withoutStatic(c.Roles, func(r Role) bool { return r.Static })
		case "rolesmapping":
			v = c.RolesMapping
		case "actiongroups":
			v = withoutStatic(c.ActionGroups, func(g ActionGroup) bool { return g.Static })
		case "tenants":
			v = withoutStatic(c.Tenants, func(t Tenant) bool { return t.Static })
		case "nodesdn":
			v = c.NodesDNEntries()
		case "config", "audit", "allowlist":
			if raw := c.doc(typ); len(raw) > 0 {
				out[typ] = slices.Clone(raw)
			}
			continue
		default:
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			// The model types always encode.
			panic(fmt.Sprintf("authz: encode %s: %v", typ, err))
		}
		out[typ] = b
	}
	return out
}

func (c *Config) doc(typ string) json.RawMessage {
	switch typ {
	case "config":
		return c.SecurityConfig
	case "audit":
		return c.Audit
	case "allowlist":
		return c.Allowlist
	case "nodesdn":
		return c.NodesDN
	}
	return nil
}

func withoutStatic[T any](m map[string]T, static func(T) bool) map[string]T {
	out := make(map[string]T, len(m))
	for k, v := range m {
		if !static(v) {
			out[k] = v
		}
	}
	return out
}

// Change is one difference between two configurations.
type Change struct {
	// Type is the configuration type (ConfigTypes).
	Type string `json:"type"`
	// Name is the entity; "config" for the single documents.
	Name string `json:"name"`
	// Op is "added", "changed" or "removed".
	Op string `json:"op"`
}

// Diff lists what differs from a to b: entities added, changed and removed per
// type, and the single documents, in ConfigTypes order and then by name.
// Entities are compared normalized, so equal content in different shapes
// (nil or empty lists) is no change.
func Diff(a, b *Config) []Change {
	var out []Change
	for _, typ := range ConfigTypes {
		switch typ {
		case "internalusers":
			out = diffMaps(out, typ, a.InternalUsers, b.InternalUsers, normalizedInternalUser)
		case "roles":
			out = diffMaps(out, typ, a.Roles, b.Roles, normalizedRole)
		case "rolesmapping":
			out = diffMaps(out, typ, a.RolesMapping, b.RolesMapping, normalizedRoleMapping)
		case "actiongroups":
			out = diffMaps(out, typ, a.ActionGroups, b.ActionGroups, normalizedActionGroup)
		case "tenants":
			out = diffMaps(out, typ, a.Tenants, b.Tenants, func(t Tenant) Tenant { return t })
		case "nodesdn":
			out = diffMaps(out, typ, a.NodesDNEntries(), b.NodesDNEntries(), func(n NodesDN) NodesDN {
				if n.NodesDN == nil {
					n.NodesDN = []string{}
				}
				return n
			})
		default:
			da, db := a.doc(typ), b.doc(typ)
			switch {
			case len(da) == 0 && len(db) > 0:
				out = append(out, Change{typ, "config", "added"})
			case len(da) > 0 && len(db) == 0:
				out = append(out, Change{typ, "config", "removed"})
			case len(da) > 0 && !bytes.Equal(da, db):
				out = append(out, Change{typ, "config", "changed"})
			}
		}
	}
	return out
}

func diffMaps[T any](out []Change, typ string, a, b map[string]T, norm func(T) T) []Change {
	names := slices.Collect(maps.Keys(b))
	for n := range a {
		if _, ok := b[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		va, inA := a[n]
		vb, inB := b[n]
		switch {
		case !inA:
			out = append(out, Change{typ, n, "added"})
		case !inB:
			out = append(out, Change{typ, n, "removed"})
		case !reflect.DeepEqual(norm(va), norm(vb)):
			out = append(out, Change{typ, n, "changed"})
		}
	}
	return out
}
