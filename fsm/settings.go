package fsm

import (
	"net/http"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// applySettings applies settings.put: the next configuration carries the
// changed cluster settings; touched are "settings/<key>".
func applySettings(prev *authz.Config, env events.Envelope) (*authz.Config, []string, *authz.Error) {
	var p events.SettingsUpdate
	if err := env.DecodePayload(&p); err != nil {
		return nil, nil, authz.StatusMessage(http.StatusBadRequest, err.Error())
	}
	u := authz.SettingsUpdate{Persistent: convertChanges(p.Persistent), Transient: convertChanges(p.Transient)}
	cs, e := prev.ClusterSettings.Apply(u)
	if e != nil {
		return nil, nil, e
	}
	next := *prev // the settings are a field of their own; no map is changed
	next.ClusterSettings = cs
	var touched []string
	for _, l := range [][]events.SettingChange{p.Persistent, p.Transient} {
		for _, c := range l {
			touched = append(touched, "settings/"+c.Key)
		}
	}
	return &next, touched, nil
}

func convertChanges(l []events.SettingChange) []authz.SettingChange {
	out := make([]authz.SettingChange, len(l))
	for i, c := range l {
		out[i] = authz.SettingChange(c)
	}
	return out
}
