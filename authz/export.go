package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileOf returns the file name of a configuration type ("roles" →
// "roles.yml"), "" for an unknown type.
func FileOf(ctype string) string {
	for _, f := range loadFiles {
		if f.ctype == ctype {
			return f.name
		}
	}
	return ""
}

// WriteFiles renders the given configuration types (all of ConfigTypes when
// nil) as OpenSearch YAML files, by file name, in the style of the plugin's
// files as opensearch-config/ writes them: a `_meta` header, 2-space indent,
// double-quoted strings, entities sorted by name, keys of the model in its
// order, empty values left out. Statics are left out, hashes kept. The single
// documents appear only when set. Loading the files gives back c's
// configuration, and writing that again gives the same bytes.
func (c *Config) WriteFiles(types []string) (map[string][]byte, error) {
	if types == nil {
		types = ConfigTypes
	}
	docs := c.Docs(types)
	out := map[string][]byte{}
	for _, t := range types {
		doc, ok := docs[t]
		if !ok {
			continue
		}
		var body *yaml.Node
		var err error
		switch t {
		case "config", "audit", "allowlist":
			var v *yaml.Node
			if v, err = jsonToYAML(doc); err == nil {
				body = mappingNode(scalarKey("config"), v)
			}
		default:
			body, err = c.entitiesYAML(t)
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", FileOf(t), err)
		}
		meta := mappingNode(scalarKey("type"), quoted(t), scalarKey("config_version"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "2"})
		root := mappingNode(scalarKey("_meta"), meta)
		root.Content = append(root.Content, body.Content...)
		var b bytes.Buffer
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
			return nil, fmt.Errorf("write %s: %w", FileOf(t), err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("write %s: %w", FileOf(t), err)
		}
		out[FileOf(t)] = b.Bytes()
	}
	return out, nil
}

// entitiesYAML is the mapping name → entity of one collection type, encoded
// through the model's yaml tags (empty values omitted).
func (c *Config) entitiesYAML(t string) (*yaml.Node, error) {
	m, err := c.entityMap(t)
	if err != nil {
		return nil, err
	}
	n := mappingNode()
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v, err := entityNode(m[name])
		if err != nil {
			return nil, fmt.Errorf("entity %q: %w", name, err)
		}
		n.Content = append(n.Content, quoted(name), v)
	}
	return n, nil
}

// entityNode encodes one entity through the model's yaml tags.
func entityNode(e any) (*yaml.Node, error) {
	var v yaml.Node
	if err := v.Encode(e); err != nil {
		return nil, err
	}
	quoteStrings(&v)
	if len(v.Content) == 0 && v.Kind == yaml.MappingNode {
		v.Style = yaml.FlowStyle
	}
	return &v, nil
}

// entityMap returns the non-static entities of a collection type.
func (c *Config) entityMap(t string) (map[string]any, error) {
	var m map[string]any
	switch t {
	case "internalusers":
		m = anyMap(c.InternalUsers, func(InternalUser) bool { return false })
	case "roles":
		m = anyMap(c.Roles, func(r Role) bool { return r.Static })
	case "rolesmapping":
		m = anyMap(c.RolesMapping, func(RoleMapping) bool { return false })
	case "actiongroups":
		m = anyMap(c.ActionGroups, func(g ActionGroup) bool { return g.Static })
	case "tenants":
		m = anyMap(c.Tenants, func(x Tenant) bool { return x.Static })
	case "nodesdn":
		m = anyMap(c.NodesDNEntries(), func(NodesDN) bool { return false })
	default:
		return nil, fmt.Errorf("unknown configuration type %q", t)
	}
	return m, nil
}

func anyMap[T any](m map[string]T, skip func(T) bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !skip(v) {
			out[k] = v
		}
	}
	return out
}

func mappingNode(content ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: content}
}

func scalarKey(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// quoteStrings double-quotes every string value (not mapping keys) and writes
// sequences of scalars in flow style, like the shared files.
func quoteStrings(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			n.Style = yaml.DoubleQuotedStyle
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			quoteStrings(n.Content[i])
		}
	case yaml.SequenceNode:
		flow := true
		for _, e := range n.Content {
			quoteStrings(e)
			flow = flow && e.Kind == yaml.ScalarNode
		}
		if flow {
			n.Style = yaml.FlowStyle
		}
	}
}

// jsonToYAML converts a JSON value to a YAML node keeping the order of object
// keys, numbers as written and strings double-quoted.
func jsonToYAML(raw []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := jsonNode(dec)
	if err != nil {
		return nil, err
	}
	quoteStrings(n)
	return n, nil
}

func jsonNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := mappingNode()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				val, err := jsonNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, scalarKey(k), val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if len(n.Content) == 0 {
				n.Style = yaml.FlowStyle
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				e, err := jsonNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if len(n.Content) == 0 {
				n.Style = yaml.FlowStyle
			}
			return n, nil
		}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(v.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// EntityYAML renders one entity (or, for config, audit and allowlist, the
// document) as WriteFiles writes it, without the file header and name line:
// for showing what changed.
func (c *Config) EntityYAML(ctype, name string) (string, error) {
	var n *yaml.Node
	switch ctype {
	case "config", "audit", "allowlist":
		raw := c.doc(ctype)
		if len(raw) == 0 {
			return "", nil
		}
		var err error
		if n, err = jsonToYAML(raw); err != nil {
			return "", err
		}
	default:
		var (
			v  any
			ok bool
		)
		switch ctype {
		case "internalusers":
			v, ok = c.InternalUsers[name]
		case "roles":
			v, ok = c.Roles[name]
		case "rolesmapping":
			v, ok = c.RolesMapping[name]
		case "actiongroups":
			v, ok = c.ActionGroups[name]
		case "tenants":
			v, ok = c.Tenants[name]
		case "nodesdn":
			v, ok = c.NodesDNEntries()[name]
		}
		if !ok {
			return "", nil
		}
		var err error
		if n, err = entityNode(v); err != nil {
			return "", err
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
