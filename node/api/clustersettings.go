package api

import (
	"net/http"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// Cluster actions of GET and PUT /_cluster/settings, as OpenSearch names them.
const (
	actionSettingsGet    = "cluster:monitor/state"
	actionSettingsUpdate = "cluster:admin/settings/update"
)

// getClusterSettings serves GET /_cluster/settings (flat_settings=true for
// dotted keys).
func (a *API) getClusterSettings(w http.ResponseWriter, r *request) error {
	if ok, _, reason := authz.Permitted(r.view.Eval, r.requester(), actionSettingsGet); !ok {
		return authz.OpenSearchError(http.StatusForbidden, "security_exception", reason)
	}
	cs := r.view.Config.ClusterSettings
	setRevision(w, r.view.Rev)
	writeJSON(w, http.StatusOK, map[string]any{
		"persistent": renderSettings(cs.Persistent, r.URL.Query().Get("flat_settings") == "true"),
		"transient":  renderSettings(cs.Transient, r.URL.Query().Get("flat_settings") == "true"),
	})
	return nil
}

func renderSettings(m map[string]string, flat bool) any {
	if flat {
		if m == nil {
			return map[string]string{}
		}
		return m
	}
	return authz.Nested(m)
}

// putClusterSettings serves PUT /_cluster/settings through Raft (settings.put).
func (a *API) putClusterSettings(w http.ResponseWriter, r *request) error {
	if ok, _, reason := authz.Permitted(r.view.Eval, r.requester(), actionSettingsUpdate); !ok {
		return authz.OpenSearchError(http.StatusForbidden, "security_exception", reason)
	}
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	u, e := authz.ParseSettingsUpdate(raw)
	if e != nil {
		return e
	}
	p := events.SettingsUpdate{Persistent: toEventChanges(u.Persistent), Transient: toEventChanges(u.Transient)}
	res, err := a.propose(r, events.SettingsPut, p)
	if err != nil {
		return err
	}
	setRevision(w, res.Rev)
	flat := r.URL.Query().Get("flat_settings") == "true"
	writeJSON(w, http.StatusOK, map[string]any{
		"acknowledged": true,
		"persistent":   renderSettings(changed(u.Persistent), flat),
		"transient":    renderSettings(changed(u.Transient), flat),
	})
	return nil
}

func toEventChanges(l []authz.SettingChange) []events.SettingChange {
	out := make([]events.SettingChange, len(l))
	for i, c := range l {
		out[i] = events.SettingChange(c)
	}
	return out
}

// changed is the set part of an update as OpenSearch echoes it.
func changed(l []authz.SettingChange) map[string]string {
	m := map[string]string{}
	for _, c := range l {
		if !c.Remove {
			m[c.Key] = c.Value
		}
	}
	return m
}
