package node_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// metricName finds the series names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:authzd|raft)_[a-zA-Z0-9_]+\b`)

// checkDashboard parses deploy/grafana/authzd.json and checks that every
// expression of every panel names only series the nodes expose.
func checkDashboard(t *testing.T, scrapes []families) {
	b, err := os.ReadFile("../deploy/grafana/authzd.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	hasDS := false
	for _, v := range dash.Templating.List {
		hasDS = hasDS || (v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasDS {
		t.Error("dashboard has no Prometheus datasource variable")
	}
	known := func(name string) bool {
		for _, f := range scrapes {
			if f[name] != nil {
				return true
			}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && f[base] != nil {
					return true
				}
			}
		}
		return false
	}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: expression %q names no authzd series", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !known(n) {
					t.Errorf("panel %q: %s is not exposed by the nodes", p.Title, n)
				}
			}
		}
	}
	if exprs < 20 {
		t.Errorf("dashboard has %d expressions, want the panels of docs/metrics.md", exprs)
	}
}
