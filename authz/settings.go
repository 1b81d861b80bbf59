package authz

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Role mapping resolution modes (R-MAP-3), as stored in
// Settings.RolesMappingResolution after normalisation.
const (
	ResolutionMappingOnly      = "MAPPING_ONLY"
	ResolutionBackendRolesOnly = "BACKENDROLES_ONLY"
	ResolutionBoth             = "BOTH"
)

// DefaultConfigIndexName is the security index name when
// plugins.security.config_index_name is not set.
const DefaultConfigIndexName = ".opendistro_security"

// Node setting keys read by ParseSettings (R-MOD-9, §11, §13.1).
const (
	settingRolesMappingResolution      = "plugins.security.roles_mapping_resolution"
	settingAdminDN                     = "plugins.security.authcz.admin_dn"
	settingSystemIndicesEnabled        = "plugins.security.system_indices.enabled"
	settingSystemIndices               = "plugins.security.system_indices.indices"
	settingSystemIndexPermission       = "plugins.security.system_indices.permission.enabled"
	settingSystemIndexPermissionSeed   = "plugins.security.system_indices.permissions.enabled"
	settingFilterSecurityIndex         = "plugins.security.filter_securityindex_from_all_requests"
	settingDfmEmptyOverridesAll        = "plugins.security.dfm_empty_overrides_all"
	settingMaskedFieldsAlgorithm       = "plugins.security.masked_fields.algorithm.default"
	settingConfigIndexName             = "plugins.security.config_index_name"
	settingCheckSnapshotRestoreWrite   = "plugins.security.check_snapshot_restore_write_privileges"
	settingRestoreSecurityIndexEnabled = "plugins.security.unsupported.restore.securityindex.enabled"
)

// Settings are the node settings that change decisions (R-MOD-9 subset). The
// zero value means the plugin's defaults.
type Settings struct {
	// RolesMappingResolution is plugins.security.roles_mapping_resolution
	// (R-MAP-3): MAPPING_ONLY (also ""), BACKENDROLES_ONLY or BOTH, compared
	// case-insensitively; any other value is treated as MAPPING_ONLY and
	// reported by Evaluator.Warnings.
	RolesMappingResolution string
	// AdminDN is plugins.security.authcz.admin_dn (R-EVAL-2). The evaluator
	// itself only sees Request.AdminCert; the node compares DNs.
	AdminDN []string
	// SystemIndicesEnabled is plugins.security.system_indices.enabled (R-SYS-1).
	SystemIndicesEnabled bool
	// SystemIndices is plugins.security.system_indices.indices: patterns (§3).
	SystemIndices []string
	// SystemIndexPermissionEnabled is
	// plugins.security.system_indices.permission.enabled (R-SYS-1, §13.1).
	SystemIndexPermissionEnabled bool
	// FilterSecurityIndexFromAllRequests is
	// plugins.security.filter_securityindex_from_all_requests (R-SYS-4).
	FilterSecurityIndexFromAllRequests bool
	// DfmEmptyOverridesAll is plugins.security.dfm_empty_overrides_all (R-DLS-2).
	DfmEmptyOverridesAll bool
	// MaskedFieldsAlgorithm is plugins.security.masked_fields.algorithm.default
	// (R-DLS-5); "" means the plugin default (salted BLAKE2b).
	MaskedFieldsAlgorithm string
	// ConfigIndexName is plugins.security.config_index_name; "" means
	// DefaultConfigIndexName.
	ConfigIndexName string
	// CheckSnapshotRestoreWritePrivileges is
	// plugins.security.check_snapshot_restore_write_privileges (R-EVAL-13);
	// nil means the default, true.
	CheckSnapshotRestoreWritePrivileges *bool
	// RestoreSecurityIndexEnabled is
	// plugins.security.unsupported.restore.securityindex.enabled (R-SYS-4).
	RestoreSecurityIndexEnabled bool
}

// configIndex returns the security index name with the default applied.
func (s *Settings) configIndex() string {
	if s.ConfigIndexName == "" {
		return DefaultConfigIndexName
	}
	return s.ConfigIndexName
}

