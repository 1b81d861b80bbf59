package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// apply computes the view that follows prev when env is applied at index. It is
// pure: it reads prev and env only, and never mutates prev.
func apply(prev *View, env events.Envelope, index uint64, s *scratch) (*View, Result) {
	reject := func(e *authz.Error) (*View, Result) {
		v := *prev
		v.Rev = index
		return &v, Result{Rev: index, Err: e}
	}
	if env.Type == events.MemberPut || env.Type == events.MemberDelete {
		return applyMember(prev, env, index)
	}
	ch := Change{Rev: index, At: env.At, Actor: env.Actor, Type: string(env.Type)}

	var (
		next                    *authz.Config
		added, changed, removed []string // "<kind>/<name>" change keys
		res                     = Result{Rev: index}
		err                     *authz.Error
		initialized             = prev.Initialized
	)
	switch env.Type {
	case events.ConfigReplace:
		var p events.Replace
		if derr := env.DecodePayload(&p); derr != nil {
			return reject(authz.StatusMessage(http.StatusBadRequest, derr.Error()))
		}
		if p.Bootstrap && prev.Initialized {
			v := *prev
			v.Rev = index
			return &v, Result{Rev: index, Unchanged: true}
		}
		next, err = replaceConfig(prev.Config, p.Docs)
		if err != nil {
			return reject(err)
		}
		added, changed, removed = diffConfigs(prev.Config, next)
		res.Unchanged = prev.Initialized && len(added)+len(changed)+len(removed) == 0
		initialized = true
		res.Keys = changedKeys(append(append(slices.Clone(added), changed...), removed...), nil)
	case events.AccountPassword:
		var p events.PasswordChange
		if derr := env.DecodePayload(&p); derr != nil {
			return reject(authz.StatusMessage(http.StatusBadRequest, derr.Error()))
		}
		u, ok := prev.Config.InternalUsers[p.Name]
		if !ok {
			return reject(authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("account '%s' not found.", p.Name)))
		}
		if e := prev.Config.CheckDelete(authz.KindInternalUsers, p.Name, p.Admin); e != nil {
			return reject(e)
		}
		u.Hash = p.Hash
		next = collections[authz.KindInternalUsers].(typed[authz.InternalUser]).withEntry(s, prev.Config, p.Name, u)
		changed = []string{changeKey(authz.KindInternalUsers, p.Name)}
	case events.SettingsPut:
		if next, changed, err = applySettings(prev.Config, env); err != nil {
			return reject(err)
		}
	default:
		if d, ok := documents[env.Type]; ok {
			var key string
			next, key, res, err = applyDocument(prev.Config, env, d)
			if err != nil {
				return reject(err)
			}
			res.Rev = index
			if res.Created {
				added = []string{key}
			} else {
				changed = []string{key}
			}
			break
		}
		kind, verb, ok := kindOf(env.Type)
		if !ok {
			// events.Decode only returns known types; a known type without a case is a bug.
			panic(fmt.Sprintf("fsm: no apply rule for event type %q", env.Type))
		}
		c := collections[kind]
		switch verb {
		case "put":
			var p events.ResourcePut
			if derr := env.DecodePayload(&p); derr != nil {
				return reject(authz.StatusMessage(http.StatusBadRequest, derr.Error()))
			}
			next, res.Created, err = c.put(s, prev.Config, p)
			if res.Created {
				added = []string{changeKey(kind, p.Name)}
			} else {
				changed = []string{changeKey(kind, p.Name)}
			}
		case "delete":
			var p events.ResourceDelete
			if derr := env.DecodePayload(&p); derr != nil {
				return reject(authz.StatusMessage(http.StatusBadRequest, derr.Error()))
			}
			next, err = c.delete(s, prev.Config, p)
			removed = []string{changeKey(kind, p.Name)}
		case "patch":
			var p events.ResourcePatch
			if derr := env.DecodePayload(&p); derr != nil {
				return reject(authz.StatusMessage(http.StatusBadRequest, derr.Error()))
			}
			var touched, gone []string
			next, touched, gone, err = c.patch(s, prev.Config, p)
			for _, n := range touched {
				if c.has(prev.Config, n) {
					changed = append(changed, changeKey(kind, n))
				} else {
					added = append(added, changeKey(kind, n))
				}
			}
			for _, n := range gone {
				removed = append(removed, changeKey(kind, n))
			}
			res.Unchanged = err == nil && len(touched) == 0 && len(gone) == 0
		}
		if err != nil {
			return reject(err)
		}
	}
	if res.Unchanged {
		v := *prev
		v.Rev = index
		return &v, res
	}
	changes := prev.changes.Txn()
	for _, k := range added {
		changes.Insert([]byte(k), ch)
	}
	for _, k := range changed {
		changes.Insert([]byte(k), ch)
	}
	for _, k := range removed {
		changes.Delete([]byte(k))
	}
	res.Keys = changedKeys(append(slices.Clone(added), changed...), removed)
	hist := prev.History.append(newRecord(ch, env.RequestID, added, changed, removed))
	return &View{Rev: index, Config: next, Eval: prev.Eval, changes: changes.Commit(), History: hist, Initialized: initialized, Members: prev.Members}, res
}

