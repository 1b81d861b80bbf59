package fsm

import (
	"bytes"
	"maps"
	"slices"

	iradix "github.com/hashicorp/go-immutable-radix/v2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
)

// msgpack's SetSortMapKeys sorts only map[string]string, map[string]bool and
// map[string]any; every other map is written in Go's random iteration order. So
// the state is encoded through canonicalConfig, whose maps are sorted slices:
// equal states give equal bytes, which the state hash and snapshots rely on.

type named[T any] struct {
	Name  string `msgpack:"n"`
	Value T      `msgpack:"v"`
}

func sortedEntries[T any](m map[string]T) []named[T] {
	out := make([]named[T], 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, named[T]{k, m[k]})
	}
	return out
}

func toMap[T any](entries []named[T]) map[string]T {
	m := make(map[string]T, len(entries))
	for _, e := range entries {
		m[e.Name] = e.Value
	}
	return m
}

// changeEntries lists the change records in key order.
func (v *View) changeEntries() []named[Change] {
	out := make([]named[Change], 0, v.changes.Len())
	it := v.changes.Root().Iterator()
	for k, c, ok := it.Next(); ok; k, c, ok = it.Next() {
		out = append(out, named[Change]{string(k), c})
	}
	return out
}

func changeTree(entries []named[Change]) *iradix.Tree[Change] {
	t := iradix.New[Change]().Txn()
	for _, e := range entries {
		t.Insert([]byte(e.Name), e.Value)
	}
	return t.Commit()
}

type canonicalConfig struct {
	InternalUsers  []named[authz.InternalUser] `msgpack:"internalusers"`
	Roles          []named[authz.Role]         `msgpack:"roles"`
	RolesMapping   []named[authz.RoleMapping]  `msgpack:"rolesmapping"`
	ActionGroups   []named[authz.ActionGroup]  `msgpack:"actiongroups"`
	Tenants        []named[authz.Tenant]       `msgpack:"tenants"`
	SecurityConfig []byte                      `msgpack:"config"`
	Audit          []byte                      `msgpack:"audit"`
	NodesDN        []byte                      `msgpack:"nodesdn"`
	Allowlist      []byte                      `msgpack:"allowlist"`
	// Cluster settings are omitted when empty, so states without any keep
	// the hash they had before settings existed.
	PersistentSettings []named[string] `msgpack:"persistent_settings,omitempty"`
	TransientSettings  []named[string] `msgpack:"transient_settings,omitempty"`
}

func canonical(c *authz.Config) canonicalConfig {
	return canonicalConfig{
		InternalUsers:  sortedEntries(c.InternalUsers),
		Roles:          sortedEntries(c.Roles),
		RolesMapping:   sortedEntries(c.RolesMapping),
		ActionGroups:   sortedEntries(c.ActionGroups),
		Tenants:        sortedEntries(c.Tenants),
		SecurityConfig: c.SecurityConfig,
		Audit:          c.Audit,
		NodesDN:        c.NodesDN,
		Allowlist:      c.Allowlist,

		PersistentSettings: sortedEntries(c.ClusterSettings.Persistent),
		TransientSettings:  sortedEntries(c.ClusterSettings.Transient),
	}
}

func (cc canonicalConfig) config() *authz.Config {
	c := &authz.Config{
		InternalUsers:  toMap(cc.InternalUsers),
		Roles:          toMap(cc.Roles),
		RolesMapping:   toMap(cc.RolesMapping),
		ActionGroups:   toMap(cc.ActionGroups),
		Tenants:        toMap(cc.Tenants),
		SecurityConfig: cc.SecurityConfig,
		Audit:          cc.Audit,
		NodesDN:        cc.NodesDN,
		Allowlist:      cc.Allowlist,
	}
	if len(cc.PersistentSettings) > 0 {
		c.ClusterSettings.Persistent = toMap(cc.PersistentSettings)
	}
	if len(cc.TransientSettings) > 0 {
		c.ClusterSettings.Transient = toMap(cc.TransientSettings)
	}
	c.Normalize()
	return c
}

// encodeConfig is the canonical msgpack encoding of a configuration.
func encodeConfig(c *authz.Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // for the map[string]string attributes inside users
	if err := enc.Encode(canonical(c)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
