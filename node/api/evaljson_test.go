package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/authz/authztest"
	"github.com/authzd/authzd/fsm"
)

// vectorBody is the evaluate body of a vector's request, written the way a
// PEP writes one (fields it has no value for left out).
func vectorBody(t *testing.T, q authz.Request) []byte {
	t.Helper()
	user := map[string]any{"name": q.Subject.Name, "backend_roles": orEmpty(q.Subject.BackendRoles)}
	if len(q.Subject.SecurityRoles) > 0 {
		user["roles"] = q.Subject.SecurityRoles
	}
	if len(q.Subject.Attributes) > 0 {
		user["attributes"] = q.Subject.Attributes
	}
	if q.Subject.RequestedTenant != "" {
		user["requested_tenant"] = q.Subject.RequestedTenant
	}
	body := map[string]any{"user": user, "action": q.Action}
	for k, v := range map[string]string{"remote_address": q.Subject.RemoteIP, "tenant": q.Tenant, "tenant_access": q.TenantAccess} {
		if v != "" {
			body[k] = v
		}
	}
	for k, v := range map[string][]string{"indices": q.Indices, "bulk_items": q.BulkItems} {
		if v != nil {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecisionJSONMatchesEncodingJSON holds the fast path of POST
// /_plugins/_authz/evaluate to the general one on every decision vector
// (allowed, denied, dnfof-reduced, DLS/FLS, tenants, system indices): the
// scanner reads each body as encoding/json does, and the appended answer is
// byte for byte json.Marshal of decide's.
func TestDecisionJSONMatchesEncodingJSON(t *testing.T) {
	vectors, err := authztest.Load(filepath.Join("..", "..", "authz", "testdata", "vectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cert := superAdminCert(t)
	scanned := 0
	for _, v := range vectors {
		t.Run(v.ID, func(t *testing.T) {
			a, view := viewAPI(t, v.Config, v.Settings, 42)
			body := vectorBody(t, v.Request)
			r := authedRequest(t, a, view, certRequest(http.MethodPost, "/_plugins/_authz/evaluate", body, cert))

			var q decisionRequest
			if err := decodeStrictBytes(body, &q); err != nil {
				t.Fatal(err)
			}
			s := new(evalScratch)
			if s.scan(body) {
				scanned++
				if d := cmp.Diff(q, s.q); d != "" {
					t.Errorf("scanned request differs from encoding/json's (-json +scan):\n%s", d)
				}
			}

			resp, err := a.decide(r, &q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			req, err := a.evalRequest(r, &q)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second time on the reused buffers
				view.Eval.EvaluateInto(&req, &s.d)
				s.out = s.appendDecision(s.out[:0], &q, view.Rev)
				if !bytes.Equal(s.out, want) {
					t.Fatalf("appended answer\n%s\nencoding/json\n%s", s.out, want)
				}
			}
		})
	}
	t.Logf("%d of %d vector bodies took the scanner", scanned, len(vectors))
	if scanned < len(vectors)*3/4 {
		t.Errorf("the scanner read %d of %d vector bodies: the fast path is not the common one", scanned, len(vectors))
	}
}

// FuzzDecisionRequestScan: whatever the scanner accepts, encoding/json's
// strict decoder accepts too and decodes to the same request.
func FuzzDecisionRequestScan(f *testing.F) {
	for _, seed := range []string{
		`{"user":{"name":"u","backend_roles":["a","b"]},"action":"indices:data/read/search","indices":["logs-1"]}`,
		`{"user":{"name":"u","backend_roles":[],"roles":[]},"action":"cluster:monitor/health"}`,
		` { "action" : "a" , "indices" : [ ] , "explain" : false , "all_indices" : true } `,
		`{"tenant":"t","tenant_access":"WRITE","user":{"name":"é"}}`,
		`{"remote_address":"10.0.0.1","remote_host":"h","remote_indices":["c:i"],"bulk_items":["x"],"create_with_aliases":true,"removes_index":false}`,
		`{"user":{},"action":"a","Action":"b"}`,
		`{"action":"a","action":"b"}`,
		`{"action":"a\"b"}`,
		`{"action":null}`,
		`{"user":{"name":"u","attributes":{"k":"v"}}}`,
		`{"action":"a"} x`,
		`{}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := new(evalScratch)
		if !s.scan(body) {
			return
		}
		var q decisionRequest
		if err := decodeStrictBytes(body, &q); err != nil {
			t.Fatalf("scanner accepted %q, encoding/json refuses it: %v", body, err)
		}
		if d := cmp.Diff(q, s.q); d != "" {
			t.Fatalf("%q: scanned request differs (-json +scan):\n%s", body, d)
		}
	})
}

// TestEvaluateScratchReuse sends different requests through one API in a row:
// nothing of an earlier request (lists, user, decision) may leak into the
// next answer when the scratch buffers are reused.
func TestEvaluateScratchReuse(t *testing.T) {
	cfg := &authz.Config{Roles: map[string]authz.Role{
		"reader": {IndexPermissions: []authz.IndexPermission{{IndexPatterns: []string{"logs-*"}, AllowedActions: []string{"indices:data/read/*"}}}},
	}, RolesMapping: map[string]authz.RoleMapping{"reader": {BackendRoles: []string{"readers"}}}}
	a, _ := viewAPI(t, cfg, authz.Settings{}, 3)
	cert := superAdminCert(t)
	call := func(body string) string {
		t.Helper()
		req := certRequest(http.MethodPost, "/_plugins/_authz/evaluate", []byte(body), cert)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Header().Get("X-Authz-Revision") != "3" || w.Header().Get("Content-Type") != "application/json; charset=UTF-8" {
			t.Fatalf("%s: %d %v %s", body, w.Code, w.Header(), w.Body)
		}
		return w.Body.String()
	}
	allowed := `{"user":{"name":"ann","backend_roles":["readers"]},"action":"indices:data/read/search","indices":["logs-2","logs-1","logs-2"]}`
	denied := `{"user":{"name":"bob","backend_roles":[]},"action":"indices:data/read/search","indices":["metrics"]}`
	wantAllowed := `{"allowed":true,"roles":["reader"],"indices":{"logs-1":{"allowed":true},"logs-2":{"allowed":true}},"revision":3}`
	wantDenied := `{"allowed":false,"reason":"no permissions for [indices:data/read/search] and User [name=bob, backend_roles=[], requestedTenant=null]","roles":[],"missing":["indices:data/read/search"],"indices":{"metrics":{"allowed":false,"missing":["indices:data/read/search"]}},"revision":3}`
	for range 3 {
		if got := call(allowed); got != wantAllowed {
			t.Errorf("allowed:\n got %s\nwant %s", got, wantAllowed)
		}
		if got := call(denied); got != wantDenied {
			t.Errorf("denied:\n got %s\nwant %s", got, wantDenied)
		}
	}
}

// FuzzAppendJSONString: the answer's strings are quoted exactly as
// encoding/json quotes them (HTML characters, control bytes, invalid UTF-8,
// U+2028 and U+2029 included).
func FuzzAppendJSONString(f *testing.F) {
	for _, seed := range []string{"", "plain-role", `q"uote`, `back\slash`, "<script>&", "tab\tnew\nline", "\x00\x1f\x7f",
		"é", "\u2028\u2029", "\xff\xfe", "日本語", "a\u00e9b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: appended %s, encoding/json %s", s, got[1:], want)
		}
		if got := appendJSONString(nil, []byte(s)); string(got) != string(want) {
			t.Fatalf("%q as bytes: appended %s, encoding/json %s", s, got, want)
		}
	})
}

// authedRequest is hr as a handler of a sees it: authenticated against view.
func authedRequest(t *testing.T, a *API, view *fsm.View, hr *http.Request) *request {
	t.Helper()
	caller, err := a.authenticate(hr, view)
	if err != nil {
		t.Fatal(err)
	}
	return &request{Request: hr, view: view, caller: caller}
}

// TestBatchFastMatchesEncodingJSON: on every vector, a _batch of the
// vector's request, the same with explain, a request the API refuses and
// the first again, answered by batchFast, is byte for byte what
// evaluateBatchJSON answers, and counts the same decisions; a body it leaves
// to encoding/json, it leaves untouched.
func TestBatchFastMatchesEncodingJSON(t *testing.T) {
	vectors, err := authztest.Load(filepath.Join("..", "..", "authz", "testdata", "vectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cert := superAdminCert(t)
	fast := 0
	for _, v := range vectors {
		t.Run(v.ID, func(t *testing.T) {
			a, view := viewAPI(t, v.Config, v.Settings, 42)
			one := vectorBody(t, v.Request)
			var m map[string]any
			if err := json.Unmarshal(one, &m); err != nil {
				t.Fatal(err)
			}
			m["explain"] = true
			explained, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			body := slices.Concat([]byte(`{"requests":[`), one, []byte(","), explained,
				[]byte(`, {"user":{"name":"x"},"action":""} ,`), one, []byte("]}\n"))
			r := authedRequest(t, a, view, certRequest(http.MethodPost, "/_plugins/_authz/evaluate/_batch", body, cert))

			counts := func() [3]float64 {
				var c [3]float64
				for i, res := range []string{"allowed", "denied", "error"} {
					var m dto.Metric
					if err := a.met.decisions.WithLabelValues(apiBatch, res).Write(&m); err != nil {
						t.Fatal(err)
					}
					c[i] = m.GetCounter().GetValue()
				}
				return c
			}
			c0 := counts()
			want := httptest.NewRecorder()
			if err := a.evaluateBatchJSON(want, r, body); err != nil {
				t.Fatal(err)
			}
			c1 := counts()
			got := httptest.NewRecorder()
			s := new(evalScratch)
			s.body = body
			done, err := a.batchFast(got, r, s)
			if err != nil {
				t.Fatal(err)
			}
			c2 := counts()
			if !done {
				if got.Body.Len() > 0 || len(got.Header()) > 0 || c2 != c1 {
					t.Fatalf("batchFast gave up but wrote %q, headers %v, counted %v", got.Body, got.Header(), c2)
				}
				if new(evalScratch).scan(one) {
					t.Fatalf("batchFast gave up on a batch of bodies the scanner reads")
				}
				return
			}
			fast++
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Fatalf("batchFast answered %d\n%s\nencoding/json %d\n%s", got.Code, got.Body, want.Code, want.Body)
			}
			if g, w := got.Header().Get("X-Authz-Revision"), want.Header().Get("X-Authz-Revision"); g != w || g != "42" {
				t.Fatalf("revision header %q, want %q", g, w)
			}
			for i := range c0 {
				if c2[i]-c1[i] != c1[i]-c0[i] {
					t.Fatalf("batchFast counted %v more decisions, encoding/json %v", c2[i]-c1[i], c1[i]-c0[i])
				}
			}
		})
	}
	t.Logf("%d of %d vector batches took batchFast", fast, len(vectors))
	if fast < len(vectors)*3/4 {
		t.Errorf("batchFast answered %d of %d vector batches: the fast path is not the common one", fast, len(vectors))
	}
}

// TestBatchOddBodies: bodies outside batchFast's shape get what
// encoding/json's path gives them, through the whole handler.
func TestBatchOddBodies(t *testing.T) {
	cfg := authz.NewConfig()
	cfg.AddStatics()
	a, view := viewAPI(t, cfg, authz.Settings{}, 9)
	cert := superAdminCert(t)
	item := `{"user":{"name":"u","backend_roles":[]},"action":"indices:data/read/search","indices":["i"]}`
	for name, body := range map[string]string{
		"empty":            ``,
		"no requests":      `{"requests":[]}`,
		"null requests":    `{"requests":null}`,
		"other case key":   `{"Requests":[` + item + `]}`,
		"unknown key":      `{"requests":[` + item + `],"extra":1}`,
		"key twice":        `{"requests":[` + item + `],"requests":[]}`,
		"trailing comma":   `{"requests":[` + item + `,]}`,
		"trailing data":    `{"requests":[` + item + `]} {}`,
		"not an object":    `[` + item + `]`,
		"escaped item":     `{"requests":[` + item + `,{"user":{"name":"\u0075"},"action":"a"}]}`,
		"too many":         `{"requests":[` + strings.Repeat(item+",", maxBatch) + item + `]}`,
		"unknown item key": `{"requests":[{"action":"a","nope":true}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			got := httptest.NewRecorder()
			a.ServeHTTP(got, certRequest(http.MethodPost, "/_plugins/_authz/evaluate/_batch", []byte(body), cert))
			r := authedRequest(t, a, view, certRequest(http.MethodPost, "/_plugins/_authz/evaluate/_batch", []byte(body), cert))
			want := httptest.NewRecorder()
			if err := a.evaluateBatchJSON(want, r, []byte(body)); err != nil {
				writeError(want, r.Request, a.log, err)
			}
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Fatalf("handler answered %d\n%s\nencoding/json %d\n%s", got.Code, got.Body, want.Code, want.Body)
			}
		})
	}
}
