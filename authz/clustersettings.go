package authz

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// ClusterSettings are the dynamic cluster settings stored through Raft
// (PUT /_cluster/settings), persistent and transient, as flat keys with
// string values like OpenSearch keeps them. Only settings authzd knows are
// accepted. A ClusterSettings reachable from a published state is never
// mutated.
type ClusterSettings struct {
	Persistent map[string]string
	Transient  map[string]string
}

// knownClusterSettings maps every accepted key to the key it is read as
// (the legacy opendistro.* names are aliases, as in the plugins).
var knownClusterSettings = map[string]string{
	SettingADFilterByBackendRoles:                          SettingADFilterByBackendRoles,
	"opendistro.anomaly_detection.filter_by_backend_roles": SettingADFilterByBackendRoles,
	SettingAlertingFilterByBackendRoles:                    SettingAlertingFilterByBackendRoles,
	"opendistro.alerting.filter_by_backend_roles":          SettingAlertingFilterByBackendRoles,
}

// Bool returns a boolean setting: transient wins over persistent (as in
// OpenSearch), the plugins' names win over their legacy aliases, and the
// default is false.
func (c ClusterSettings) Bool(key string) bool {
	for _, m := range []map[string]string{c.Transient, c.Persistent} {
		if v, ok := m[key]; ok {
			return v == "true"
		}
		for alias, k := range knownClusterSettings {
			if k == key && alias != key {
				if v, ok := m[alias]; ok {
					return v == "true"
				}
			}
		}
	}
	return false
}

// IsEmpty reports whether no setting is set.
func (c ClusterSettings) IsEmpty() bool { return len(c.Persistent) == 0 && len(c.Transient) == 0 }

// SettingChange sets (or, with Remove, resets) one setting.
type SettingChange struct {
	Key    string `msgpack:"key"`
	Value  string `msgpack:"value,omitempty"`
	Remove bool   `msgpack:"remove,omitempty"`
}

// SettingsUpdate is a validated PUT /_cluster/settings body, keys sorted.
type SettingsUpdate struct {
	Persistent []SettingChange `msgpack:"persistent,omitempty"`
	Transient  []SettingChange `msgpack:"transient,omitempty"`
}

// ParseSettingsUpdate reads a PUT /_cluster/settings body: an object with
// "persistent" and/or "transient" objects whose settings are nested or
// dotted keys; null resets a setting. Errors have OpenSearch's shape.
func ParseSettingsUpdate(raw []byte) (SettingsUpdate, *Error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&top); err != nil || top == nil {
		return SettingsUpdate{}, OpenSearchError(http.StatusBadRequest, "parse_exception", "request body is required and must be a JSON object")
	}
	var u SettingsUpdate
	for _, scope := range slices.Sorted(maps.Keys(top)) {
		if scope != "persistent" && scope != "transient" {
			return u, OpenSearchError(http.StatusBadRequest, "illegal_argument_exception", "unknown field ["+scope+"]")
		}
		var m map[string]any
		if err := json.Unmarshal(top[scope], &m); err != nil {
			return u, OpenSearchError(http.StatusBadRequest, "parse_exception", "["+scope+"] must be an object")
		}
		flat := map[string]any{}
		flattenAny("", m, flat)
		var changes []SettingChange
		for _, k := range slices.Sorted(maps.Keys(flat)) {
			c, e := settingChange(scope, k, flat[k])
			if e != nil {
				return u, e
			}
			changes = append(changes, c)
		}
		if scope == "persistent" {
			u.Persistent = changes
		} else {
			u.Transient = changes
		}
	}
	return u, nil
}

func flattenAny(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		if sub, ok := v.(map[string]any); ok {
			flattenAny(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
}

func settingChange(scope, key string, v any) (SettingChange, *Error) {
	if _, ok := knownClusterSettings[key]; !ok {
		return SettingChange{}, OpenSearchError(http.StatusBadRequest, "illegal_argument_exception", scope+" setting ["+key+"], not recognized")
	}
	switch x := v.(type) {
	case nil:
		return SettingChange{Key: key, Remove: true}, nil
	case bool:
		if x {
			return SettingChange{Key: key, Value: "true"}, nil
		}
		return SettingChange{Key: key, Value: "false"}, nil
	case string:
		if x == "true" || x == "false" {
			return SettingChange{Key: key, Value: x}, nil
		}
		return SettingChange{}, OpenSearchError(http.StatusBadRequest, "illegal_argument_exception",
			"Failed to parse value ["+x+"] as only [true] or [false] are allowed.")
	}
	return SettingChange{}, OpenSearchError(http.StatusBadRequest, "illegal_argument_exception",
		"Failed to parse value of ["+key+"] as only [true] or [false] are allowed.")
}

// Apply returns the settings after u, after validating u again (the FSM
// applies events it did not parse). It never mutates c.
func (c ClusterSettings) Apply(u SettingsUpdate) (ClusterSettings, *Error) {
	next := ClusterSettings{Persistent: maps.Clone(c.Persistent), Transient: maps.Clone(c.Transient)}
	for _, s := range []struct {
		scope string
		l     []SettingChange
		m     *map[string]string
	}{{"persistent", u.Persistent, &next.Persistent}, {"transient", u.Transient, &next.Transient}} {
		for _, ch := range s.l {
			var v any = ch.Value
			if ch.Remove {
				v = nil
			}
			if _, e := settingChange(s.scope, ch.Key, v); e != nil {
				return c, e
			}
			if ch.Remove {
				delete(*s.m, ch.Key)
				continue
			}
			if *s.m == nil {
				*s.m = map[string]string{}
			}
			(*s.m)[ch.Key] = ch.Value
		}
	}
	if len(next.Persistent) == 0 {
		next.Persistent = nil
	}
	if len(next.Transient) == 0 {
		next.Transient = nil
	}
	return next, nil
}

// Nested renders flat settings the way OpenSearch answers without
// flat_settings: {"plugins":{"anomaly_detection":{...}}}.
func Nested(flat map[string]string) map[string]any {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(flat)) {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = flat[k]
	}
	return out
}
