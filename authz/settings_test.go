package authz

import "testing"

func TestParseSettings(t *testing.T) {
	s, err := ParseSettings(map[string]any{
		"plugins.security.roles_mapping_resolution":                "both",
		"plugins.security.system_indices.enabled":                  true,
		"plugins.security.system_indices.indices":                  []any{".a", ".b*"},
		"plugins.security.system_indices.permissions.enabled":      "true",
		"plugins.security.dfm_empty_overrides_all":                 true,
		"plugins.security.check_snapshot_restore_write_privileges": false,
		"plugins.security.authcz.admin_dn":                         "CN=kirk,OU=client,O=client",
		"plugins.security.restapi.roles_enabled":                   []any{"all_access"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode, ok := s.resolutionMode(); mode != ResolutionBoth || !ok {
		t.Errorf("resolution = %q %v", mode, ok)
	}
	if !s.SystemIndicesEnabled || len(s.SystemIndices) != 2 || !s.SystemIndexPermissionEnabled || !s.DfmEmptyOverridesAll {
		t.Errorf("settings = %+v", s)
	}
	if s.checkSnapshotRestoreWrite() {
		t.Errorf("check_snapshot_restore_write_privileges not read")
	}
	if len(s.AdminDN) != 1 || s.AdminDN[0] != "CN=kirk,OU=client,O=client" {
		t.Errorf("admin dn = %q", s.AdminDN)
	}
	if s.configIndex() != DefaultConfigIndexName {
		t.Errorf("config index = %q", s.configIndex())
	}
}

// TestParseSettingsAliasPrecedence: the code's singular key wins over the
// seed's plural spelling (§13.1).
func TestParseSettingsAliasPrecedence(t *testing.T) {
	s, err := ParseSettings(map[string]any{
		"plugins.security.system_indices.permission.enabled":  false,
		"plugins.security.system_indices.permissions.enabled": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.SystemIndexPermissionEnabled {
		t.Fatal("alias overrode the code key")
	}
}

func TestParseSettingsNested(t *testing.T) {
	s, err := ParseSettings(map[string]any{"plugins": map[string]any{"security": map[string]any{"dfm_empty_overrides_all": true}}})
	if err != nil || !s.DfmEmptyOverridesAll {
		t.Fatalf("nested: %+v %v", s, err)
	}
}

func TestParseSettingsErrors(t *testing.T) {
	_, err := ParseSettings(map[string]any{
		"plugins.security.system_indices.enabled": "maybe",
		"plugins.security.system_indices.indices": 3,
	})
	if err == nil {
		t.Fatal("want error")
	}
}

func TestSettingsZeroValue(t *testing.T) {
	var s Settings
	if mode, ok := s.resolutionMode(); mode != ResolutionMappingOnly || !ok {
		t.Errorf("default mode = %q", mode)
	}
	if !s.checkSnapshotRestoreWrite() {
		t.Error("default check_snapshot_restore_write_privileges must be true")
	}
	s.RolesMappingResolution = "nonsense"
	if mode, ok := s.resolutionMode(); mode != ResolutionMappingOnly || ok {
		t.Errorf("invalid mode = %q %v", mode, ok)
	}
}