// kindOf splits an event type such as "role.put" or "roles.patch" into its kind and verb.
func kindOf(t events.Type) (authz.Kind, string, bool) {
	noun, verb, ok := strings.Cut(string(t), ".")
	if !ok {
		return "", "", false
	}
	kinds := map[string]authz.Kind{
		"internaluser": authz.KindInternalUsers, "internalusers": authz.KindInternalUsers,
		"role": authz.KindRoles, "roles": authz.KindRoles,
		"rolesmapping": authz.KindRolesMapping, "rolesmappings": authz.KindRolesMapping,
		"actiongroup": authz.KindActionGroups, "actiongroups": authz.KindActionGroups,
		"tenant": authz.KindTenants, "tenants": authz.KindTenants,
		"nodesdn": authz.KindNodesDN,
	}
	k, ok := kinds[noun]
	return k, verb, ok
}

// EventType returns the event type for a verb ("put", "delete", "patch") on a kind.
func EventType(kind authz.Kind, verb string) events.Type {
	singular := map[authz.Kind]string{
		authz.KindInternalUsers: "internaluser", authz.KindRoles: "role",
		authz.KindRolesMapping: "rolesmapping", authz.KindActionGroups: "actiongroup",
		authz.KindTenants: "tenant", authz.KindNodesDN: "nodesdn",
	}
	if verb == "patch" {
		if kind == authz.KindRolesMapping {
			return events.RolesMappingPatch
		}
		return events.Type(string(kind) + ".patch")
	}
	return events.Type(singular[kind] + "." + verb)
}

// collection applies put, delete and patch to one map of the configuration.
type collection interface {
	put(s *scratch, c *authz.Config, p events.ResourcePut) (*authz.Config, bool, *authz.Error)
	delete(s *scratch, c *authz.Config, p events.ResourceDelete) (*authz.Config, *authz.Error)
	patch(s *scratch, c *authz.Config, p events.ResourcePatch) (next *authz.Config, changed, removed []string, err *authz.Error)
	// items returns the collection's map as a value of type map[string]T.
	items(c *authz.Config) any
	// names returns the sorted names in the collection.
	names(c *authz.Config) []string
	// has reports whether the collection has a resource called name.
	has(c *authz.Config, name string) bool
}

// typed is the collection of resources of type T.
type typed[T any] struct {
	kind authz.Kind
	get  func(*authz.Config) map[string]T
	set  func(*authz.Config, map[string]T)
}

var collections = map[authz.Kind]collection{
	authz.KindInternalUsers: typed[authz.InternalUser]{authz.KindInternalUsers,
		func(c *authz.Config) map[string]authz.InternalUser { return c.InternalUsers },
		func(c *authz.Config, m map[string]authz.InternalUser) { c.InternalUsers = m }},
	authz.KindRoles: typed[authz.Role]{authz.KindRoles,
		func(c *authz.Config) map[string]authz.Role { return c.Roles },
		func(c *authz.Config, m map[string]authz.Role) { c.Roles = m }},
	authz.KindRolesMapping: typed[authz.RoleMapping]{authz.KindRolesMapping,
		func(c *authz.Config) map[string]authz.RoleMapping { return c.RolesMapping },
		func(c *authz.Config, m map[string]authz.RoleMapping) { c.RolesMapping = m }},
	authz.KindActionGroups: typed[authz.ActionGroup]{authz.KindActionGroups,
		func(c *authz.Config) map[string]authz.ActionGroup { return c.ActionGroups },
		func(c *authz.Config, m map[string]authz.ActionGroup) { c.ActionGroups = m }},
	authz.KindTenants: typed[authz.Tenant]{authz.KindTenants,
		func(c *authz.Config) map[string]authz.Tenant { return c.Tenants },
		func(c *authz.Config, m map[string]authz.Tenant) { c.Tenants = m }},
	// nodes_dn is stored as one JSON document; the collection decodes and
	// encodes it around each operation (it holds a handful of entries).
	authz.KindNodesDN: typed[authz.NodesDN]{authz.KindNodesDN,
		func(c *authz.Config) map[string]authz.NodesDN { return c.NodesDNEntries() },
		func(c *authz.Config, m map[string]authz.NodesDN) { c.NodesDN = authz.EncodeNodesDN(m) }},
}

// Items returns the map of one kind (map[string]authz.InternalUser for users, and so on).
func Items(c *authz.Config, kind authz.Kind) any { return collections[kind].items(c) }

func (t typed[T]) items(c *authz.Config) any { return t.get(c) }

func (t typed[T]) names(c *authz.Config) []string { return slices.Sorted(maps.Keys(t.get(c))) }

func (t typed[T]) has(c *authz.Config, name string) bool { _, ok := t.get(c)[name]; return ok }

// with returns a copy of c whose map for t is m. The other maps are shared with
// c: they are never modified in place, and copying a 100k-user map on every
// role change would dominate the cost of a write.
func (t typed[T]) with(c *authz.Config, m map[string]T) *authz.Config {
	n := *c
	t.set(&n, m)
	return &n
}

// keepHash lets an internal user without a hash keep its stored one (R-API-22, R-API-19).
func (t typed[T]) keepHash(c *authz.Config, name string, v T) T {
	if u, ok := any(v).(authz.InternalUser); ok {
		return any(c.KeepHash(name, u)).(T)
	}
	return v
}

func (t typed[T]) put(s *scratch, c *authz.Config, p events.ResourcePut) (*authz.Config, bool, *authz.Error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(p.Doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, false, authz.StatusMessage(http.StatusBadRequest, "Could not parse content of request.")
	}
	v = t.keepHash(c, p.Name, v)
	v = normalized(v)
	if e := c.CheckPut(t.kind, p.Name, v, p.Admin); e != nil {
		return nil, false, e
	}
	_, existed := t.get(c)[p.Name]
	return t.withEntry(s, c, p.Name, v), !existed, nil
}

func (t typed[T]) delete(s *scratch, c *authz.Config, p events.ResourceDelete) (*authz.Config, *authz.Error) {
	if e := c.CheckDelete(t.kind, p.Name, p.Admin); e != nil {
		return nil, e
	}
	return t.without(s, c, p.Name), nil
}

func (t typed[T]) patch(s *scratch, c *authz.Config, p events.ResourcePatch) (*authz.Config, []string, []string, *authz.Error) {
	if e := ValidatePatch(p.Ops); e != nil {
		return nil, nil, nil, e
	}
	if p.Name != "" {
		return t.patchOne(s, c, p)
	}
	return t.patchAll(s, c, p)
}

