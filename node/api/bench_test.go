package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/authz/workload"
)

// BenchmarkEvaluateHandler is the node's own cost of one POST
// /_plugins/_authz/evaluate on the medium workload, without the network and
// net/http's connection handling: the middleware, authentication (by the
// super admin certificate, or by basic auth as a PEP's service user mapped
// to all_access), decoding, the decision and the response. Its allocs/op is
// what the decision API adds to the garbage collector's work per call.
func BenchmarkEvaluateHandler(b *testing.B) {
	w, cfg := benchWorkload(b)
	hash, err := authz.HashPassword("pep-password", 4)
	if err != nil {
		b.Fatal(err)
	}
	cfg.InternalUsers["pep"] = authz.InternalUser{Hash: hash, SecurityRoles: []string{"all_access"}}
	a, _ := viewAPI(b, cfg, authz.Settings{}, 7)
	bodies := make([][]byte, len(w.Requests))
	for i, item := range requestItems(w.Requests) {
		if bodies[i], err = json.Marshal(item); err != nil {
			b.Fatal(err)
		}
	}
	for _, auth := range []string{"cert", "basic"} {
		b.Run(auth, func(b *testing.B) {
			req := certRequest(http.MethodPost, "/_plugins/_authz/evaluate", nil, superAdminCert(b))
			if auth == "basic" {
				req.TLS = nil
				req.SetBasicAuth("pep", "pep-password")
			}
			serveLoop(b, a, req, bodies)
		})
	}
}

// BenchmarkEvaluateBatchHandler is BenchmarkEvaluateHandler for POST
// /_plugins/_authz/evaluate/_batch with 100 requests per call (super admin
// certificate); it also reports the cost per decision.
func BenchmarkEvaluateBatchHandler(b *testing.B) {
	w, cfg := benchWorkload(b)
	a, _ := viewAPI(b, cfg, authz.Settings{}, 7)
	const per = 100
	items := requestItems(w.Requests)
	var bodies [][]byte
	for i := 0; i+per <= len(items); i += per {
		body, err := json.Marshal(map[string]any{"requests": items[i : i+per]})
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	serveLoop(b, a, certRequest(http.MethodPost, "/_plugins/_authz/evaluate/_batch", nil, superAdminCert(b)), bodies)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/decision")
}

// benchWorkload loads the medium bench workload and its configuration with
// the plugin's static entries.
func benchWorkload(b *testing.B) (*workload.Workload, *authz.Config) {
	dir := filepath.Join("..", "..", "..", "shared", "bench", "medium")
	w, err := workload.Load(dir)
	if err != nil {
		b.Skipf("%s: %v", dir, err)
	}
	cfg := w.Config.Clone()
	cfg.AddStatics()
	return w, cfg
}

// requestItems are the workload's requests as decision request bodies.
func requestItems(reqs []workload.Request) []map[string]any {
	items := make([]map[string]any, len(reqs))
	for i, r := range reqs {
		roles := r.BackendRoles
		if roles == nil {
			roles = []string{}
		}
		items[i] = map[string]any{"user": map[string]any{"name": r.User, "backend_roles": roles}, "action": r.Action, "indices": r.Indices}
	}
	return items
}

// serveLoop sends req with the bodies in turn to a's handler until b is
// done, failing on any answer but 200.
func serveLoop(b *testing.B, a *API, req *http.Request, bodies [][]byte) {
	req.Header.Set("Content-Type", "application/json")
	body := &bytes.Reader{}
	out := &discardWriter{h: http.Header{}}
	i := 0
	for b.Loop() {
		body.Reset(bodies[i%len(bodies)])
		req.Body = io.NopCloser(body)
		clear(out.h)
		a.ServeHTTP(out, req)
		if out.code != http.StatusOK {
			b.Fatalf("status %d", out.code)
		}
		i++
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
