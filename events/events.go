package events

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the envelope version this binary writes. Decode accepts every
// version it knows how to upgrade (currently only 1).
const Version = 1

// Type names an event. Its form is "<resource>.<verb>" (DESIGN.md §3).
type Type string

// Event types. Resource events mirror the REST API's intent; the singular noun
// is used for a one-resource change, the plural for a collection patch.
const (
	InternalUserPut    Type = "internaluser.put"
	InternalUserDelete Type = "internaluser.delete"
	InternalUsersPatch Type = "internalusers.patch"

	RolePut    Type = "role.put"
	RoleDelete Type = "role.delete"
	RolesPatch Type = "roles.patch"

	RolesMappingPut    Type = "rolesmapping.put"
	RolesMappingDelete Type = "rolesmapping.delete"
	RolesMappingPatch  Type = "rolesmappings.patch"

	ActionGroupPut    Type = "actiongroup.put"
	ActionGroupDelete Type = "actiongroup.delete"
	ActionGroupsPatch Type = "actiongroups.patch"

	TenantPut    Type = "tenant.put"
	TenantDelete Type = "tenant.delete"
	TenantsPatch Type = "tenants.patch"

	NodesDNPut    Type = "nodesdn.put"
	NodesDNDelete Type = "nodesdn.delete"
	NodesDNPatch  Type = "nodesdn.patch"

	// The single-document configuration types: PUT replaces the document
	// (DocPut), PATCH applies RFC 6902 operations to {"config": <document>}
	// (DocPatch), as the plugin's paths (/config/dynamic/...) expect.
	SecurityConfigPut   Type = "securityconfig.put"
	SecurityConfigPatch Type = "securityconfig.patch"
	AuditPut            Type = "audit.put"
	AuditPatch          Type = "audit.patch"
	AllowlistPut        Type = "allowlist.put"
	AllowlistPatch      Type = "allowlist.patch"

	// AccountPassword changes the caller's own password (PUT /api/account).
	AccountPassword Type = "account.password"
	// ConfigReplace replaces the whole configuration atomically (bootstrap,
	// authzctl apply).
	ConfigReplace Type = "config.replace"
	// SettingsPut changes cluster settings (PUT /_cluster/settings).
	SettingsPut Type = "settings.put"

	// MemberPut adds or replaces one entry of the member directory (the
	// addresses of a node added at run time); MemberDelete removes one. Raft's
	// own configuration decides who votes; the directory only tells every node
	// where a member's HTTPS API and NATS routes are (docs/api.md, Membership).
	MemberPut    Type = "member.put"
	MemberDelete Type = "member.delete"
)

// types lists every known type; Decode refuses others.
var types = map[Type]bool{
	InternalUserPut: true, InternalUserDelete: true, InternalUsersPatch: true,
	RolePut: true, RoleDelete: true, RolesPatch: true,
	RolesMappingPut: true, RolesMappingDelete: true, RolesMappingPatch: true,
	ActionGroupPut: true, ActionGroupDelete: true, ActionGroupsPatch: true,
	TenantPut: true, TenantDelete: true, TenantsPatch: true,
	NodesDNPut: true, NodesDNDelete: true, NodesDNPatch: true,
	SecurityConfigPut: true, SecurityConfigPatch: true, AuditPut: true, AuditPatch: true,
	AllowlistPut: true, AllowlistPatch: true,
	AccountPassword: true, ConfigReplace: true,
	SettingsPut: true,
	MemberPut:   true, MemberDelete: true,
}

// Known reports whether t is an event type this binary can apply.
func (t Type) Known() bool { return types[t] }

// Envelope is one Raft log entry. Payload is the msgpack encoding of the payload
// type that belongs to Type.
type Envelope struct {
	V         int                `msgpack:"v"`
	Type      Type               `msgpack:"type"`
	Actor     string             `msgpack:"actor"`
	At        int64              `msgpack:"at"` // proposer's clock, Unix milliseconds
	RequestID string             `msgpack:"request_id"`
	Payload   msgpack.RawMessage `msgpack:"payload"`
}

// Meta is what the proposer knows about a change besides its payload.
type Meta struct {
	Actor     string
	At        int64 // Unix milliseconds
	RequestID string
}

// ResourcePut creates or replaces one resource. Doc is the resource as canonical
// JSON in the plugin's field names (for users: with the bcrypt hash, never a
// password).
type ResourcePut struct {
	Name  string `msgpack:"name"`
	Doc   []byte `msgpack:"doc"`
	Admin bool   `msgpack:"admin,omitempty"` // caller may change reserved/hidden resources
}

// ResourceDelete deletes one resource.
type ResourceDelete struct {
	Name  string `msgpack:"name"`
	Admin bool   `msgpack:"admin,omitempty"`
}

