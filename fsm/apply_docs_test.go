package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

func demoEntry(t testing.TB, index uint64) *raft.Log {
	return entry(t, index, events.ConfigReplace, events.Replace{Docs: ReplaceDocs(authz.Demo("$2y$04$abcdefghijklmnopqrstuuBvvb6C7gzoWxqs4tO/hqYkYs6V8Qkyu")), Bootstrap: true})
}

// TestApplyDocuments drives the single-document events: each row is applied
// in order and must give its status and, when accepted, leave a document
// containing want.
func TestApplyDocuments(t *testing.T) {
	m := newMachine(t)
	applyAll(t, m, []*raft.Log{demoEntry(t, 1)})
	tests := []struct {
		name   string
		typ    events.Type
		p      any
		status int
		want   string // substring of the resulting document, or of the error body
		get    func(*authz.Config) json.RawMessage
	}{
		{"securityconfig put", events.SecurityConfigPut, events.DocPut{Doc: []byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`)}, 0,
			`"do_not_fail_on_forbidden":true`, sec},
		{"securityconfig patch", events.SecurityConfigPatch, events.DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/dynamic/hosts_resolver_mode","value":"ip-hostname"}]`)}, 0,
			`"hosts_resolver_mode":"ip-hostname"`, sec},
		{"securityconfig patch invalid", events.SecurityConfigPatch, events.DocPatch{Ops: []byte(`[{"op":"add","path":"/config/dynamic/colour","value":1}]`)}, 400,
			`dynamic.colour`, sec},
		{"securityconfig patch removes config", events.SecurityConfigPatch, events.DocPatch{Ops: []byte(`[{"op":"remove","path":"/config"}]`)}, 400,
			`cannot be removed`, sec},
		{"securityconfig patch missing path", events.SecurityConfigPatch, events.DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/nope/x","value":1}]`)}, 400,
			``, sec},
		{"tenancy default tenant", events.SecurityConfigPatch, events.DocPatch{Tenancy: true, Ops: []byte(`[{"op":"add","path":"/config/dynamic/kibana/default_tenant","value":"admin_tenant"}]`)}, 0,
			`"default_tenant":"admin_tenant"`, sec},
		{"tenancy unknown tenant", events.SecurityConfigPatch, events.DocPatch{Tenancy: true, Ops: []byte(`[{"op":"add","path":"/config/dynamic/kibana/default_tenant","value":"nope"}]`)}, 400,
			`nope can not be set to default tenant`, sec},
		{"tenancy sign in", events.SecurityConfigPatch, events.DocPatch{Tenancy: true, Ops: []byte(`[{"op":"add","path":"/config/dynamic/kibana/sign_in_options","value":["SAML"]}]`)}, 400,
			`SAML authentication provider is not available`, sec},
		{"audit patch", events.AuditPatch, events.DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/enabled","value":false}]`)}, 0,
			`"enabled":false`, aud},
		{"audit put invalid", events.AuditPut, events.DocPut{Doc: []byte(`{"audit":{"x":1}}`)}, 400, `audit.x`, aud},
		{"allowlist put", events.AllowlistPut, events.DocPut{Doc: []byte(`{"enabled":true,"requests":{"/_cat/nodes":["GET"]}}`)}, 0,
			`{"enabled":true,"requests":{"/_cat/nodes":["GET"]}}`, allow},
		{"allowlist patch", events.AllowlistPatch, events.DocPatch{Ops: []byte(`[{"op":"add","path":"/config/requests/~1_cluster~1health","value":["GET"]}]`)}, 0,
			`"/_cluster/health":["GET"]`, allow},
		{"nodesdn put", events.NodesDNPut, events.ResourcePut{Name: "c2", Doc: []byte(`{"nodes_dn":["CN=node*.c2"]}`)}, 0,
			`{"c2":{"nodes_dn":["CN=node*.c2"]}}`, ndn},
		{"nodesdn put static", events.NodesDNPut, events.ResourcePut{Name: authz.StaticNodesDNName, Doc: []byte(`{"nodes_dn":[]}`), Admin: true}, 403,
			`is read-only`, ndn},
		{"nodesdn patch", events.NodesDNPatch, events.ResourcePatch{Ops: []byte(`[{"op":"add","path":"/c3","value":{"nodes_dn":["CN=x"]}}]`)}, 0,
			`"c3":{"nodes_dn":["CN=x"]}`, ndn},
		{"nodesdn delete", events.NodesDNDelete, events.ResourceDelete{Name: "c2"}, 0, `{"c3":{"nodes_dn":["CN=x"]}}`, ndn},
		{"nodesdn delete missing", events.NodesDNDelete, events.ResourceDelete{Name: "c2"}, 404, `nodesdn 'c2' not found.`, ndn},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := m.View()
			res := applyAll(t, m, []*raft.Log{entry(t, uint64(i+2), tc.typ, tc.p)})[0]
			got := 0
			if res.Err != nil {
				got = res.Err.Status
			}
			if got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, res.Err, tc.status)
			}
			if res.Err != nil {
				if !strings.Contains(string(res.Err.Body), tc.want) {
					t.Errorf("error %s does not contain %q", res.Err.Body, tc.want)
				}
				if m.View().Hash() != before.Hash() {
					t.Errorf("a rejected event changed the state")
				}
				return
			}
			if doc := tc.get(m.View().Config); !strings.Contains(string(doc), tc.want) {
				t.Errorf("document %s does not contain %q", doc, tc.want)
			}
		})
	}
	// A patch that changes nothing is reported as such and leaves no record.
	n := m.View().History.Len()
	res := applyAll(t, m, []*raft.Log{entry(t, 100, events.AuditPatch, events.DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/enabled","value":false}]`)})})[0]
	if !res.Unchanged || m.View().History.Len() != n {
		t.Errorf("no-op patch: %+v, history %d → %d", res, n, m.View().History.Len())
	}
}

func sec(c *authz.Config) json.RawMessage   { return c.SecurityConfig }
func aud(c *authz.Config) json.RawMessage   { return c.Audit }
func allow(c *authz.Config) json.RawMessage { return c.Allowlist }
func ndn(c *authz.Config) json.RawMessage   { return c.NodesDN }

// TestHistory: every applied change is recorded with who, when and what;
// rejected events are not; the history is bounded, pages newest first, and
// survives a snapshot.
func TestHistory(t *testing.T) {
	m := newMachine(t)
	logs := []*raft.Log{bootstrapEntry(t, 1)}
	total := HistoryLimit + 2*historyChunk + 5
	for i := 2; i <= total; i++ {
		logs = append(logs, put(t, uint64(i), authz.KindTenants, fmt.Sprintf("t%d", i%7), fmt.Sprintf(`{"description":"%d"}`, i)))
	}
	logs = append(logs, entry(t, uint64(total+1), events.RoleDelete, events.ResourceDelete{Name: "all_access"})) // rejected
	applyAll(t, m, logs)
	h := m.View().History
	if h.Len() < HistoryLimit || h.Len() >= HistoryLimit+historyChunk {
		t.Fatalf("history holds %d records", h.Len())
	}
	page, more := h.Page(0, 3)
	if len(page) != 3 || !more || page[0].Rev != uint64(total) || page[1].Rev != uint64(total-1) {
		t.Fatalf("first page = %+v", page)
	}
	r := page[0]
	if r.Actor != "tester" || r.At != int64(total)*1000 || r.Type != "tenant.put" || r.RequestID != fmt.Sprint(total) ||
		r.Changed != 1 || len(r.Resources) != 1 || r.Resources[0] != (ResourceChange{"tenants", fmt.Sprintf("t%d", total%7), "changed"}) {
		t.Errorf("record = %+v", r)
	}
	older, _ := h.Page(page[2].Rev, 2)
	if len(older) != 2 || older[0].Rev != page[2].Rev-1 {
		t.Errorf("older page = %+v", older)
	}
	b := newMachine(t)
	if err := b.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, m)))); err != nil {
		t.Fatal(err)
	}
	if got := b.View().History.Records(); len(got) != h.Len() || got[len(got)-1].Rev != uint64(total) {
		t.Errorf("restored history has %d records", len(got))
	}
	if !bytes.Equal(snapshotBytes(t, m), snapshotBytes(t, b)) {
		t.Error("snapshot of the restored machine differs")
	}
}

