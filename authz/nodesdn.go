package authz

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// StaticNodesDNName is the read-only nodesdn entry that GET
// nodesdn?show_all=true adds from plugins.security.nodes_dn (R-API-31).
const StaticNodesDNName = "STATIC_OPENSEARCH_YML_NODES_DN"

// NodesDNEntries decodes Config.NodesDN (name → entry). A document that does
// not decode gives an empty map: documents are validated before they are
// stored, so that only happens for an empty document.
func (c *Config) NodesDNEntries() map[string]NodesDN {
	m := map[string]NodesDN{}
	if len(c.NodesDN) == 0 {
		return m
	}
	if err := json.Unmarshal(c.NodesDN, &m); err != nil {
		return map[string]NodesDN{}
	}
	for k, v := range m {
		if v.NodesDN == nil {
			v.NodesDN = []string{}
			m[k] = v
		}
	}
	return m
}

// EncodeNodesDN encodes nodes_dn entries as the canonical JSON document of
// Config.NodesDN (keys sorted); no entries give nil (no document).
func EncodeNodesDN(m map[string]NodesDN) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	doc := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		dns := m[k].NodesDN
		if dns == nil {
			dns = []string{}
		}
		doc[k] = map[string]any{"nodes_dn": dns}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		// Strings and slices of strings always encode.
		panic(fmt.Sprintf("authz: encode nodes_dn: %v", err))
	}
	return b
}