// ResourcePatch applies RFC 6902 operations (JSON) to one resource (Name set) or
// to the whole collection (Name empty). Passwords in the operations were already
// replaced by hashes.
type ResourcePatch struct {
	Name  string `msgpack:"name,omitempty"`
	Ops   []byte `msgpack:"ops"`
	Admin bool   `msgpack:"admin,omitempty"`
}

// DocPut replaces one single-document configuration type (securityconfig,
// audit, allowlist). Doc is the validated, normalized document as canonical
// JSON.
type DocPut struct {
	Doc   []byte `msgpack:"doc"`
	Admin bool   `msgpack:"admin,omitempty"` // caller is a super admin (audit's read-only paths)
}

// DocPatch applies RFC 6902 operations (JSON) to {"config": <document>} of a
// single-document type. Tenancy marks a PUT tenancy/config turned into
// operations on config.dynamic.kibana: the result must then pass the tenancy
// rules (default tenant, private tenant, sign-in options).
type DocPatch struct {
	Ops     []byte `msgpack:"ops"`
	Admin   bool   `msgpack:"admin,omitempty"`
	Tenancy bool   `msgpack:"tenancy,omitempty"`
}

// PasswordChange sets the hash of an internal user (PUT /api/account).
type PasswordChange struct {
	Name  string `msgpack:"name"`
	Hash  string `msgpack:"hash"`
	Admin bool   `msgpack:"admin,omitempty"`
}

// Replace replaces the whole configuration. Docs maps a configuration type
// (internalusers, roles, rolesmapping, actiongroups, tenants, config, audit,
// nodesdn, allowlist) to its document as canonical JSON without `_meta`; a type
// that is absent keeps its current value.
type Replace struct {
	Docs Docs `msgpack:"docs"`
	// Bootstrap marks the first event of a new cluster: it is a no-op when the
	// configuration is already initialized, so two nodes racing to bootstrap
	// cannot overwrite a change made in between.
	Bootstrap bool `msgpack:"bootstrap,omitempty"`
}

// SettingChange sets, or with Remove resets, one cluster setting.
type SettingChange struct {
	Key    string `msgpack:"key"`
	Value  string `msgpack:"value,omitempty"`
	Remove bool   `msgpack:"remove,omitempty"`
}

// SettingsUpdate is the payload of settings.put: validated changes, sorted
// by key within each scope.
type SettingsUpdate struct {
	Persistent []SettingChange `msgpack:"persistent,omitempty"`
	Transient  []SettingChange `msgpack:"transient,omitempty"`
}

// Member is the payload of member.put: one node's addresses.
type Member struct {
	ID        string `msgpack:"id"`
	RaftAddr  string `msgpack:"raft_addr"`
	HTTPAddr  string `msgpack:"http_addr"`
	NATSRoute string `msgpack:"nats_route,omitempty"`
}

// MemberRemove is the payload of member.delete.
type MemberRemove struct {
	ID string `msgpack:"id"`
}

// ErrUnknownType is returned by Decode for a type this binary does not know.
var ErrUnknownType = errors.New("unknown event type")

// ErrUnknownVersion is returned by Decode for an envelope version this binary
// cannot read.
var ErrUnknownVersion = errors.New("unknown envelope version")

// Encode builds the envelope for one event and returns its bytes.
func Encode(t Type, meta Meta, payload any) ([]byte, error) {
	if !t.Known() {
		return nil, fmt.Errorf("encode %q: %w", t, ErrUnknownType)
	}
	p, err := marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", t, err)
	}
	b, err := marshal(Envelope{V: Version, Type: t, Actor: meta.Actor, At: meta.At, RequestID: meta.RequestID, Payload: p})
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", t, err)
	}
	return b, nil
}

// Decode reads an envelope. It returns an error, never panics, on any input.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields(true)
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if e.V != Version {
		return Envelope{}, fmt.Errorf("decode envelope v%d: %w", e.V, ErrUnknownVersion)
	}
	if !e.Type.Known() {
		return Envelope{}, fmt.Errorf("decode envelope %q: %w", e.Type, ErrUnknownType)
	}
	return e, nil
}

// DecodePayload decodes the payload into v, which must be the payload type of
// e.Type.
func (e Envelope) DecodePayload(v any) error {
	dec := msgpack.NewDecoder(bytes.NewReader(e.Payload))
	dec.DisallowUnknownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s payload: %w", e.Type, err)
	}
	return nil
}

// marshal encodes deterministically: map keys sorted, so equal values give equal bytes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Docs maps a configuration type to its JSON document. It encodes with its keys
// sorted (msgpack sorts only a few built-in map types), so that equal events give
// equal bytes.
type Docs map[string][]byte

// EncodeMsgpack writes the map with sorted keys.
func (d Docs) EncodeMsgpack(enc *msgpack.Encoder) error {
	if d == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(d)); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.EncodeBytes(d[k]); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack reads what EncodeMsgpack wrote.
func (d *Docs) DecodeMsgpack(dec *msgpack.Decoder) error {
	var m map[string][]byte
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*d = m
	return nil
}
