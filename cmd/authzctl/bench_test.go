package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node/nodetest"
)

// TestBenchInProcess runs `authzctl bench` on the small shared workload: every
// decision matches and the JSON object has exactly the documented keys.
func TestBenchInProcess(t *testing.T) {
	dir := sharedDir(t, "bench/small")
	r := ctlEnv(t, map[string]string{}, "bench", "-w", dir, "--json", "--rounds", "1").must(t, "bench")
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("bench output %q: %v", r.out, err)
	}
	for _, k := range []string{"workload", "compile_ms", "heap_mb", "p50_ns", "p90_ns", "p99_ns", "max_ns", "per_sec", "mismatches"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("key %s missing from %v", k, rep)
		}
	}
	if len(rep) != 9 || rep["mismatches"] != float64(0) || rep["workload"] != "small" {
		t.Errorf("report = %v", rep)
	}
}

// TestBenchHTTP drives a one-node cluster holding the small workload's
// configuration over HTTPS: every checked answer matches the expectation.
func TestBenchHTTP(t *testing.T) {
	dir := sharedDir(t, "bench/small")
	cfg, err := authz.LoadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	c := nodetest.Start(t, nodetest.WithNodes(1), nodetest.WithConfig(cfg))
	r := ctl(t, c, "bench", "-w", dir, "--http", "--count", "600", "--concurrency", "4", "--batch", "50", "--rates", "400,800", "--json").must(t, "bench --http")
	var rep struct {
		Workload   string `json:"workload"`
		Mismatches int    `json:"mismatches"`
		Single     struct {
			Decisions int     `json:"decisions"`
			PerSec    float64 `json:"per_sec"`
			Errors    int     `json:"errors"`
		} `json:"single"`
		AtRates []struct {
			Decisions int     `json:"decisions"`
			Rate      float64 `json:"rate"`
			Errors    int     `json:"errors"`
		} `json:"at_rates"`
		Batch struct {
			Decisions int `json:"decisions"`
			Errors    int `json:"errors"`
		} `json:"batch"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("bench output %q: %v", r.out, err)
	}
	if rep.Workload != "small" || rep.Mismatches != 0 || rep.Single.Decisions != 600 || rep.Single.Errors != 0 || rep.Batch.Errors != 0 || rep.Single.PerSec <= 0 {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.AtRates) != 2 || rep.AtRates[0].Rate != 400 || rep.AtRates[1].Rate != 800 || rep.AtRates[1].Decisions != 300 || rep.AtRates[0].Errors+rep.AtRates[1].Errors != 0 {
		t.Errorf("--rates phases = %+v", rep.AtRates)
	}
	if bad := ctl(t, c, "bench", "-w", dir, "--http", "--count", "10", "--rates", "0"); bad.code == 0 || !strings.Contains(bad.err, "must be positive") {
		t.Errorf("bench --rates 0: exit %d, %s", bad.code, bad.err)
	}
	// Load is only ever aimed at this machine.
	bad := ctlEnv(t, map[string]string{"AUTHZD_URL": "https://192.0.2.1:9200", "AUTHZD_CERT_FILE": c.PKI.AdminCertFile(), "AUTHZD_KEY_FILE": c.PKI.AdminKeyFile()},
		"bench", "-w", dir, "--http", "--count", "10")
	if bad.code == 0 || !strings.Contains(bad.err, "loopback") {
		t.Errorf("bench against a non-loopback address: exit %d, %s", bad.code, bad.err)
	}
}