// checkSnapshotRestoreWrite returns the R-EVAL-13 setting with its default.
func (s *Settings) checkSnapshotRestoreWrite() bool {
	return s.CheckSnapshotRestoreWritePrivileges == nil || *s.CheckSnapshotRestoreWritePrivileges
}

// resolutionMode normalises RolesMappingResolution (R-MAP-3). ok is false for
// an unknown value, which then counts as MAPPING_ONLY.
func (s *Settings) resolutionMode() (mode string, ok bool) {
	switch v := strings.ToUpper(strings.TrimSpace(s.RolesMappingResolution)); v {
	case "", ResolutionMappingOnly:
		return ResolutionMappingOnly, true
	case ResolutionBackendRolesOnly, ResolutionBoth:
		return v, true
	}
	return ResolutionMappingOnly, false
}

// ParseSettings reads the decision-relevant keys from flat opensearch.yml
// settings (keys as in vectors.yaml's `settings:`; nested maps are flattened
// with dots). Keys it does not know are ignored: other components read them.
// The seed spelling plugins.security.system_indices.permissions.enabled is
// accepted as an alias; the code's key wins when both are set (§13.1). Values
// may be native YAML/JSON types or strings ("true", "false"). All type errors
// are returned together.
func ParseSettings(flat map[string]any) (Settings, error) {
	var s Settings
	m := map[string]any{}
	flattenSettings("", flat, m)
	var errs []string
	bad := func(key string, want string, v any) {
		errs = append(errs, fmt.Sprintf("setting %s: %s expected, got %T", key, want, v))
	}
	getBool := func(key string, dst *bool) bool {
		v, ok := m[key]
		if !ok || v == nil {
			return false
		}
		b, ok := settingBool(v)
		if !ok {
			bad(key, "boolean", v)
			return false
		}
		*dst = b
		return true
	}
	getString := func(key string, dst *string) {
		v, ok := m[key]
		if !ok || v == nil {
			return
		}
		str, ok := v.(string)
		if !ok {
			bad(key, "string", v)
			return
		}
		*dst = str
	}
	getList := func(key string, dst *[]string) {
		v, ok := m[key]
		if !ok || v == nil {
			return
		}
		l, ok := settingList(v)
		if !ok {
			bad(key, "list of strings", v)
			return
		}
		*dst = l
	}
	getString(settingRolesMappingResolution, &s.RolesMappingResolution)
	getList(settingAdminDN, &s.AdminDN)
	getBool(settingSystemIndicesEnabled, &s.SystemIndicesEnabled)
	getList(settingSystemIndices, &s.SystemIndices)
	if !getBool(settingSystemIndexPermission, &s.SystemIndexPermissionEnabled) {
		getBool(settingSystemIndexPermissionSeed, &s.SystemIndexPermissionEnabled)
	}
	getBool(settingFilterSecurityIndex, &s.FilterSecurityIndexFromAllRequests)
	getBool(settingDfmEmptyOverridesAll, &s.DfmEmptyOverridesAll)
	getString(settingMaskedFieldsAlgorithm, &s.MaskedFieldsAlgorithm)
	getString(settingConfigIndexName, &s.ConfigIndexName)
	var check bool
	if getBool(settingCheckSnapshotRestoreWrite, &check) {
		s.CheckSnapshotRestoreWritePrivileges = &check
	}
	getBool(settingRestoreSecurityIndexEnabled, &s.RestoreSecurityIndexEnabled)
	if len(errs) > 0 {
		sort.Strings(errs)
		return s, fmt.Errorf("parse settings: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

func flattenSettings(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch sub := v.(type) {
		case map[string]any:
			flattenSettings(key, sub, out)
		default:
			out[key] = v
		}
	}
}

func settingBool(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		r, err := strconv.ParseBool(strings.TrimSpace(b))
		return r, err == nil
	case json.RawMessage:
		var r bool
		return r, json.Unmarshal(b, &r) == nil
	}
	return false, false
}

func settingList(v any) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return append([]string(nil), l...), true
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case string:
		// A single value stands for a one-element list. It is never split on
		// commas: admin DNs contain commas.
		return []string{l}, true
	}
	return nil, false
}
