package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/authz/authztest"
	"github.com/authzd/authzd/fsm"
)

// viewBackend serves one fixed view and refuses writes: the decision API reads
// only. (A unit test of this package: the real node is exercised by node's tests.)
type viewBackend struct{ view *fsm.View }

func (b viewBackend) View() *fsm.View                       { return b.view }
func (b viewBackend) WaitFor(context.Context, uint64) error { return nil }
func (b viewBackend) Status() ClusterStatus                 { return ClusterStatus{} }
func (b viewBackend) ApplyLocal(context.Context, []byte) (fsm.Result, error) {
	return fsm.Result{}, errors.New("read-only test backend")
}
func (b viewBackend) Propose(context.Context, []byte) (fsm.Result, error) {
	return fsm.Result{}, errors.New("read-only test backend")
}

const superAdminDN = "CN=kirk,OU=client,O=client,L=test,C=de"

// superAdminCert is a certificate with the super admin's subject.
func superAdminCert(t testing.TB) *x509.Certificate {
	t.Helper()
	return selfSigned(t, pkix.Name{CommonName: "kirk", OrganizationalUnit: []string{"client"}, Organization: []string{"client"},
		Locality: []string{"test"}, Country: []string{"de"}})
}

// selfSigned is a self-signed certificate with subject; the API reads the
// subject from the verified chain the TLS layer hands it.
func selfSigned(t testing.TB, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// viewAPI is an API that serves cfg, compiled with settings, at revision rev,
// and knows the super admin certificate's DN.
func viewAPI(t testing.TB, cfg *authz.Config, settings authz.Settings, rev uint64) (*API, *fsm.View) {
	t.Helper()
	eval, err := authz.Compile(cfg, settings)
	if err != nil {
		t.Fatal(err)
	}
	view := &fsm.View{Rev: rev, Config: cfg, Eval: eval, Initialized: true}
	a, err := New(Config{Backend: viewBackend{view},
		Settings: Settings{AdminDN: []string{superAdminDN}, RESTSettings: authz.RESTSettings{BcryptRounds: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	return a, view
}

// certRequest is a request to the node presenting cert as its verified
// client certificate.
func certRequest(method, path string, body []byte, cert *x509.Certificate) *http.Request {
	req := httptest.NewRequest(method, "https://node"+path, bytes.NewReader(body))
	req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}, PeerCertificates: []*x509.Certificate{cert}}
	return req
}

// TestVectorsThroughEveryDecisionAPI sends every decision vector through the
// REST decision endpoints — evaluate, _batch, has_privileges and privileges —
// as the super admin asking for the vector's user: each must give the
// vector's expectation, and they must agree with one another (STYLE §10).
func TestVectorsThroughEveryDecisionAPI(t *testing.T) {
	vectors, err := authztest.Load(filepath.Join("..", "..", "authz", "testdata", "vectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cert := superAdminCert(t)
	for _, v := range vectors {
		t.Run(v.ID, func(t *testing.T) {
			a, _ := viewAPI(t, v.Config, v.Settings, 7)
			call := func(method, path string, body any) map[string]any {
				t.Helper()
				b, err := json.Marshal(body)
				if err != nil {
					t.Fatal(err)
				}
				req := certRequest(method, path, b, cert)
				w := httptest.NewRecorder()
				a.ServeHTTP(w, req)
				var out map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
					t.Fatalf("%s %s = %d %s", method, path, w.Code, w.Body)
				}
				return out
			}
			q := v.Request
			user := map[string]any{"name": q.Subject.Name, "backend_roles": orEmpty(q.Subject.BackendRoles),
				"roles": orEmpty(q.Subject.SecurityRoles), "attributes": q.Subject.Attributes}
			if q.Subject.RequestedTenant != "" {
				user["requested_tenant"] = q.Subject.RequestedTenant
			}
			body := map[string]any{"user": user, "remote_address": q.Subject.RemoteIP, "action": q.Action,
				"indices": q.Indices, "bulk_items": q.BulkItems, "tenant": q.Tenant, "tenant_access": q.TenantAccess}

			single := call("POST", "/_plugins/_authz/evaluate", body)
			if single["allowed"] != v.Expect.Allowed {
				t.Errorf("evaluate: allowed = %v, want %v (%v)\nrule: %s", single["allowed"], v.Expect.Allowed, single["reason"], v.Rule)
			}
			if v.Expect.Roles != nil {
				if d := cmp.Diff(toAny(v.Expect.Roles), single["roles"]); d != "" {
					t.Errorf("evaluate: roles (-want +got):\n%s", d)
				}
			}
			if v.Expect.Reason != nil && single["reason"] != *v.Expect.Reason {
				t.Errorf("evaluate: reason = %v\nwant %s", single["reason"], *v.Expect.Reason)
			}
			if v.Expect.Tenants != nil {
				want := map[string]any{}
				for k, w := range v.Expect.Tenants {
					want[k] = w
				}
				if d := cmp.Diff(want, single["tenants"]); d != "" {
					t.Errorf("evaluate: tenants (-want +got):\n%s", d)
				}
			}
			if v.Expect.EffectiveIndices != nil {
				if d := cmp.Diff(toAny(v.Expect.EffectiveIndices), single["effective_indices"]); d != "" {
					t.Errorf("evaluate: effective_indices (-want +got):\n%s", d)
				}
			}

			batch := call("POST", "/_plugins/_authz/evaluate/_batch", map[string]any{"requests": []any{body, body}})
			items, _ := batch["responses"].([]any)
			if len(items) != 2 {
				t.Fatalf("_batch answered %d items", len(items))
			}
			for i, it := range items {
				if d := cmp.Diff(single, it); d != "" {
					t.Errorf("_batch item %d differs from evaluate (-evaluate +batch):\n%s", i, d)
				}
			}

			// has_privileges decides each (index, action) alone: it must agree
			// where the vector's request is one such cell.
			plain := q.Action != "" && q.Tenant == "" && len(q.BulkItems) == 0 && q.Subject.RequestedTenant == "" && v.Expect.EffectiveIndices == nil
			switch {
			case plain && len(q.Indices) == 0:
				hp := call("POST", "/_plugins/_authz/has_privileges", map[string]any{"user": user, "remote_address": q.Subject.RemoteIP, "cluster": []string{q.Action}})
				if got := hp["cluster"].(map[string]any)[q.Action]; got != single["allowed"] || hp["has_all_requested"] != single["allowed"] {
					t.Errorf("has_privileges cluster[%s] = %v, evaluate allowed = %v", q.Action, got, single["allowed"])
				}
			case plain && len(q.Indices) == 1:
				hp := call("POST", "/_plugins/_authz/has_privileges", map[string]any{"user": user, "remote_address": q.Subject.RemoteIP,
					"index": []any{map[string]any{"names": q.Indices, "privileges": []string{q.Action}}}})
				got := hp["index"].(map[string]any)[q.Indices[0]].(map[string]any)[q.Action]
				if got != single["allowed"] {
					t.Errorf("has_privileges index[%s][%s] = %v, evaluate allowed = %v", q.Indices[0], q.Action, got, single["allowed"])
				}
			}

			// privileges/{user} resolves the user by name: its roles must be
			// the decision's when the name alone determines them.
			_, internal := v.Config.InternalUsers[q.Subject.Name]
			byName := q.Subject.RemoteIP == "" && (internal || (len(q.Subject.BackendRoles) == 0 && len(q.Subject.SecurityRoles) == 0))
			if byName && !strings.ContainsAny(q.Subject.Name, "/?#%") {
				p := call("GET", fmt.Sprintf("/_plugins/_authz/privileges/%s", q.Subject.Name), nil)
				if d := cmp.Diff(single["roles"], p["roles"]); d != "" {
					t.Errorf("privileges: roles differ from evaluate (-evaluate +privileges):\n%s", d)
				}
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestDNCache(t *testing.T) {
	var c dnCache
	cert := superAdminCert(t)
	for range 3 {
		if got := c.dn(cert); got != superAdminDN {
			t.Fatalf("dn = %q", got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { c.dn(cert) }); n > 0 {
		t.Errorf("a cached DN costs %v allocations", n)
	}
}
