package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// membersBackend records the membership changes it gets and answers them
// with ans and err.
type membersBackend struct {
	viewBackend
	got []MemberChange
	ans MemberAnswer
	err error
}

func (b *membersBackend) ChangeMembers(_ context.Context, c MemberChange) (MemberAnswer, error) {
	b.got = append(b.got, c)
	return b.ans, b.err
}

func (b *membersBackend) ChangeMembersLocal(ctx context.Context, c MemberChange) (MemberAnswer, error) {
	return b.ChangeMembers(ctx, c)
}

// certWith is a self-signed certificate with the given CN and OU
// (O=authzd, as the dev PKI issues them); see selfSigned.
func certWith(t *testing.T, cn, ou string) *x509.Certificate {
	t.Helper()
	return selfSigned(t, pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}, Organization: []string{"authzd"}})
}

// TestMembersCallersAndErrors covers who may call the membership endpoints
// and how the node's answers become responses, without a cluster.
func TestMembersCallersAndErrors(t *testing.T) {
	c := authz.NewConfig()
	eval, err := authz.Compile(c, authz.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	view := &fsm.View{Rev: 3, Config: c, Eval: eval, Initialized: true}
	node, admin, client := certWith(t, "n4", "node"), superAdminCert(t), certWith(t, "someone", "client")
	add := `{"id":"n4","raft_address":"h4:9300","http_address":"h4:9200"}`
	cases := []struct {
		name       string
		cert       *x509.Certificate
		method     string
		path, body string
		ans        MemberAnswer
		err        error
		status     int
		want       string
		called     bool
	}{
		{"node certificate joins", node, "POST", "/_plugins/_authz/cluster/peers", add, MemberAnswer{Peers: []Peer{{ID: "n4", Suffrage: "Voter"}}}, nil, 200, `"peers":[{"id":"n4","raft_address":"","suffrage":"Voter"}]`, true},
		{"super admin removes", admin, "DELETE", "/_plugins/_authz/cluster/peers/n4", "", MemberAnswer{Peers: []Peer{}}, nil, 200, `"message":"'n4' removed."`, true},
		{"other certificate without a user", client, "POST", "/_plugins/_authz/cluster/peers", add, MemberAnswer{}, nil, 401, "Unauthorized", false},
		{"no leader", admin, "POST", "/_plugins/_authz/cluster/peers", add, MemberAnswer{}, ErrNoLeader, 503, "No leader is available", true},
		{"refusal from the leader", node, "POST", "/_plugins/_authz/cluster/peers", add, MemberAnswer{Err: authz.StatusMessage(409, "peer id 'n4' is already a member")}, nil, 409, "already a member", true},
		{"internal endpoint needs a node", admin, "POST", "/_plugins/_authz/internal/members", "", MemberAnswer{}, nil, 403, "Only cluster nodes", false},
		{"internal endpoint on a follower", node, "POST", "/_plugins/_authz/internal/members", "remove", MemberAnswer{}, ErrNotLeader, 421, "not the leader", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &membersBackend{viewBackend: viewBackend{view}, ans: tc.ans, err: tc.err}
			a, err := New(Config{Backend: b, Settings: Settings{AdminDN: []string{superAdminDN}, RESTSettings: authz.RESTSettings{BcryptRounds: 4}}})
			if err != nil {
				t.Fatal(err)
			}
			body := tc.body
			if body == "remove" {
				raw, err := msgpack.Marshal(MemberChange{Remove: true, ID: "n4"})
				if err != nil {
					t.Fatal(err)
				}
				body = string(raw)
			}
			req := httptest.NewRequest(tc.method, "https://node"+tc.path, strings.NewReader(body))
			req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{tc.cert}}, PeerCertificates: []*x509.Certificate{tc.cert}}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%s %s = %d %s, want %d with %q", tc.method, tc.path, w.Code, w.Body, tc.status, tc.want)
			}
			if called := len(b.got) > 0; called != tc.called {
				t.Fatalf("backend called = %v, want %v", called, tc.called)
			}
			if tc.called && tc.path != "/_plugins/_authz/internal/members" && (b.got[0].ID != "n4" || b.got[0].Actor == "") {
				t.Fatalf("change = %+v", b.got[0])
			}
		})
	}
	// A backend without membership answers 501.
	a, err := New(Config{Backend: viewBackend{view}, Settings: Settings{AdminDN: []string{superAdminDN}, RESTSettings: authz.RESTSettings{BcryptRounds: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "https://node/_plugins/_authz/cluster/peers", strings.NewReader(add))
	req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{admin}}, PeerCertificates: []*x509.Certificate{admin}}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, req)
	if w.Code != http.StatusNotImplemented {
		t.Fatalf("without Members: %d %s", w.Code, w.Body)
	}
}
