package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Body is a validated request body for one resource.
type Body struct {
	// Kind is the kind the body was validated for.
	Kind Kind
	// Value is the entity: InternalUser, Role, RoleMapping, ActionGroup or Tenant
	// (a value, not a pointer), normalized: no nil slices or maps.
	Value any
	// Password is an internal user body's "password" key when present, in clear
	// text. It is neither checked (see CheckPassword) nor hashed.
	Password string
	// HasPassword reports whether the body had a "password" key, even an empty one.
	HasPassword bool
}

// ParseOptions tells ParseBody who is asking and what the body replaces.
type ParseOptions struct {
	// Admin is true when the caller is admin for the endpoint (R-API-6): the
	// "hidden" and "reserved" keys are then allowed.
	Admin bool
	// Existing is the entity before a PATCH (InternalUser, Role, ...; value or
	// pointer), nil for a PUT or a new entity. PATCH results contain every stored
	// key: a "reserved", "hidden" or "static" key whose value equals Existing's
	// (false when Existing is nil) is accepted from anyone; a changed "hidden" or
	// "reserved" needs Admin, and a changed "static" is never accepted. For
	// internal users the "hash" key is always allowed.
	Existing any
}

// validateType is the JSON type the plugin's RequestContentValidator expects for
// a key (its DataType).
type validateType int

const (
	validateString validateType = iota
	validateArray
	validateObject
	validateBool
)

// validateSpec is the plugin's ValidationContext of one endpoint (R-API-15).
type validateSpec struct {
	allowed   map[string]validateType // without the admin flags
	mandatory []string
	oneOf     []string
	hasStatic bool // the entity has a static flag (role mappings have none)
}

var validateSpecs = map[Kind]validateSpec{
	KindInternalUsers: {allowed: map[string]validateType{
		"backend_roles": validateArray, "attributes": validateObject, "description": validateString,
		"opendistro_security_roles": validateArray, "hash": validateString, "password": validateString,
	}, hasStatic: true},
	KindRoles: {allowed: map[string]validateType{
		"cluster_permissions": validateArray, "tenant_permissions": validateArray,
		"index_permissions": validateArray, "description": validateString,
	}, hasStatic: true},
	KindRolesMapping: {allowed: map[string]validateType{
		"backend_roles": validateArray, "and_backend_roles": validateArray, "hosts": validateArray,
		"users": validateArray, "description": validateString,
	}, oneOf: []string{"and_backend_roles", "backend_roles", "hosts", "users"}},
	KindActionGroups: {allowed: map[string]validateType{
		"allowed_actions": validateArray, "description": validateString, "type": validateString,
	}, mandatory: []string{"allowed_actions"}, hasStatic: true},
	KindTenants: {allowed: map[string]validateType{"description": validateString}, hasStatic: true},
	KindNodesDN: {allowed: map[string]validateType{"nodes_dn": validateArray}, mandatory: []string{"nodes_dn"}},
}

// Keys of the objects inside a role's permission arrays (authzd checks them,
// R-API-15 deviation).
var (
	validateIndexPermKeys = map[string]validateType{
		"index_patterns": validateArray, "dls": validateString, "fls": validateArray,
		"masked_fields": validateArray, "allowed_actions": validateArray,
	}
	validateTenantPermKeys = map[string]validateType{"tenant_patterns": validateArray, "allowed_actions": validateArray}
)

