package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

func newMachine(t testing.TB) *Machine {
	t.Helper()
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// entry encodes one event as a raft log entry at index.
func entry(t testing.TB, index uint64, typ events.Type, payload any) *raft.Log {
	t.Helper()
	b, err := events.Encode(typ, events.Meta{Actor: "tester", At: int64(index) * 1000, RequestID: fmt.Sprint(index)}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: b}
}

func bootstrapEntry(t testing.TB, index uint64) *raft.Log {
	hash, err := authz.HashPassword("Bootstrap-Passw0rd!", 4)
	if err != nil {
		t.Fatal(err)
	}
	return entry(t, index, events.ConfigReplace, events.Replace{Docs: ReplaceDocs(authz.Bootstrap(hash)), Bootstrap: true})
}

func put(t testing.TB, index uint64, kind authz.Kind, name, doc string) *raft.Log {
	return entry(t, index, EventType(kind, "put"), events.ResourcePut{Name: name, Doc: []byte(doc)})
}

func applyAll(t testing.TB, m *Machine, logs []*raft.Log) []Result {
	t.Helper()
	var out []Result
	for _, l := range logs {
		res, _ := m.Apply(l).(Result)
		out = append(out, res)
	}
	return out
}

// sampleLog is a sequence of accepted and rejected events.
func sampleLog(t testing.TB) []*raft.Log {
	return []*raft.Log{
		bootstrapEntry(t, 1),
		put(t, 2, authz.KindRoles, "reader", `{"cluster_permissions":["cluster_monitor"],"index_permissions":[{"index_patterns":["logs-*"],"allowed_actions":["read"]}]}`),
		put(t, 3, authz.KindRolesMapping, "reader", `{"backend_roles":["readers"]}`),
		put(t, 4, authz.KindRolesMapping, "ghost", `{"users":["x"]}`), // rejected: no such role
		put(t, 5, authz.KindTenants, "hr", `{"description":"HR"}`),
		entry(t, 6, events.TenantsPatch, events.ResourcePatch{Ops: []byte(`[{"op":"add","path":"/ops","value":{"description":"Ops"}},{"op":"remove","path":"/hr"}]`)}),
		entry(t, 7, events.RoleDelete, events.ResourceDelete{Name: "all_access"}), // rejected: static
		entry(t, 8, events.RolesPatch, events.ResourcePatch{Name: "reader", Ops: []byte(`[{"op":"add","path":"/cluster_permissions/-","value":"cluster_composite_ops_ro"}]`)}),
	}
}

func TestApplySequence(t *testing.T) {
	m := newMachine(t)
	res := applyAll(t, m, sampleLog(t))
	wantStatus := []int{0, 0, 0, http.StatusNotFound, 0, 0, http.StatusForbidden, 0}
	for i, r := range res {
		got := 0
		if r.Err != nil {
			got = r.Err.Status
		}
		if got != wantStatus[i] {
			t.Errorf("entry %d: status %d (%v), want %d", i+1, got, r.Err, wantStatus[i])
		}
		if r.Rev != uint64(i+1) {
			t.Errorf("entry %d: rev %d", i+1, r.Rev)
		}
	}
	v := m.View()
	if v.Rev != 8 || !v.Initialized {
		t.Fatalf("view rev %d initialized %v", v.Rev, v.Initialized)
	}
	if _, ok := v.Config.Tenants["hr"]; ok {
		t.Error("tenant hr survived the patch")
	}
	if got := v.Config.Roles["reader"].ClusterPermissions; len(got) != 2 {
		t.Errorf("reader cluster permissions = %v", got)
	}
	if ch, ok := v.Change(authz.KindRoles, "reader"); !ok || ch.Rev != 8 || ch.Actor != "tester" {
		t.Errorf("change record = %+v %v", ch, ok)
	}
	// A second bootstrap is a no-op.
	r := applyAll(t, m, []*raft.Log{bootstrapEntry(t, 9)})[0]
	if !r.Unchanged || m.View().Config.Roles["reader"].ClusterPermissions == nil {
		t.Errorf("second bootstrap changed the state: %+v", r)
	}
}

func TestReplayGivesEqualHash(t *testing.T) {
	a, b := newMachine(t), newMachine(t)
	logs := sampleLog(t)
	applyAll(t, a, logs)
	applyAll(t, b, logs)
	if a.View().Hash() != b.View().Hash() {
		t.Fatal("two machines replaying the same log differ")
	}
}

// applyBatches applies logs through ApplyBatch, cut into batches of the given sizes
// (cycled), as raft does when the FSM batches.
func applyBatches(t testing.TB, m *Machine, logs []*raft.Log, sizes ...int) []Result {
	t.Helper()
	var out []Result
	for i, k := 0, 0; i < len(logs); k++ {
		n := min(sizes[k%len(sizes)], len(logs)-i)
		for _, r := range m.ApplyBatch(logs[i : i+n]) {
			res, _ := r.(Result)
			out = append(out, res)
		}
		i += n
	}
	return out
}

// TestApplyBatchMatchesSingle: whatever the batch boundaries, every entry gets
// the result it gets alone and the machines end in the same state, including
// when the compiler refuses an entry in the middle of a batch.
func TestApplyBatchMatchesSingle(t *testing.T) {
	logs := sampleLog(t)
	badConfig := entry(t, 9, events.ConfigReplace, events.Replace{Docs: events.Docs{"config": []byte(`{"dynamic":{"do_not_fail_on_forbidden":"yes"}}`)}})
	logs = append(logs, badConfig, put(t, 10, authz.KindTenants, "after", `{"description":"x"}`),
		&raft.Log{Index: 11, Type: raft.LogNoop})
	single := newMachine(t)
	want := applyAll(t, single, logs)
	if want[8].Err == nil {
		t.Fatalf("the invalid security config was accepted: %+v", want[8])
	}
	for _, sizes := range [][]int{{1}, {2}, {3, 1}, {64}, {5, 2, 7}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			m := newMachine(t)
			got := applyBatches(t, m, logs, sizes...)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("results (-single +batched):\n%s", d)
			}
			if m.View().Hash() != single.View().Hash() || m.View().Rev != single.View().Rev {
				t.Errorf("batched machine at rev %d differs from the single one at rev %d", m.View().Rev, single.View().Rev)
			}
		})
	}
}

