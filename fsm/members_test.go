package fsm

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

func TestMemberDirectory(t *testing.T) {
	n4 := events.Member{ID: "n4", RaftAddr: "h4:9300", HTTPAddr: "h4:9200", NATSRoute: "h4:6222"}
	n5 := events.Member{ID: "n5", RaftAddr: "h5:9300", HTTPAddr: "h5:9200"}
	moved := events.Member{ID: "n4", RaftAddr: "h6:9300", HTTPAddr: "h6:9200"}
	steps := []struct {
		name      string
		log       *raft.Log
		want      []events.Member
		rejected  bool
		unchanged bool
	}{
		{"put n5", entry(t, 2, events.MemberPut, n5), []events.Member{n5}, false, false},
		{"put n4 sorts first", entry(t, 3, events.MemberPut, n4), []events.Member{n4, n5}, false, false},
		{"same put is a no-op", entry(t, 4, events.MemberPut, n4), []events.Member{n4, n5}, false, true},
		{"put replaces", entry(t, 5, events.MemberPut, moved), []events.Member{moved, n5}, false, false},
		{"missing address is rejected", entry(t, 6, events.MemberPut, events.Member{ID: "n7", RaftAddr: "x:1"}), []events.Member{moved, n5}, true, false},
		{"delete", entry(t, 7, events.MemberDelete, events.MemberRemove{ID: "n4"}), []events.Member{n5}, false, false},
		{"delete unknown is a no-op", entry(t, 8, events.MemberDelete, events.MemberRemove{ID: "n9"}), []events.Member{n5}, false, true},
	}
	m := newMachine(t)
	applyAll(t, m, []*raft.Log{bootstrapEntry(t, 1)})
	hash := m.View().Hash()
	for _, s := range steps {
		before := m.View()
		res := applyAll(t, m, []*raft.Log{s.log})[0]
		v := m.View()
		if (res.Err != nil) != s.rejected || res.Unchanged != s.unchanged || res.Rev != s.log.Index || v.Rev != s.log.Index {
			t.Fatalf("%s: result %+v, rev %d", s.name, res, v.Rev)
		}
		if d := cmp.Diff(s.want, v.Members); d != "" {
			t.Fatalf("%s: directory (-want +got):\n%s", s.name, d)
		}
		if v.Config != before.Config || v.History.Len() != before.History.Len() || len(res.Keys) != 0 {
			t.Fatalf("%s: a member event changed the configuration, history or keys", s.name)
		}
		if v.Hash() != hash {
			t.Fatalf("%s: the member directory changed the state hash", s.name)
		}
	}
	if got, ok := m.View().Member("n5"); !ok || got != n5 {
		t.Fatalf("Member(n5) = %+v, %v", got, ok)
	}
	if _, ok := m.View().Member("n4"); ok {
		t.Fatal("Member(n4) after delete")
	}
	// A resource write keeps the directory.
	applyAll(t, m, []*raft.Log{put(t, 9, authz.KindTenants, "hr", `{"description":"HR"}`)})
	if len(m.View().Members) != 1 {
		t.Fatalf("directory after a resource write: %+v", m.View().Members)
	}
	// Snapshots carry it.
	b := newMachine(t)
	if err := b.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, m)))); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m.View().Members, b.View().Members); d != "" || b.View().Hash() != m.View().Hash() {
		t.Fatalf("restore lost the directory (-want +got):\n%s", d)
	}
}

// TestBackupLeavesTheDirectory: a backup does not carry the member directory
// (it belongs to the cluster that wrote it), and restoring one keeps the
// directory the restoring cluster passes in.
func TestBackupLeavesTheDirectory(t *testing.T) {
	a := newMachine(t)
	applyAll(t, a, []*raft.Log{bootstrapEntry(t, 1), entry(t, 2, events.MemberPut, events.Member{ID: "n4", RaftAddr: "a4:9300", HTTPAddr: "a4:9200"})})
	b := readBack(t, a.View())
	if len(b.view.Members) != 0 {
		t.Fatalf("backup carries the directory: %+v", b.view.Members)
	}
	here := []events.Member{{ID: "n7", RaftAddr: "b7:9300", HTTPAddr: "b7:9200"}}
	snap, err := b.Snapshot(100, here)
	if err != nil {
		t.Fatal(err)
	}
	m := newMachine(t)
	if err := m.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(here, m.View().Members); d != "" || m.View().Hash() != a.View().Hash() {
		t.Fatalf("restored directory (-want +got):\n%s", d)
	}
}