// ParseBody validates a PUT body (or the result of a PATCH) for the resource
// name of kind, in the plugin's order, and returns the entity. It checks what
// needs no configuration: the name (R-API-12), that the body is a non-empty JSON
// object (R-API-13), the allowed, mandatory and one-of keys (R-API-14/15), the
// JSON types of the keys, null array elements, the keys and types inside role
// permissions, masked field syntax (R-DLS-5, R-API-25), that DLS queries are JSON
// objects (R-DLS-4), the action group type (R-API-27) and self reference
// (R-API-28). Refusals carry the plugin's exact body; see validate_test.go.
// Password rules (R-API-20) are left to CheckPassword and configuration rules to
// Config.CheckPut.
func ParseBody(kind Kind, name string, raw []byte, opts ParseOptions) (Body, *Error) {
	spec, ok := validateSpecs[kind]
	if !ok {
		return Body{}, StatusMessage(http.StatusInternalServerError, fmt.Sprintf("Unknown resource kind %q", string(kind)))
	}
	if err := validateName(kind, name); err != nil {
		return Body{}, err
	}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))) // Jackson skips a BOM
	if len(trimmed) == 0 {
		return Body{}, Reason("Request body required for this action.")
	}
	var top map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &top) != nil {
		return Body{}, Reason("Could not parse content of request.")
	}
	if len(top) == 0 {
		return Body{}, Reason("Request body required for this action.")
	}

	types, err := validateKeys(spec, top, opts)
	if err != nil {
		return Body{}, err
	}

	// Types of the top-level keys (validateDataType), then null array elements.
	wrong := map[string]string{}
	for key, t := range types {
		validateCheckType(key, top[key], t, wrong)
	}
	if len(wrong) > 0 {
		return Body{}, validateWrongDatatype(wrong)
	}
	for key := range types {
		if validateHasNullArrayElement(top[key]) {
			return Body{}, Reason("`null` is not allowed as json array element")
		}
	}

	d := &validateDecoder{top: top, wrong: wrong}
	b := Body{Kind: kind}
	flags := Flags{}
	flags.Hidden, _ = validateBoolValue(top["hidden"])
	flags.Reserved, _ = validateBoolValue(top["reserved"])
	flags.Static, _ = validateBoolValue(top["static"])
	switch kind {
	case KindInternalUsers:
		u := InternalUser{
			Hash: d.str("hash"), Reserved: flags.Reserved, Hidden: flags.Hidden, Static: flags.Static,
			BackendRoles: d.strs("backend_roles"), SecurityRoles: d.strs("opendistro_security_roles"),
			Attributes: d.attributes(), Description: d.str("description"),
		}
		_, b.HasPassword = top["password"]
		b.Password = d.str("password")
		b.Value = normalizedInternalUser(u)
	case KindRoles:
		r := Role{
			Reserved: flags.Reserved, Hidden: flags.Hidden, Static: flags.Static, Description: d.str("description"),
			ClusterPermissions: d.strs("cluster_permissions"),
			IndexPermissions:   d.indexPermissions(), TenantPermissions: d.tenantPermissions(),
		}
		b.Value = normalizedRole(r)
	case KindRolesMapping:
		b.Value = normalizedRoleMapping(RoleMapping{
			Reserved: flags.Reserved, Hidden: flags.Hidden, Description: d.str("description"),
			Hosts: d.strs("hosts"), Users: d.strs("users"), BackendRoles: d.strs("backend_roles"),
			AndBackendRoles: d.strs("and_backend_roles"),
		})
	case KindActionGroups:
		b.Value = normalizedActionGroup(ActionGroup{
			Reserved: flags.Reserved, Hidden: flags.Hidden, Static: flags.Static,
			AllowedActions: d.strs("allowed_actions"), Description: d.str("description"), Type: d.str("type"),
		})
	case KindTenants:
		b.Value = Tenant{Reserved: flags.Reserved, Hidden: flags.Hidden, Static: flags.Static, Description: d.str("description")}
	case KindNodesDN:
		b.Value = NodesDN{NodesDN: d.strs("nodes_dn")}
	}
	if len(d.invalid) > 0 {
		return Body{}, validateInvalidConfiguration(d.invalid, nil, nil)
	}
	if len(wrong) > 0 {
		return Body{}, validateWrongDatatype(wrong)
	}

	switch v := b.Value.(type) {
	case Role:
		if err := validateRoleContent(v); err != nil {
			return Body{}, err
		}
	case ActionGroup:
		_, hasType := top["type"]
		if err := validateActionGroupContent(name, v, hasType); err != nil {
			return Body{}, err
		}
	}
	return b, nil
}

