package node_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/nodetest"
)

// families is one scrape of GET /metrics, by family name.
type families map[string]*dto.MetricFamily

func scrape(t testing.TB, client *http.Client, addr string) families {
	t.Helper()
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", addr, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape of %s: %v", addr, err)
	}
	return mf
}

// value is the value of the series of name whose labels include want
// (label=value pairs), summed over the matching series; ok is false when
// none matches. A histogram gives its sample count.
func (f families) value(name string, want ...string) (float64, bool) {
	mf := f[name]
	if mf == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			sum += float64(m.GetSummary().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// must returns the value or fails when the series is missing.
func (f families) must(t testing.TB, node int, name string, want ...string) float64 {
	t.Helper()
	v, ok := f.value(name, want...)
	if !ok {
		t.Fatalf("node %d: no series %s%v", node, name, want)
	}
	return v
}

// TestMetrics scrapes GET /metrics of every node of a real cluster over
// HTTPS after a write, decisions and an ownership registration, and checks
// the series of docs/metrics.md and the Grafana dashboard against them.
func TestMetrics(t *testing.T) {
	c := nodetest.Start(t)
	put := c.Admin(1, http.MethodPut, "/_plugins/_security/api/roles/metrics_probe",
		`{"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["read"]}]}`)
	if put.Status != http.StatusCreated {
		t.Fatalf("put role: %s", put)
	}
	rev := revisionOf(t, put)
	revN, _ := strconv.ParseUint(rev, 10, 64)
	allowed := `{"user":{"name":"admin"},"action":"indices:data/read/search","indices":["logs-1"]}`
	denied := `{"user":{"name":"ext","backend_roles":["nobody"]},"action":"indices:data/read/search","indices":["logs-1"]}`
	for i := range c.Nodes {
		for _, body := range []string{allowed, denied} {
			if r := c.Admin(i, http.MethodPost, evaluatePath+"?min_revision="+rev, body); r.Status != http.StatusOK {
				t.Fatalf("evaluate on node %d: %s", i, r)
			}
		}
		if r := c.Admin(i, http.MethodPost, evaluatePath+"/_batch", `{"requests":[`+allowed+`,`+denied+`]}`); r.Status != http.StatusOK {
			t.Fatalf("batch on node %d: %s", i, r)
		}
		// The admin certificate goes through the DN cache: a miss, then a hit.
		for range 2 {
			if r := c.DoWith(c.AdminClient, i, http.MethodGet, "/_plugins/_authz/cluster", "", "", ""); r.Status != http.StatusOK {
				t.Fatalf("cluster status with the admin certificate on node %d: %s", i, r)
			}
		}
	}
	if r := c.Admin(0, http.MethodPut, "/_plugins/_authz/resources/async_search/metrics-1", ""); r.Status != http.StatusCreated {
		t.Fatalf("register owner: %s", r)
	}

	var scrapes []families
	// Publication is asynchronous, and the leader may move between the
	// scrapes of a busy machine: wait for a consistent set.
	nodetest.Eventually(t, 20*time.Second, func() error {
		scrapes = scrapes[:0]
		var published, lag, records, leaders float64
		for i := range c.Nodes {
			f := scrape(t, c.Client, c.Peers[i].HTTPAddr)
			scrapes = append(scrapes, f)
			v, _ := f.value("authzd_changes_published_total", "result=stored")
			published += v
			v, _ = f.value("authzd_changes_publish_lag_seconds")
			lag += v
			if v, _ := f.value("authzd_ownership_records", "kind=async_search"); v > 0 {
				records++
			}
			v, _ = f.value("authzd_raft_state", "state=Leader")
			leaders += v
		}
		if leaders != 1 {
			return fmt.Errorf("%v nodes report authzd_raft_state{state=\"Leader\"} 1, want exactly 1", leaders)
		}
		if published == 0 || lag == 0 {
			return fmt.Errorf("no change stored on the change stream yet (%v stored, %v lag samples)", published, lag)
		}
		if records < float64(len(c.Nodes)) {
			return fmt.Errorf("the ownership record is in %v of %d indexes", records, len(c.Nodes))
		}
		return nil
	})

	applies := 0.0
	for i, f := range scrapes {
		if st := f.must(t, i, "authzd_raft_state"); st != 1 {
			t.Errorf("node %d: authzd_raft_state sums to %v over the states, want 1", i, st)
		}
		applies += f.must(t, i, "authzd_raft_apply_duration_seconds")
		for _, name := range []string{"authzd_raft_applied_index", "authzd_raft_commit_index", "authzd_raft_last_log_index", "authzd_fsm_revision"} {
			if v := f.must(t, i, name); v < float64(revN) {
				t.Errorf("node %d: %s = %v, want >= the write's revision %d", i, name, v, revN)
			}
		}
		atLeast := []struct {
			name   string
			labels []string
			min    float64
		}{
			{"authzd_raft_term", nil, 1},
			{"authzd_raft_leader_changes_total", nil, 1},
			{"authzd_fsm_apply_batch_duration_seconds", nil, 1},
			{"authzd_fsm_apply_batch_entries", nil, 1},
			{"authzd_evaluator_update_duration_seconds", nil, 2}, // bootstrap and the role
			{"authzd_evaluator_config_entities", []string{"kind=roles"}, 1},
			{"authzd_http_requests_total", []string{"route=/_plugins/_authz/evaluate", "method=POST", "code=200"}, 2},
			{"authzd_http_request_duration_seconds", []string{"route=/_plugins/_authz/evaluate/_batch"}, 1},
			{"authzd_decisions_total", []string{"api=evaluate", "result=allowed"}, 1},
			{"authzd_decisions_total", []string{"api=evaluate", "result=denied"}, 1},
			{"authzd_decisions_total", []string{"api=batch", "result=denied"}, 1},
			{"authzd_decision_request_duration_seconds", []string{"api=evaluate"}, 2},
			{"authzd_cache_hits_total", []string{"cache=credentials"}, 1},
			{"authzd_cache_misses_total", []string{"cache=credentials"}, 1},
			{"authzd_cache_hits_total", []string{"cache=dn"}, 1},
			{"authzd_cache_misses_total", []string{"cache=dn"}, 1},
			{"authzd_cache_entries", []string{"cache=credentials"}, 1},
			{"authzd_nats_connected", nil, 1},
			{"authzd_nats_jetstream_ready", nil, 1},
			{"authzd_nats_embedded_server_running", nil, 1},
			{"authzd_ownership_index_loaded", nil, 1},
			{"authzd_ownership_records", []string{"kind=async_search"}, 1},
			{"authzd_http_requests_in_flight", nil, 1}, // the scrape itself
		}
		for _, a := range atLeast {
			if v := f.must(t, i, a.name, a.labels...); v < a.min {
				t.Errorf("node %d: %s%v = %v, want >= %v", i, a.name, a.labels, v, a.min)
			}
		}
		for _, name := range []string{"authzd_fsm_snapshot_create_duration_seconds", "authzd_fsm_snapshot_persist_duration_seconds",
			"authzd_fsm_snapshot_restore_duration_seconds", "authzd_fsm_snapshot_size_bytes", "authzd_changes_publish_errors_total",
			"authzd_changes_pending", "authzd_changes_dropped_total", "authzd_ownership_index_stale_seconds", "authzd_ownership_registrations_total"} {
			f.must(t, i, name)
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
			f.must(t, i, name)
		}
		// The go-metrics bridge: raft's own series, per process.
		if _, ok := f["raft_apply"]; !ok {
			t.Errorf("node %d: no raft_apply series from the go-metrics bridge", i)
		}
	}
	if applies == 0 {
		t.Error("no node observed authzd_raft_apply_duration_seconds")
	}
	if v := scrapes[0].must(t, 0, "authzd_ownership_registrations_total", "result=created"); v != 1 {
		t.Errorf("node 0: authzd_ownership_registrations_total{result=created} = %v, want 1", v)
	}

	t.Run("grafana dashboard", func(t *testing.T) { checkDashboard(t, scrapes) })
}

// TestMetricsRequireCert: with MetricsRequireCert, /metrics answers only
// clients presenting a certificate of the cluster CA.
func TestMetricsRequireCert(t *testing.T) {
	c := nodetest.Start(t, nodetest.WithNodes(1), nodetest.WithNodeConfig(func(cfg *node.Config) { cfg.MetricsRequireCert = true }))
	if r := c.Do(0, http.MethodGet, "/metrics", "", "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("without a client certificate: %s, want 401", r)
	}
	f := scrape(t, c.AdminClient, c.Peers[0].HTTPAddr)
	if v := f.must(t, 0, "authzd_raft_state", "state=Leader"); v != 1 {
		t.Errorf("single node: authzd_raft_state{state=Leader} = %v, want 1", v)
	}
}
