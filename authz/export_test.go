package authz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestWriteFilesRoundTrip: demo (and the shared examples on top, when
// present) → Replace → files → load → Replace is the same configuration,
// and writing it again gives the same bytes.
func TestWriteFilesRoundTrip(t *testing.T) {
	dirs := []string{"config/demo"}
	if _, err := os.Stat("../../shared/opensearch-config/examples"); err == nil {
		dirs = append(dirs, "../../shared/opensearch-config/examples")
	}
	src, err := LoadDirs(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Types) != len(ConfigTypes) {
		t.Errorf("types = %v", src.Types)
	}
	c, e := Replace(NewConfig(), src.Docs())
	if e != nil {
		t.Fatal(e)
	}
	files, err := c.WriteFiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(files["roles.yml"]), "---\n_meta:\n  type: \"roles\"\n  config_version: 2\n") {
		t.Errorf("header:\n%s", files["roles.yml"][:80])
	}
	if strings.Contains(string(files["roles.yml"]), `"all_access":`) {
		t.Error("static role exported")
	}
	back, err := LoadDirs(writeFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	c2, e := Replace(NewConfig(), back.Docs())
	if e != nil {
		t.Fatal(e)
	}
	if d := Diff(c, c2); len(d) != 0 {
		t.Fatalf("round trip changed %v", d)
	}
	again, _ := c2.WriteFiles(nil)
	for n := range files {
		if string(files[n]) != string(again[n]) {
			t.Errorf("%s differs after a round trip", n)
		}
	}
}

func TestLoadDirsOverlayAndPositions(t *testing.T) {
	a := writeFiles(t, map[string][]byte{
		"tenants.yml": []byte("_meta:\n  type: tenants\n  config_version: 2\nhr:\n  description: first\nops: {}\n"),
	})
	b := writeFiles(t, map[string][]byte{
		"tenants.yml": []byte("_meta:\n  type: tenants\n  config_version: 2\n\nhr:\n  description: second\n"),
		"roles.yml":   []byte("_meta:\n  type: roles\n  config_version: 2\nr:\n  cluster_permissions: [raed]\n"),
	})
	src, err := LoadDirs(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if src.Config.Tenants["hr"].Description != "second" || len(src.Config.Tenants) != 2 {
		t.Errorf("overlay: %+v", src.Config.Tenants)
	}
	if got := strings.Join(src.Types, ","); got != "roles,tenants" {
		t.Errorf("types = %s", got)
	}
	if p := src.Positions["tenants/hr"]; p.File != filepath.Join(b, "tenants.yml") || p.Line != 5 {
		t.Errorf("position = %+v", p)
	}
	c, e := Replace(NewConfig(), src.Docs())
	if e != nil {
		t.Fatal(e)
	}
	ps := src.Locate(c.Check())
	if len(ps) != 1 || ps[0].File != filepath.Join(b, "roles.yml") || ps[0].Line != 4 ||
		!strings.HasPrefix(ps[0].String(), filepath.Join(b, "roles.yml")+":4: warning: roles 'r':") {
		t.Errorf("located = %v", ps)
	}
	bad := writeFiles(t, map[string][]byte{
		"roles.yml": []byte("_meta:\n  type: roles\n  config_version: 2\nr:\n  cluster_permissions: []\n  colour: red\n"),
	})
	if _, err := LoadDirs(a, bad); err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "roles.yml")+`:6: entity "r": unknown key "colour"`) {
		t.Errorf("bad file: %v", err)
	}
	if _, err := LoadDirs(filepath.Join(a, "nope")); err == nil {
		t.Error("missing directory accepted")
	}
}