// patchOne applies a patch to one resource (R-API-18).
func (t typed[T]) patchOne(s *scratch, c *authz.Config, p events.ResourcePatch) (*authz.Config, []string, []string, *authz.Error) {
	old, ok := t.get(c)[p.Name]
	if !ok {
		return nil, nil, nil, notFound(t.kind, p.Name)
	}
	// R-API-9 and R-API-7 guard the existing resource before anything is patched.
	if e := c.CheckDelete(t.kind, p.Name, p.Admin); e != nil {
		return nil, nil, nil, e
	}
	doc, err := json.Marshal(old)
	if err != nil {
		return nil, nil, nil, authz.StatusMessage(http.StatusInternalServerError, "encode resource: "+err.Error())
	}
	patched, e := applyPatch(p.Ops, doc)
	if e != nil {
		return nil, nil, nil, e
	}
	v, e := t.parse(c, p.Name, patched, &old, p.Admin)
	if e != nil {
		return nil, nil, nil, e
	}
	if reflect.DeepEqual(normalized(old), v) {
		return c, nil, nil, nil
	}
	if e := c.CheckPut(t.kind, p.Name, v, p.Admin); e != nil {
		return nil, nil, nil, e
	}
	return t.withEntry(s, c, p.Name, v), []string{p.Name}, nil, nil
}

