package workload

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchDir is shared/bench seen from this package in a worktree.
var benchDir = filepath.Join("..", "..", "..", "shared", "bench")

func TestRunBench(t *testing.T) {
	for _, size := range []string{"small", "medium", "large"} {
		t.Run(size, func(t *testing.T) {
			if size != "small" && (testing.Short() || raceEnabled) {
				t.Skip("medium and large are skipped with -short and -race (the small run covers the code)")
			}
			dir := filepath.Join(benchDir, size)
			if _, err := os.Stat(dir); err != nil {
				t.Skipf("%s not available: %v", dir, err)
			}
			w, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(w, Options{Rounds: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Workload != size || rep.Mismatches != 0 || rep.P50 > rep.P99 || rep.P99 > rep.Max || rep.PerSec <= 0 || rep.HeapMB <= 0 {
				t.Errorf("report = %+v", rep)
			}
			t.Logf("%+v", rep)
		})
	}
}

// writeWorkload writes a minimal workload directory.
func writeWorkload(t *testing.T, requests string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"roles.yml":         "_meta: {type: roles, config_version: 2}\nr: {cluster_permissions: [\"cluster:monitor/*\"], index_permissions: [{index_patterns: [\"logs-*\"], allowed_actions: [\"indices:data/read/*\"]}]}\n",
		"roles_mapping.yml": "_meta: {type: rolesmapping, config_version: 2}\nr: {backend_roles: [dev]}\n",
		RequestsFile:        requests,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunSmallDir(t *testing.T) {
	reqs := []string{
		`{"user":"u1","backend_roles":["dev"],"action":"indices:data/read/search","indices":["logs-1"],"expect":true}`,
		`{"user":"u1","backend_roles":["dev"],"action":"indices:data/write/index","indices":["logs-1"],"expect":false}`,
		`{"user":"u2","backend_roles":[],"action":"cluster:monitor/health","indices":[],"expect":false}`,
		// mget with indices is judged index-only, as the bench's reference does.
		`{"user":"u1","backend_roles":["dev"],"action":"indices:data/read/mget","indices":["logs-1"],"expect":true}`,
	}
	w, err := Load(writeWorkload(t, strings.Join(reqs, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(w, Options{Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "compile_ms", "heap_mb", "p50_ns", "p90_ns", "p99_ns", "max_ns", "per_sec", "mismatches"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, b)
		}
	}
	if len(keys) != 9 {
		t.Errorf("report JSON has %d keys, want 9: %s", len(keys), b)
	}
}

func TestRunMismatch(t *testing.T) {
	w, err := Load(writeWorkload(t, `{"user":"u1","backend_roles":["dev"],"action":"indices:data/read/search","indices":["logs-1"],"expect":false}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(w, Options{Rounds: 1})
	if !errors.Is(err, ErrMismatch) || rep.Mismatches != 1 {
		t.Fatalf("Run = %+v, %v; want one mismatch and ErrMismatch", rep, err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		requests string
		want     string
	}{
		{"unknown key", `{"user":"u","actoin":"x","expect":true}`, "requests.jsonl:1: json: unknown field \"actoin\""},
		{"wrong type", "\n" + `{"user":1}`, "requests.jsonl:2:"},
		{"two values", `{"user":"u"} {"user":"v"}`, "more than one JSON value"},
		{"empty", "\n\n", "no requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeWorkload(t, tc.requests))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("missing requests", func(t *testing.T) {
		dir := writeWorkload(t, "x")
		if err := os.Remove(filepath.Join(dir, RequestsFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), RequestsFile) {
			t.Fatalf("Load error = %v", err)
		}
	})
	t.Run("bad yaml", func(t *testing.T) {
		dir := writeWorkload(t, `{"user":"u"}`)
		if err := os.WriteFile(filepath.Join(dir, "roles.yml"), []byte("_meta: {type: tenants, config_version: 2}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "_meta.type") {
			t.Fatalf("Load error = %v", err)
		}
	})
}