// validateKeys is the plugin's validateJsonKeys (R-API-15) plus the flag rules
// of ParseOptions. It returns the expected type of every key of top.
func validateKeys(spec validateSpec, top map[string]json.RawMessage, opts ParseOptions) (map[string]validateType, *Error) {
	existing := validateFlagsOf(opts.Existing)
	types := make(map[string]validateType, len(top))
	var invalid, missing, oneOf []string
	for key, val := range top {
		if t, ok := spec.allowed[key]; ok {
			types[key] = t
			continue
		}
		want, isFlag := false, true
		switch key {
		case "hidden":
			want = existing.Hidden
		case "reserved":
			want = existing.Reserved
		case "static":
			want, isFlag = existing.Static, spec.hasStatic
		default:
			isFlag = false
		}
		got, isBool := validateBoolValue(val)
		switch {
		case isFlag && key != "static" && opts.Admin:
			types[key] = validateBool
		case isFlag && isBool && got == want:
			types[key] = validateBool // unchanged stored flag (PATCH result)
		default:
			invalid = append(invalid, key)
		}
	}
	for _, k := range spec.mandatory {
		if _, ok := top[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(spec.oneOf) > 0 && !slices.ContainsFunc(spec.oneOf, func(k string) bool { _, ok := top[k]; return ok }) {
		oneOf = spec.oneOf
	}
	if len(invalid)+len(missing)+len(oneOf) > 0 {
		return nil, validateInvalidConfiguration(invalid, missing, oneOf)
	}
	return types, nil
}

// validateName applies R-API-12 and authzd's rule that names never contain '/'
// (they are URL path segments and JSON pointer tokens).
func validateName(kind Kind, name string) *Error {
	if name == "" {
		return StatusMessage(http.StatusBadRequest, "No "+kind.Noun()+" specified.")
	}
	if strings.Contains(name, "/") {
		return StatusMessage(http.StatusBadRequest, "Resource name must not contain '/'")
	}
	return nil
}

// validateFlagsOf returns the flags of an entity value or pointer (zero for nil).
func validateFlagsOf(v any) Flags {
	if u, ok := validateValueAs[InternalUser](v); ok {
		return Flags{Reserved: u.Reserved, Hidden: u.Hidden, Static: u.Static}
	}
	if r, ok := validateValueAs[Role](v); ok {
		return Flags{Reserved: r.Reserved, Hidden: r.Hidden, Static: r.Static}
	}
	if m, ok := validateValueAs[RoleMapping](v); ok {
		return Flags{Reserved: m.Reserved, Hidden: m.Hidden}
	}
	if g, ok := validateValueAs[ActionGroup](v); ok {
		return Flags{Reserved: g.Reserved, Hidden: g.Hidden, Static: g.Static}
	}
	if t, ok := validateValueAs[Tenant](v); ok {
		return Flags{Reserved: t.Reserved, Hidden: t.Hidden, Static: t.Static}
	}
	return Flags{}
}

// validateBoolValue decodes a flag: true/false, and null or absent as false.
// The plugin does not type-check booleans; authzd accepts only these.
func validateBoolValue(raw json.RawMessage) (v, ok bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false", "null", "":
		return false, true
	}
	return false, false
}

// validateJSONKind returns the first byte of a JSON value: '"', '[', '{', 't',
// 'f', 'n' or a number's first character.
func validateJSONKind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// validateCheckType records in wrong the plugin's message when raw is not of
// type t. Like the plugin, null is not a string, array or object.
func validateCheckType(key string, raw json.RawMessage, t validateType, wrong map[string]string) {
	k := validateJSONKind(raw)
	switch t {
	case validateString:
		if k != '"' {
			wrong[key] = "String expected"
		}
	case validateArray:
		if k != '[' {
			wrong[key] = "Array expected"
		}
	case validateObject:
		if k != '{' {
			wrong[key] = "Object expected"
		}
	case validateBool:
		if _, ok := validateBoolValue(raw); !ok {
			wrong[key] = "Boolean expected"
		}
	}
}

// validateHasNullArrayElement is the plugin's hasNullArrayElement: a null
// element in any array nested anywhere in raw (null object values are fine).
func validateHasNullArrayElement(raw json.RawMessage) bool {
	switch validateJSONKind(raw) {
	case '[':
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		for _, e := range elems {
			if validateJSONKind(e) == 'n' || validateHasNullArrayElement(e) {
				return true
			}
		}
	case '{':
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(raw, &obj)
		for _, e := range obj {
			if validateHasNullArrayElement(e) {
				return true
			}
		}
	}
	return false
}

// validateDecoder decodes the typed keys of a body into model values, recording
// nested unknown keys and type errors under their dotted path.
type validateDecoder struct {
	top     map[string]json.RawMessage
	wrong   map[string]string
	invalid []string
}

func (d *validateDecoder) str(key string) string { return validateDecodeString(d.top[key]) }

func validateDecodeString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func (d *validateDecoder) strs(key string) []string { return d.strsAt(key, d.top[key]) }

// strsAt decodes an array of strings at path (absent = empty).
func (d *validateDecoder) strsAt(path string, raw json.RawMessage) []string {
	if raw == nil {
		return []string{}
	}
	var elems []json.RawMessage
	if validateJSONKind(raw) != '[' || json.Unmarshal(raw, &elems) != nil {
		d.wrong[path] = "Array expected"
		return []string{}
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		if validateJSONKind(e) != '"' {
			d.wrong[path] = "Array of strings expected"
			continue
		}
		out = append(out, validateDecodeString(e))
	}
	return out
}

func (d *validateDecoder) attributes() map[string]string {
	out := map[string]string{}
	raw, ok := d.top["attributes"]
	if !ok {
		return out
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(raw, &obj)
	for k, v := range obj {
		if validateJSONKind(v) != '"' {
			d.wrong["attributes."+k] = "String expected"
			continue
		}
		out[k] = validateDecodeString(v)
	}
	return out
}

// objects decodes an array of objects at key, checking each object's keys
// against allowed; it returns the objects' raw values.
func (d *validateDecoder) objects(key string, allowed map[string]validateType) []map[string]json.RawMessage {
	raw, ok := d.top[key]
	if !ok {
		return nil
	}
	var elems []json.RawMessage
	_ = json.Unmarshal(raw, &elems)
	out := make([]map[string]json.RawMessage, 0, len(elems))
	for _, e := range elems {
		var obj map[string]json.RawMessage
		if validateJSONKind(e) != '{' || json.Unmarshal(e, &obj) != nil {
			d.wrong[key] = "Array of objects expected"
			continue
		}
		for k, v := range obj {
			t, ok := allowed[k]
			if !ok {
				if p := key + "." + k; !slices.Contains(d.invalid, p) {
					d.invalid = append(d.invalid, p)
				}
				continue
			}
			if t == validateString && validateJSONKind(v) == 'n' {
				continue // a null dls is an absent dls
			}
			validateCheckType(key+"."+k, v, t, d.wrong)
		}
		out = append(out, obj)
	}
	return out
}

func (d *validateDecoder) indexPermissions() []IndexPermission {
	objs := d.objects("index_permissions", validateIndexPermKeys)
	out := make([]IndexPermission, 0, len(objs))
	for _, o := range objs {
		out = append(out, IndexPermission{
			IndexPatterns:  d.strsAt("index_permissions.index_patterns", o["index_patterns"]),
			DLS:            validateDecodeString(o["dls"]),
			FLS:            d.strsAt("index_permissions.fls", o["fls"]),
			MaskedFields:   d.strsAt("index_permissions.masked_fields", o["masked_fields"]),
			AllowedActions: d.strsAt("index_permissions.allowed_actions", o["allowed_actions"]),
		})
	}
	return out
}

func (d *validateDecoder) tenantPermissions() []TenantPermission {
	objs := d.objects("tenant_permissions", validateTenantPermKeys)
	out := make([]TenantPermission, 0, len(objs))
	for _, o := range objs {
		out = append(out, TenantPermission{
			TenantPatterns: d.strsAt("tenant_permissions.tenant_patterns", o["tenant_patterns"]),
			AllowedActions: d.strsAt("tenant_permissions.allowed_actions", o["allowed_actions"]),
		})
	}
	return out
}

// validateRoleContent checks masked fields (R-API-25: every invalid entry is
// reported, keyed `Masked field not valid: <entry>`) and then DLS queries
// (authzd, R-DLS-4: a non-empty dls must be a JSON object, keyed `DLS query not
// valid: <dls>`).
func validateRoleContent(r Role) *Error {
	wrong := map[string]string{}
	for _, p := range r.IndexPermissions {
		for _, mf := range p.MaskedFields {
			if msg := validateMaskedField(mf); msg != "" {
				wrong["Masked field not valid: "+mf] = msg
			}
		}
	}
	if len(wrong) > 0 {
		return validateWrongDatatype(wrong)
	}
	for _, p := range r.IndexPermissions {
		if msg := validateDLS(p.DLS); msg != "" {
			wrong["DLS query not valid: "+p.DLS] = msg
		}
	}
	if len(wrong) > 0 {
		return validateWrongDatatype(wrong)
	}
	return nil
}

// validateDigests are the MessageDigest names of the JDK's standard providers
// (upper case), as accepted by MessageDigest.getInstance (case-insensitive).
var validateDigests = map[string]bool{
	"MD2": true, "MD5": true, "SHA": true, "SHA1": true, "SHA-1": true,
	"SHA-224": true, "SHA224": true, "SHA-256": true, "SHA256": true, "SHA-384": true, "SHA384": true,
	"SHA-512": true, "SHA512": true, "SHA-512/224": true, "SHA512/224": true, "SHA-512/256": true, "SHA512/256": true,
	"SHA3-224": true, "SHA3-256": true, "SHA3-384": true, "SHA3-512": true,
}

// validateMaskedField parses a masked field like the plugin's MaskedField
// (R-DLS-5) and returns the plugin's exception message, or "" when valid:
// `field`, `field::<digest>`, or `field::/<regex>/::<replacement>...` (odd token
// count). Like the plugin, a regex token loses its first and last character
// without checking that they are slashes. Regex messages are Go's (the plugin
// prints Java's); Java-only syntax (look-around, back references) is accepted.
func validateMaskedField(v string) string {
	tokens := strings.Split(v, "::")
	switch n := len(tokens); {
	case n == 1:
		return ""
	case n == 2:
		if !validateDigests[strings.ToUpper(tokens[1])] {
			return "java.security.NoSuchAlgorithmException: " + tokens[1] + " MessageDigest not available"
		}
		return ""
	case n%2 == 1:
		for i := 1; i < n-1; i += 2 {
			tok := tokens[i]
			switch l := utf8.RuneCountInString(tok); l {
			case 0:
				return "begin 1, end 0, length 0"
			case 1:
				return "begin 0, end -1, length 0"
			}
			_, first := utf8.DecodeRuneInString(tok)
			_, last := utf8.DecodeLastRuneInString(tok)
			if _, err := regexp.Compile(tok[first : len(tok)-last]); err != nil {
				if validateJavaOnlyRegex(err) {
					continue
				}
				return err.Error()
			}
		}
		return ""
	default:
		return fmt.Sprintf("Expected 1 or 2 or >=3 (but then odd count) tokens, got %d", n)
	}
}

// validateJavaOnlyRegex reports whether a Go regexp error is about syntax that
// Java supports and RE2 does not (look-around, back references, possessive or
// atomic groups), as opposed to a broken expression.
func validateJavaOnlyRegex(err error) bool {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case syntax.ErrInvalidPerlOp, syntax.ErrInvalidEscape, syntax.ErrInvalidRepeatOp:
		return true
	case syntax.ErrInvalidNamedCapture:
		return strings.HasPrefix(se.Expr, "(?<=") || strings.HasPrefix(se.Expr, "(?<!")
	}
	return false
}

// validateDLSPlaceholder matches the plugin's substitutions (${user.name},
// ${attr.internal.x}, ...), which may stand for JSON values outside quotes.
var validateDLSPlaceholder = regexp.MustCompile(`\$\{[^}]*\}`)

// validateDLS returns why a non-empty DLS query is not a JSON object, or "".
func validateDLS(dls string) string {
	if strings.TrimSpace(dls) == "" {
		return ""
	}
	q := validateDLSPlaceholder.ReplaceAllString(dls, "0")
	var obj map[string]any
	if err := json.Unmarshal([]byte(q), &obj); err != nil || obj == nil {
		return "JSON object expected"
	}
	return ""
}

// validateActionGroupContent checks the type (R-API-27; hasType: the body had a
// "type" key) and then self reference (R-API-28), in the plugin's order.
func validateActionGroupContent(name string, g ActionGroup, hasType bool) *Error {
	if hasType {
		if t := strings.ToLower(g.Type); t != "cluster" && t != "index" {
			return StatusMessage(http.StatusBadRequest, "Invalid action group type: "+g.Type+". Supported types are: cluster, index.")
		}
	}
	if slices.Contains(g.AllowedActions, name) {
		return StatusMessage(http.StatusBadRequest, name+" cannot be an allowed_action of itself")
	}
	return nil
}

// validateInvalidConfiguration builds the R-API-14 "Invalid configuration" body
// with sorted, comma-joined key groups in the plugin's group order.
func validateInvalidConfiguration(invalid, missing, oneOf []string) *Error {
	var b bytes.Buffer
	b.WriteString(`{"status":"error","reason":"Invalid configuration"`)
	for _, g := range []struct {
		name string
		keys []string
	}{{"invalid_keys", invalid}, {"missing_mandatory_keys", missing}, {"specify_one_of", oneOf}} {
		if len(g.keys) == 0 {
			continue
		}
		keys := slices.Clone(g.keys)
		sort.Strings(keys)
		keys = slices.Compact(keys)
		v, _ := json.Marshal(strings.Join(keys, ","))
		fmt.Fprintf(&b, `,%q:{"keys":%s}`, g.name, v)
	}
	b.WriteByte('}')
	return &Error{Status: http.StatusBadRequest, Body: b.Bytes()}
}

// validateWrongDatatype builds the R-API-14 "Wrong datatype" body: one member
// per key (sorted) after status and reason.
func validateWrongDatatype(wrong map[string]string) *Error {
	keys := make([]string, 0, len(wrong))
	for k := range wrong {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(`{"status":"error","reason":"Wrong datatype"`)
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(wrong[k])
		b.WriteByte(',')
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return &Error{Status: http.StatusBadRequest, Body: b.Bytes()}
}
