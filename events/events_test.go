package events

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenEvents pins one event of every payload shape; a change of the wire format
// shows up as a diff of testdata/golden.hex.
var goldenEvents = []struct {
	name    string
	typ     Type
	payload any
}{
	{"put", RolePut, ResourcePut{Name: "r1", Doc: []byte(`{"cluster_permissions":["cluster_monitor"]}`), Admin: true}},
	{"delete", InternalUserDelete, ResourceDelete{Name: "kirk"}},
	{"patch", RolesMappingPatch, ResourcePatch{Ops: []byte(`[{"op":"remove","path":"/r1"}]`)}},
	{"password", AccountPassword, PasswordChange{Name: "kirk", Hash: "$2y$12$x"}},
	{"nodesdn put", NodesDNPut, ResourcePut{Name: "cluster2", Doc: []byte(`{"nodes_dn":["CN=node*.example.com"]}`)}},
	{"nodesdn delete", NodesDNDelete, ResourceDelete{Name: "cluster2", Admin: true}},
	{"nodesdn patch", NodesDNPatch, ResourcePatch{Ops: []byte(`[{"op":"add","path":"/c3","value":{"nodes_dn":["CN=x"]}}]`), Admin: true}},
	{"securityconfig put", SecurityConfigPut, DocPut{Doc: []byte(`{"dynamic":{"do_not_fail_on_forbidden":true}}`)}},
	{"securityconfig patch", SecurityConfigPatch, DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/dynamic/kibana/default_tenant","value":"hr"}]`), Tenancy: true}},
	{"audit put", AuditPut, DocPut{Doc: []byte(`{"enabled":false}`), Admin: true}},
	{"audit patch", AuditPatch, DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/enabled","value":true}]`)}},
	{"allowlist put", AllowlistPut, DocPut{Doc: []byte(`{"enabled":true,"requests":{"/_cat/nodes":["GET"]}}`)}},
	{"allowlist patch", AllowlistPatch, DocPatch{Ops: []byte(`[{"op":"replace","path":"/config/enabled","value":false}]`), Admin: true}},
	{"member put", MemberPut, Member{ID: "n4", RaftAddr: "10.0.0.4:9300", HTTPAddr: "10.0.0.4:9200", NATSRoute: "10.0.0.4:6222"}},
	{"member delete", MemberDelete, MemberRemove{ID: "n4"}},
	{"replace", ConfigReplace, Replace{Docs: Docs{"tenants": []byte(`{}`), "roles": []byte(`{}`), "config": []byte(`{}`), "audit": []byte(`{}`)}}},
}

func TestGolden(t *testing.T) {
	meta := Meta{Actor: "admin", At: 1767225600000, RequestID: "req-1"}
	var got []byte
	for _, g := range goldenEvents {
		b, err := Encode(g.typ, meta, g.payload)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		got = append(got, []byte(g.name+" "+hex.EncodeToString(b)+"\n")...)
	}
	path := filepath.Join("testdata", "golden.hex")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("envelope encoding changed (-golden +now):\n%s", d)
	}
}

func TestRoundTrip(t *testing.T) {
	meta := Meta{Actor: "admin", At: 42, RequestID: "r"}
	in := ResourcePatch{Name: "x", Ops: []byte(`[]`), Admin: true}
	rep := Replace{Docs: Docs{"b": []byte("2"), "a": []byte("1")}, Bootstrap: true}
	rb, err := Encode(ConfigReplace, meta, rep)
	if err != nil {
		t.Fatal(err)
	}
	renv, err := Decode(rb)
	if err != nil {
		t.Fatal(err)
	}
	var rout Replace
	if err := renv.DecodePayload(&rout); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(rep, rout); d != "" {
		t.Fatalf("replace payload (-in +out):\n%s", d)
	}
	b, err := Encode(RolesPatch, meta, in)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Type != RolesPatch || env.Actor != "admin" || env.At != 42 || env.RequestID != "r" || env.V != Version {
		t.Fatalf("envelope = %+v", env)
	}
	var out ResourcePatch
	if err := env.DecodePayload(&out); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, out); d != "" {
		t.Fatalf("payload (-in +out):\n%s", d)
	}
}

func TestDecodeRejects(t *testing.T) {
	unknownVersion, _ := marshal(Envelope{V: 99, Type: RolePut})
	unknownType, _ := marshal(Envelope{V: Version, Type: "role.rename"})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"unknown version", unknownVersion, ErrUnknownVersion},
		{"unknown type", unknownType, ErrUnknownType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
	for _, in := range [][]byte{nil, {0xc1}, []byte("not msgpack")} {
		if _, err := Decode(in); err == nil {
			t.Errorf("Decode(%q) accepted garbage", in)
		}
	}
	if _, err := Encode("bogus", Meta{}, nil); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Encode(bogus) = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range goldenEvents {
		b, _ := Encode(g.typ, Meta{Actor: "a"}, g.payload)
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Decode(b)
		if err != nil {
			return
		}
		// Any payload type must decode without panicking.
		var p ResourcePut
		_ = env.DecodePayload(&p)
		var r Replace
		_ = env.DecodePayload(&r)
		var dp DocPut
		_ = env.DecodePayload(&dp)
		var dpa DocPatch
		_ = env.DecodePayload(&dpa)
	})
}