// patchAll applies a patch to the whole collection (R-API-17): every resource it
// adds, changes or removes is checked as a PUT or DELETE would be, in name order,
// and the first refusal rejects the whole patch.
func (t typed[T]) patchAll(s *scratch, c *authz.Config, p events.ResourcePatch) (*authz.Config, []string, []string, *authz.Error) {
	doc, err := json.Marshal(t.get(c))
	if err != nil {
		return nil, nil, nil, authz.StatusMessage(http.StatusInternalServerError, "encode collection: "+err.Error())
	}
	patched, e := applyPatch(p.Ops, doc)
	if e != nil {
		return nil, nil, nil, e
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(patched, &raw); err != nil || raw == nil {
		return nil, nil, nil, authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
	}
	oldItems := t.get(c)
	next := make(map[string]T, len(raw))
	var changed, removed []string
	for _, name := range slices.Sorted(maps.Keys(oldItems)) {
		if _, still := raw[name]; !still {
			if e := c.CheckDelete(t.kind, name, p.Admin); e != nil {
				return nil, nil, nil, e
			}
			removed = append(removed, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		old, existed := oldItems[name]
		var prevp *T
		if existed {
			prevp = &old
		}
		v, e := t.parse(c, name, raw[name], prevp, p.Admin)
		if e != nil {
			return nil, nil, nil, e
		}
		if existed && reflect.DeepEqual(normalized(old), v) {
			next[name] = old
			continue
		}
		if e := c.CheckPut(t.kind, name, v, p.Admin); e != nil {
			return nil, nil, nil, e
		}
		next[name] = v
		changed = append(changed, name)
	}
	if len(changed) == 0 && len(removed) == 0 {
		return c, nil, nil, nil
	}
	n := t.with(c, next)
	s.adopt(c, n, t.kind)
	return n, changed, removed, nil
}

// parse validates a patched resource as a PUT body would be (R-API-17, R-API-18).
func (t typed[T]) parse(c *authz.Config, name string, doc []byte, existing *T, admin bool) (T, *authz.Error) {
	var zero T
	opts := authz.ParseOptions{Admin: admin}
	if existing != nil {
		opts.Existing = *existing
	}
	body, e := authz.ParseBody(t.kind, name, doc, opts)
	if e != nil {
		return zero, e
	}
	if body.HasPassword {
		// node replaces every password by its hash before proposing (R-API-19);
		// a plain password here means an operation path the proposer did not recognise.
		return zero, authz.Reason("Password must be set through the 'password' key of a user object or the '/password' path")
	}
	v, ok := body.Value.(T)
	if !ok {
		return zero, authz.StatusMessage(http.StatusInternalServerError, fmt.Sprintf("unexpected body type %T", body.Value))
	}
	return normalized(t.keepHash(c, name, v)), nil
}

// normalized returns v with nil slices and maps replaced by empty ones, so equal
// resources compare and encode equally whatever path built them.
func normalized[T any](v T) T {
	c := authz.NewConfig()
	switch x := any(v).(type) {
	case authz.InternalUser:
		c.InternalUsers["x"] = x
		c.Normalize()
		return any(c.InternalUsers["x"]).(T)
	case authz.Role:
		c.Roles["x"] = x
		c.Normalize()
		return any(c.Roles["x"]).(T)
	case authz.RoleMapping:
		c.RolesMapping["x"] = x
		c.Normalize()
		return any(c.RolesMapping["x"]).(T)
	case authz.ActionGroup:
		c.ActionGroups["x"] = x
		c.Normalize()
		return any(c.ActionGroups["x"]).(T)
	case authz.Tenant:
		c.Tenants["x"] = x
		c.Normalize()
		return any(c.Tenants["x"]).(T)
	case authz.NodesDN:
		if x.NodesDN == nil {
			x.NodesDN = []string{}
		}
		return any(x).(T)
	}
	return v
}

func notFound(kind authz.Kind, name string) *authz.Error {
	return authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("%s '%s' not found.", kind.Noun(), name))
}

// applyPatch applies RFC 6902 operations to a JSON document.
func applyPatch(ops, doc []byte) ([]byte, *authz.Error) {
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return nil, authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
	}
	out, err := patch.Apply(doc)
	if err != nil {
		return nil, authz.StatusMessage(http.StatusBadRequest, err.Error())
	}
	return out, nil
}

// ValidatePatch checks the form of a PATCH body (R-API-16): a non-empty JSON array
// of operations whose op is add, replace or remove.
func ValidatePatch(ops []byte) *authz.Error {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(ops, &list); err != nil || len(list) == 0 {
		return authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
	}
	for _, op := range list {
		var name string
		if err := json.Unmarshal(op["op"], &name); err != nil {
			return authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
		}
		switch name {
		case "add", "replace", "remove":
		default:
			return authz.StatusMessage(http.StatusBadRequest,
				fmt.Sprintf("Unsupported patch operation: %s. Supported are: add,replace,remove", name))
		}
		var path string
		if err := json.Unmarshal(op["path"], &path); err != nil {
			return authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
		}
	}
	return nil
}

// replaceConfig builds the configuration of a config.replace event
// (authz.Replace: types absent from docs keep their value, statics merged,
// documents normalized, no Check error).
func replaceConfig(prev *authz.Config, docs map[string][]byte) (*authz.Config, *authz.Error) {
	return authz.Replace(prev, docs)
}

// diffConfigs returns the change keys of what differs from a to b.
func diffConfigs(a, b *authz.Config) (added, changed, removed []string) {
	for _, c := range authz.Diff(a, b) {
		k := c.Type + "/" + c.Name
		switch c.Op {
		case "added":
			added = append(added, k)
		case "changed":
			changed = append(changed, k)
		default:
			removed = append(removed, k)
		}
	}
	return added, changed, removed
}

// ReplaceDocs turns a configuration into the documents of a config.replace event.
func ReplaceDocs(c *authz.Config) events.Docs {
	docs := events.Docs{}
	for _, kind := range authz.Kinds {
		b, err := json.Marshal(Items(c, kind))
		if err != nil {
			// The model types always encode.
			panic(fmt.Sprintf("fsm: encode %s: %v", kind, err))
		}
		docs[string(kind)] = b
	}
	for typ, raw := range map[string]json.RawMessage{"config": c.SecurityConfig, "audit": c.Audit, "nodesdn": c.NodesDN, "allowlist": c.Allowlist} {
		if len(raw) > 0 {
			docs[typ] = raw
		}
	}
	return docs
}
