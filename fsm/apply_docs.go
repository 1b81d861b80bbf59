package fsm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// document is one single-document configuration type: how to read it from the
// configuration, how to store it, and how to validate a new version.
type document struct {
	// name is the configuration type (config, audit, allowlist); the change
	// key is "<name>/config", the plugin's one entity of the type.
	name string
	get  func(*authz.Config) json.RawMessage
	set  func(*authz.Config, json.RawMessage)
	// parse validates a PUT body or a PATCH result and returns the normalized
	// document (the REST rules).
	parse func(raw []byte) (json.RawMessage, *authz.Error)
	// normalize turns a stored document (possibly empty) into its normalized
	// form, defaults included; a PATCH applies to that form.
	normalize func(json.RawMessage) (json.RawMessage, *authz.Error)
}

var documents = map[events.Type]document{}

func init() {
	sec := document{
		name:  "config",
		get:   func(c *authz.Config) json.RawMessage { return c.SecurityConfig },
		set:   func(c *authz.Config, d json.RawMessage) { c.SecurityConfig = d },
		parse: authz.ParseSecurityConfigBody, normalize: authz.NormalizeSecurityConfig,
	}
	audit := document{
		name:  "audit",
		get:   func(c *authz.Config) json.RawMessage { return c.Audit },
		set:   func(c *authz.Config, d json.RawMessage) { c.Audit = d },
		parse: authz.ParseAuditBody, normalize: authz.NormalizeAudit,
	}
	allow := document{
		name:  "allowlist",
		get:   func(c *authz.Config) json.RawMessage { return c.Allowlist },
		set:   func(c *authz.Config, d json.RawMessage) { c.Allowlist = d },
		parse: authz.ParseAllowlistBody, normalize: authz.NormalizeAllowlist,
	}
	documents[events.SecurityConfigPut], documents[events.SecurityConfigPatch] = sec, sec
	documents[events.AuditPut], documents[events.AuditPatch] = audit, audit
	documents[events.AllowlistPut], documents[events.AllowlistPatch] = allow, allow
}

// applyDocument applies a put or patch of a single-document type. It returns
// the next configuration (prev when nothing changed), the change key, and the
// result.
func applyDocument(prev *authz.Config, env events.Envelope, d document) (*authz.Config, string, Result, *authz.Error) {
	var res Result
	before := d.get(prev)
	existed := len(bytes.TrimSpace(before)) > 0
	old, e := d.normalize(before)
	if e != nil {
		// The stored document was valid when stored; this only happens after a
		// rule change between versions. Patching it is refused, not guessed.
		return nil, "", res, e
	}
	var (
		next  json.RawMessage
		admin bool
	)
	switch {
	case strings.HasSuffix(string(env.Type), ".put"):
		var p events.DocPut
		if err := env.DecodePayload(&p); err != nil {
			return nil, "", res, authz.StatusMessage(http.StatusBadRequest, err.Error())
		}
		admin = p.Admin
		// The proposer validated the body; validating the stored form again
		// keeps every node's state valid whatever the proposer's version.
		if next, e = d.normalize(p.Doc); e != nil {
			return nil, "", res, e
		}
		res.Created = !existed
	default:
		var p events.DocPatch
		if err := env.DecodePayload(&p); err != nil {
			return nil, "", res, authz.StatusMessage(http.StatusBadRequest, err.Error())
		}
		admin = p.Admin
		if e := ValidatePatch(p.Ops); e != nil {
			return nil, "", res, e
		}
		wrapped := []byte("{}") // no document yet: the patch must add /config
		if existed {
			wrapped, _ = json.Marshal(map[string]json.RawMessage{"config": old})
		}
		patched, e := applyPatch(p.Ops, wrapped)
		if e != nil {
			return nil, "", res, e
		}
		body, e := unwrapConfigEntry(patched)
		if e != nil {
			return nil, "", res, e
		}
		if p.Tenancy {
			// The plugin checks sign-in options against the domains before it
			// parses them.
			if e := authz.CheckTenancySignIn(authz.SecurityConfigOf(old), tenancySignInOptions(p.Ops)); e != nil {
				return nil, "", res, e
			}
		}
		if next, e = d.parse(body); e != nil {
			return nil, "", res, e
		}
		if p.Tenancy {
			if e := prev.CheckTenancyConfig(authz.SecurityConfigOf(next)); e != nil {
				return nil, "", res, e
			}
		}
	}
	if d.name == "audit" {
		if e := authz.CheckAuditReadonly(old, next, authz.AuditReadonly, admin); e != nil {
			return nil, "", res, e
		}
	}
	if existed && jsonpatch.Equal(old, next) {
		res.Unchanged = true
		return prev, d.name + "/config", res, nil
	}
	c := *prev // a document is a field of its own; no map is changed
	d.set(&c, next)
	return &c, d.name + "/config", res, nil
}

// unwrapConfigEntry returns the "config" entry of a patched {"config": ...}
// document. Like the plugin's single "config" entity, it can be changed but
// not removed, and no other entry can be added.
func unwrapConfigEntry(patched []byte) ([]byte, *authz.Error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(patched, &top); err != nil || top == nil {
		return nil, authz.StatusMessage(http.StatusBadRequest, "Wrong request body")
	}
	var extra []string
	for k := range top {
		if k != "config" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		return nil, authz.StatusMessage(http.StatusBadRequest, "Only the 'config' entry can be patched, found '"+strings.Join(extra, "', '")+"'")
	}
	body, ok := top["config"]
	if !ok || string(bytes.TrimSpace(body)) == "null" {
		return nil, authz.StatusMessage(http.StatusBadRequest, "The 'config' entry cannot be removed")
	}
	return body, nil
}

// tenancySignInOptions returns the sign_in_options a PUT tenancy/config sets
// (as text, like the plugin's asText), which are checked against the
// authentication domains.
func tenancySignInOptions(ops []byte) []string {
	var list []struct {
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(ops, &list)
	var out []string
	for _, op := range list {
		var values []json.RawMessage
		if !strings.HasSuffix(op.Path, "/sign_in_options") || json.Unmarshal(op.Value, &values) != nil {
			continue
		}
		for _, v := range values {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			out = append(out, s)
		}
	}
	return out
}
