package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// shape describes the JSON a typed document accepts, so that a document can be
// checked with every problem named by its dotted path before it is decoded
// (the plugin's Jackson models fail on the first problem, without a path).
type shape struct {
	kind   shapeKind
	fields map[string]*shape // shapeObject: the allowed keys
	elem   *shape            // shapeArray, shapeMap: the element shape
	enum   []string          // shapeEnum: the allowed values
}

type shapeKind int

const (
	shapeAny    shapeKind = iota // any JSON value
	shapeObject                  // an object with fixed keys
	shapeMap                     // an object with free keys and elem values
	shapeString
	shapeBool
	shapeInt
	shapeArray
	shapeEnum // a string from enum
)

var (
	shString = &shape{kind: shapeString}
	shBool   = &shape{kind: shapeBool}
	shInt    = &shape{kind: shapeInt}
	shAny    = &shape{kind: shapeAny}
	shObjAny = &shape{kind: shapeMap, elem: shAny}
)

func shObject(fields map[string]*shape) *shape { return &shape{kind: shapeObject, fields: fields} }
func shArray(elem *shape) *shape               { return &shape{kind: shapeArray, elem: elem} }
func shMapOf(elem *shape) *shape               { return &shape{kind: shapeMap, elem: elem} }
func shEnum(values ...string) *shape           { return &shape{kind: shapeEnum, enum: values} }

// shapeProblems collects what check finds: unknown keys and wrong types, each
// by dotted path.
type shapeProblems struct {
	invalid []string
	wrong   map[string]string
}

func (p *shapeProblems) empty() bool { return len(p.invalid) == 0 && len(p.wrong) == 0 }

// err returns the plugin-shaped body for the problems: unknown keys first
// ("Invalid configuration"), then wrong types ("Wrong datatype").
func (p *shapeProblems) err() *Error {
	if len(p.invalid) > 0 {
		return validateInvalidConfiguration(p.invalid, nil, nil)
	}
	if len(p.wrong) > 0 {
		return validateWrongDatatype(p.wrong)
	}
	return nil
}

// messages lists every problem as "<path>: <problem>", sorted.
func (p *shapeProblems) messages() []string {
	var out []string
	for _, k := range p.invalid {
		out = append(out, k+": unknown key")
	}
	for k, v := range p.wrong {
		out = append(out, k+": "+strings.ToLower(v[:1])+v[1:])
	}
	sort.Strings(out)
	return out
}

func (p *shapeProblems) setWrong(path, msg string) {
	if p.wrong == nil {
		p.wrong = map[string]string{}
	}
	if _, ok := p.wrong[path]; !ok {
		p.wrong[path] = msg
	}
}

func shapeJoin(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// check walks raw against sh. JSON null is accepted everywhere: it means "not
// set" (the default), as it does for the plugin's models.
func (sh *shape) check(path string, raw json.RawMessage, p *shapeProblems) {
	k := validateJSONKind(raw)
	if k == 'n' || k == 0 {
		return
	}
	switch sh.kind {
	case shapeAny:
	case shapeString:
		if k != '"' {
			p.setWrong(path, "String expected")
		}
	case shapeBool:
		if k != 't' && k != 'f' {
			p.setWrong(path, "Boolean expected")
		}
	case shapeInt:
		var n json.Number
		if k == '"' || k == '[' || k == '{' || k == 't' || k == 'f' || json.Unmarshal(raw, &n) != nil {
			p.setWrong(path, "Integer expected")
		} else if _, err := n.Int64(); err != nil {
			p.setWrong(path, "Integer expected")
		}
	case shapeEnum:
		var s string
		if k != '"' || json.Unmarshal(raw, &s) != nil {
			p.setWrong(path, "String expected")
		} else if !slices.Contains(sh.enum, s) {
			p.setWrong(path, "One of "+strings.Join(sh.enum, ", ")+" expected")
		}
	case shapeArray:
		var elems []json.RawMessage
		if k != '[' || json.Unmarshal(raw, &elems) != nil {
			p.setWrong(path, "Array expected")
			return
		}
		for _, e := range elems {
			if validateJSONKind(e) == 'n' {
				p.setWrong(path, "Array without null elements expected")
				continue
			}
			sh.elem.check(path, e, p)
		}
	case shapeObject, shapeMap:
		var obj map[string]json.RawMessage
		if k != '{' || json.Unmarshal(raw, &obj) != nil {
			p.setWrong(path, "Object expected")
			return
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			sub := sh.elem
			if sh.kind == shapeObject {
				var ok bool
				if sub, ok = sh.fields[key]; !ok {
					p.invalid = append(p.invalid, shapeJoin(path, key))
					continue
				}
			}
			sub.check(shapeJoin(path, key), obj[key], p)
		}
	}
}

// canonicalJSONValue re-encodes any JSON value with sorted object keys and
// numbers kept exactly as written.
func canonicalJSONValue(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return json.Marshal(v)
}

// parseTopObject decodes a request body that must be a non-empty JSON object
// (R-API-13), with the plugin's messages.
func parseTopObject(raw []byte) (map[string]json.RawMessage, *Error) {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 {
		return nil, Reason("Request body required for this action.")
	}
	var top map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &top) != nil {
		return nil, Reason("Could not parse content of request.")
	}
	if len(top) == 0 {
		return nil, Reason("Request body required for this action.")
	}
	return top, nil
}