func snapshotBytes(t testing.TB, m *Machine) []byte {
	t.Helper()
	s, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	a := newMachine(t)
	applyAll(t, a, sampleLog(t))
	snap := snapshotBytes(t, a)
	b := newMachine(t)
	if err := b.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if a.View().Hash() != b.View().Hash() || a.View().Rev != b.View().Rev || !b.View().Initialized {
		t.Fatal("restore changed the state")
	}
	if !bytes.Equal(snap, snapshotBytes(t, b)) {
		t.Fatal("snapshot of a restored machine differs from the original snapshot")
	}
	// Applying further entries to both keeps them equal.
	next := put(t, 9, authz.KindTenants, "later", `{"description":"x"}`)
	applyAll(t, a, []*raft.Log{next})
	applyAll(t, b, []*raft.Log{next})
	if a.View().Hash() != b.View().Hash() {
		t.Fatal("machines diverged after restore")
	}
}

func TestUndecodableEntryStopsTheNode(t *testing.T) {
	m := newMachine(t)
	defer func() {
		if recover() == nil {
			t.Fatal("Apply accepted an undecodable entry")
		}
	}()
	m.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte("garbage")})
}

// FuzzApplySequences drives random event sequences through two machines, one of
// which is snapshotted and restored midway; they must end with equal hashes.
func FuzzApplySequences(f *testing.F) {
	f.Add(uint64(1), uint8(20))
	f.Add(uint64(42), uint8(60))
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		logs := []*raft.Log{bootstrapEntry(t, 1)}
		names := []string{"a", "b", "c", "all_access", "kibana_user"}
		for i := uint64(2); i < uint64(n)+2; i++ {
			name := names[rng.IntN(len(names))]
			switch rng.IntN(10) {
			case 0:
				logs = append(logs, put(t, i, authz.KindRoles, name, `{"cluster_permissions":["cluster_monitor"]}`))
			case 1:
				logs = append(logs, put(t, i, authz.KindRolesMapping, name, `{"users":["u`+name+`"]}`))
			case 2:
				logs = append(logs, put(t, i, authz.KindTenants, name, `{"description":"`+name+`"}`))
			case 3:
				logs = append(logs, entry(t, i, EventType(authz.KindRoles, "delete"), events.ResourceDelete{Name: name}))
			case 4:
				ops, _ := json.Marshal([]map[string]any{{"op": "add", "path": "/" + name, "value": map[string]any{"description": name}}})
				logs = append(logs, entry(t, i, events.TenantsPatch, events.ResourcePatch{Ops: ops}))
			case 5:
				ops, _ := json.Marshal([]map[string]any{{"op": "remove", "path": "/" + name}})
				logs = append(logs, entry(t, i, events.RolesMappingPatch, events.ResourcePatch{Ops: ops}))
			case 6:
				ops, _ := json.Marshal([]map[string]any{{"op": "add", "path": "/config/dynamic/kibana/default_tenant", "value": name}})
				logs = append(logs, entry(t, i, events.SecurityConfigPatch, events.DocPatch{Ops: ops, Tenancy: rng.IntN(2) == 0}))
			case 7:
				logs = append(logs, entry(t, i, events.NodesDNPut, events.ResourcePut{Name: name, Doc: []byte(`{"nodes_dn":["CN=` + name + `"]}`)}))
			case 8:
				port := fmt.Sprint(9000 + rng.IntN(3))
				logs = append(logs, entry(t, i, events.MemberPut, events.Member{ID: name, RaftAddr: name + ":" + port, HTTPAddr: name + ":9200"}))
			case 9:
				logs = append(logs, entry(t, i, events.MemberDelete, events.MemberRemove{ID: name}))
			}
		}
		a, b := newMachine(t), newMachine(t)
		applyAll(t, a, logs)
		half := len(logs) / 2
		applyAll(t, b, logs[:half])
		restored := newMachine(t)
		if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, b)))); err != nil {
			t.Fatal(err)
		}
		applyAll(t, restored, logs[half:])
		if a.View().Hash() != restored.View().Hash() {
			t.Fatalf("hash differs after restore at entry %d", half)
		}
		batched := newMachine(t)
		applyBatches(t, batched, logs, 1+int(seed%7), 3)
		if a.View().Hash() != batched.View().Hash() {
			t.Fatalf("hash differs when applied in batches")
		}
		for _, m := range []*Machine{restored, batched} {
			if d := cmp.Diff(a.View().Members, m.View().Members); d != "" {
				t.Fatalf("member directory differs (-single +other):\n%s", d)
			}
		}
		for _, m := range []*Machine{a, restored, batched} {
			assertFreshEvaluator(t, m, names)
		}
	})
}

// assertFreshEvaluator checks that the machine's evaluator, built entry by
// entry with authz.Update, decides like one compiled from scratch from the
// machine's configuration.
func assertFreshEvaluator(t *testing.T, m *Machine, names []string) {
	t.Helper()
	v := m.View()
	fresh, err := authz.Compile(v.Config, authz.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		for _, action := range []string{"cluster:monitor/health", "indices:data/read/search"} {
			req := authz.Request{Subject: authz.Subject{Name: "u" + n}, Action: action, Indices: []string{"logs-1"}}
			if action == "cluster:monitor/health" {
				req.Indices = nil
			}
			got, want := v.Eval.Evaluate(&req), fresh.Evaluate(&req)
			if got.Allowed != want.Allowed || !slices.Equal(got.Roles, want.Roles) {
				t.Fatalf("%s %s: incremental evaluator says %v %v, a fresh compile %v %v", req.Subject.Name, action, got.Allowed, got.Roles, want.Allowed, want.Roles)
			}
		}
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }
