package authz

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNormalizeAudit(t *testing.T) {
	doc, e := NormalizeAudit(demoConfig(t).Audit)
	if e != nil {
		t.Fatal(e)
	}
	again, _ := NormalizeAudit(doc)
	if string(again) != string(doc) {
		t.Fatalf("not stable:\n%s\n%s", doc, again)
	}
	for _, want := range []string{`"ignore_headers":[]`, `"ignore_url_params":[]`, `"internal_config":true`, `"read_watched_fields":{}`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("normalized audit lacks %s", want)
		}
	}
	def, _ := NormalizeAudit(json.RawMessage(`{"audit":{"disabled_rest_categories":["failed_login","FAILED_LOGIN"]}}`))
	for _, want := range []string{`"enabled":true`, `"disabled_rest_categories":["FAILED_LOGIN"]`, `"ignore_users":["kibanaserver"]`, `"write_ignore_users":["kibanaserver"]`} {
		if !strings.Contains(string(def), want) {
			t.Errorf("defaults lack %s: %s", want, def)
		}
	}
	if _, e := NormalizeAudit(json.RawMessage(`{"audit":{"disabled_rest_categories":["NOPE"],"colour":1}}`)); e == nil ||
		!strings.Contains(string(e.Body), "audit.colour") {
		t.Errorf("problems not reported: %v", e)
	}
}

func TestParseAuditBody(t *testing.T) {
	unparsable := `{"status":"error","reason":"Could not parse content of request."}`
	tests := []struct {
		name, body, want string
	}{
		{"unknown top key", `{"enabled":true,"x":1}`, `{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"x"}}`},
		{"audit not object", `{"audit":true}`, `{"status":"error","reason":"Wrong datatype","audit":"Object expected"}`},
		{"unknown nested key", `{"audit":{"enable_rests":true}}`, unparsable},
		{"wrong nested type", `{"compliance":{"enabled":"yes"}}`, unparsable},
		{"category not for REST", `{"audit":{"disabled_rest_categories":["INDEX_EVENT"]}}`, unparsable},
		{"unknown category", `{"audit":{"disabled_transport_categories":["NOPE"]}}`, unparsable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := ParseAuditBody([]byte(tc.body))
			if e == nil || string(e.Body) != tc.want {
				t.Errorf("got %v\nwant %s", e, tc.want)
			}
		})
	}
	if _, e := ParseAuditBody([]byte(`{"audit":{"disabled_transport_categories":["index_event"]}}`)); e != nil {
		t.Errorf("valid body refused: %s", e)
	}
}

func TestCheckAuditReadonly(t *testing.T) {
	a := json.RawMessage(`{"enabled":true,"audit":{"enable_rest":true}}`)
	b := json.RawMessage(`{"enabled":true,"audit":{"enable_rest":false}}`)
	ro := []string{"/audit/enable_rest"}
	if e := CheckAuditReadonly(a, b, ro, false); e == nil || e.Status != 409 ||
		string(e.Body) != `{"status":"CONFLICT","message":"Attempted to update read-only property."}` {
		t.Errorf("read-only change: %v", e)
	}
	if e := CheckAuditReadonly(a, b, ro, true); e != nil {
		t.Errorf("super admin refused: %v", e)
	}
	if e := CheckAuditReadonly(a, b, []string{"/enabled"}, false); e != nil {
		t.Errorf("unchanged path refused: %v", e)
	}
}

func TestAllowlist(t *testing.T) {
	doc, e := ParseAllowlistBody([]byte(`{"enabled":true,"requests":{"/_cat/nodes":["GET","PUT"]}}`))
	if e != nil || string(doc) != `{"enabled":true,"requests":{"/_cat/nodes":["GET","PUT"]}}` {
		t.Fatalf("%s %v", doc, e)
	}
	if _, e := ParseAllowlistBody([]byte(`{"requests":{"/x":["FETCH"]}}`)); e == nil || !strings.Contains(string(e.Body), `"requests./x":"One of GET`) {
		t.Errorf("method check: %v", e)
	}
	if _, e := ParseAllowlistBody([]byte(`{"requests":[]}`)); e == nil || !strings.Contains(string(e.Body), `"requests":"Object expected"`) {
		t.Errorf("type check: %v", e)
	}
	def, _ := NormalizeAllowlist(nil)
	if string(def) != `{"enabled":false,"requests":{}}` {
		t.Errorf("default = %s", def)
	}
}

func TestParseBodyNodesDN(t *testing.T) {
	if _, e := ParseBody(KindNodesDN, "c2", []byte(`{"nodes_dn":"x"}`), ParseOptions{}); e == nil ||
		string(e.Body) != `{"status":"error","reason":"Wrong datatype","nodes_dn":"Array expected"}` {
		t.Errorf("type: %v", e)
	}
	if _, e := ParseBody(KindNodesDN, "c2", []byte(`{"dn":[]}`), ParseOptions{}); e == nil ||
		string(e.Body) != `{"status":"error","reason":"Invalid configuration","invalid_keys":{"keys":"dn"},"missing_mandatory_keys":{"keys":"nodes_dn"}}` {
		t.Errorf("keys: %v", e)
	}
	c := NewConfig()
	if e := c.CheckPut(KindNodesDN, StaticNodesDNName, NodesDN{}, true); e == nil ||
		string(e.Body) != `{"status":"FORBIDDEN","message":"Resource 'STATIC_OPENSEARCH_YML_NODES_DN' is read-only."}` {
		t.Errorf("static entry: %v", e)
	}
	c.NodesDN = EncodeNodesDN(map[string]NodesDN{"c2": {NodesDN: []string{"CN=a"}}})
	if e := c.CheckDelete(KindNodesDN, "c3", true); e == nil || string(e.Body) != `{"status":"NOT_FOUND","message":"nodesdn 'c3' not found."}` {
		t.Errorf("missing: %v", e)
	}
}