// TestReplaceRecordsTheDiff: a config.replace records what it changed, not
// every resource, and keeps the change records of untouched resources.
func TestReplaceRecordsTheDiff(t *testing.T) {
	m := newMachine(t)
	applyAll(t, m, []*raft.Log{bootstrapEntry(t, 1), put(t, 2, authz.KindTenants, "keep", `{"description":"k"}`)})
	docs := ReplaceDocs(m.View().Config)
	docs["tenants"] = []byte(`{"keep":{"description":"k"},"new":{"description":"n"}}`)
	docs["roles"] = []byte(`{}`)
	res := applyAll(t, m, []*raft.Log{entry(t, 3, events.ConfigReplace, events.Replace{Docs: docs})})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	recs, _ := m.View().History.Page(0, 1)
	r := recs[0]
	if r.Rev != 3 || r.Added != 1 || r.Changed != 0 || r.Removed == 0 {
		t.Errorf("record = %+v", r)
	}
	if ch, _ := m.View().Change(authz.KindTenants, "keep"); ch.Rev != 2 {
		t.Errorf("untouched tenant's change record = %+v", ch)
	}
	// The same documents again change nothing.
	res = applyAll(t, m, []*raft.Log{entry(t, 4, events.ConfigReplace, events.Replace{Docs: docs})})[0]
	if !res.Unchanged {
		t.Errorf("second replace: %+v", res)
	}
}
