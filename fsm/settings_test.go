package fsm

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

func settingsLog(t *testing.T) []*raft.Log {
	ad := authz.SettingADFilterByBackendRoles
	return []*raft.Log{
		bootstrapEntry(t, 1),
		entry(t, 2, events.SettingsPut, events.SettingsUpdate{Transient: []events.SettingChange{{Key: ad, Value: "true"}}}),
		entry(t, 3, events.SettingsPut, events.SettingsUpdate{Persistent: []events.SettingChange{
			{Key: authz.SettingAlertingFilterByBackendRoles, Value: "true"}, {Key: ad, Value: "false"}}}),
		entry(t, 4, events.SettingsPut, events.SettingsUpdate{Persistent: []events.SettingChange{{Key: "cluster.blocks.read_only", Value: "true"}}}),
		entry(t, 5, events.SettingsPut, events.SettingsUpdate{Persistent: []events.SettingChange{{Key: authz.SettingAlertingFilterByBackendRoles, Remove: true}}}),
	}
}

func TestSettingsPut(t *testing.T) {
	m := newMachine(t)
	log := settingsLog(t) // once: the bootstrap's bcrypt salt is random
	res := applyAll(t, m, log[:1])
	before := m.View().Hash()
	res = append(res, applyAll(t, m, log[1:])...)
	if res[1].Err != nil || !slices.Equal(res[1].Keys, []string{"settings/" + authz.SettingADFilterByBackendRoles}) {
		t.Fatalf("transient put = %+v", res[1])
	}
	if res[3].Err == nil || res[3].Err.Status != http.StatusBadRequest {
		t.Fatalf("unknown setting accepted: %+v", res[3])
	}
	cs := m.View().Config.ClusterSettings
	// Transient wins over persistent.
	if !cs.Bool(authz.SettingADFilterByBackendRoles) || cs.Bool(authz.SettingAlertingFilterByBackendRoles) {
		t.Fatalf("settings = %+v", cs)
	}
	if m.View().Hash() == before {
		t.Fatal("settings are not in the state hash")
	}
	// Replay on a fresh machine and a snapshot round trip keep the hash.
	other := newMachine(t)
	applyAll(t, other, log)
	if other.View().Hash() != m.View().Hash() {
		t.Fatal("replay gives another hash")
	}
	snap := snapshotBytes(t, m)
	restored := newMachine(t)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if restored.View().Hash() != m.View().Hash() || !restored.View().Config.ClusterSettings.Bool(authz.SettingADFilterByBackendRoles) {
		t.Fatal("snapshot lost the cluster settings")
	}
	// A config.replace keeps the settings.
	applyAll(t, m, []*raft.Log{entry(t, 6, events.ConfigReplace, events.Replace{Docs: events.Docs{"tenants": []byte(`{}`)}})})
	if !m.View().Config.ClusterSettings.Bool(authz.SettingADFilterByBackendRoles) {
		t.Fatal("config.replace dropped the cluster settings")
	}
}
