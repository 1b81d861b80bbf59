package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// Backup and restore of the replicated state (docs/api.md):
//
//	GET  /_plugins/_authz/snapshot            the state as a backup file (any node; min_revision)
//	POST /_plugins/_authz/snapshot[?force=true] replace the state with a backup file (via the leader)
//
// Both need admin rights for every configuration type (configAdmin), like
// GET and PUT /_plugins/_authz/config.

// BackupRestorer is implemented by a Backend that can replace its replicated
// state with a backup file.
type BackupRestorer interface {
	// CheckBackup decodes and checks a backup file fully (fsm.ReadBackup);
	// an error wrapping fsm.ErrBadBackup means it cannot be restored.
	CheckBackup(raw []byte) (*fsm.Backup, error)
	// RestoreBackup restores b, forwarding raw to the leader when this node
	// is a follower, and returns the revision the state was restored at.
	RestoreBackup(ctx context.Context, b *fsm.Backup, raw []byte) (uint64, error)
	// RestoreLocal restores b on this node, which must be the leader
	// (ErrNotLeader otherwise); it serves restores forwarded by followers.
	RestoreLocal(ctx context.Context, b *fsm.Backup) (uint64, error)
}

// restoreAnswer is the answer of POST /_plugins/_authz/snapshot.
type restoreAnswer struct {
	// Revision is the revision the state was restored at: above the
	// backup's and above every revision this cluster had served.
	Revision uint64 `json:"revision"`
	// BackupRevision is the revision the backup was taken at.
	BackupRevision uint64 `json:"backup_revision"`
	// StateHash is the restored state's hash, equal to the backed-up one.
	StateHash string `json:"state_hash"`
}

// getSnapshot serves GET /_plugins/_authz/snapshot: the state this node has
// applied (after min_revision), streamed in the backup format, with its
// revision and state hash in X-Authz-Revision and X-Authz-State-Hash.
func (a *API) getSnapshot(w http.ResponseWriter, r *request) error {
	if err := a.configAdmin(r, authz.ConfigTypes); err != nil {
		return err
	}
	setRevision(w, r.view.Rev)
	w.Header().Set("X-Authz-State-Hash", r.view.Hash())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="authzd-%d.snapshot"`, r.view.Rev))
	w.WriteHeader(http.StatusOK)
	if err := fsm.WriteBackup(w, r.view); err != nil {
		// The status is sent; a cut stream fails the client's checksum.
		a.log.Warn("snapshot stream failed", "request_id", requestID(r.Request), "revision", r.view.Rev, "err", err)
	}
	return nil
}

// postSnapshot serves POST /_plugins/_authz/snapshot: the backup file is
// checked fully on this node (a bad one gets a 400 and changes nothing),
// matched against X-Authz-State-Hash when the client sends one, and restored
// through the leader. A cluster that has changes besides its bootstrap needs
// force=true.
func (a *API) postSnapshot(w http.ResponseWriter, r *request) error {
	br, ok := a.cfg.Backend.(BackupRestorer)
	if !ok {
		return authz.StatusMessage(http.StatusNotImplemented, "This node cannot restore backups")
	}
	if err := a.configAdmin(r, authz.ConfigTypes); err != nil {
		return err
	}
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	raw, err := a.readBody(r.Request, a.cfg.MaxInternalBodyBytes)
	if err != nil {
		return err
	}
	b, err := br.CheckBackup(raw)
	if err != nil {
		return backupRefusal(err)
	}
	if want := r.Header.Get("X-Authz-State-Hash"); want != "" && want != b.Hash() {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf("bad backup: state hash %s, the manifest says %s", b.Hash(), want))
	}
	if !force && !isFresh(r.view) {
		return authz.StatusMessage(http.StatusConflict, fmt.Sprintf(
			"The cluster has changes besides its bootstrap (revision %d, %d recorded changes); restoring replaces them all, pass force=true", r.view.Rev, r.view.History.Len()))
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	rev, err := br.RestoreBackup(ctx, b, raw)
	if err != nil {
		return fmt.Errorf("restore backup of revision %d: %w", b.Rev(), err)
	}
	a.creds.flush()
	setRevision(w, rev)
	writeJSON(w, http.StatusOK, restoreAnswer{Revision: rev, BackupRevision: b.Rev(), StateHash: b.Hash()})
	return nil
}

// isFresh reports whether v holds nothing but a bootstrap: at most the one
// recorded change of the bootstrap configuration.
func isFresh(v *fsm.View) bool {
	recs := v.History.Records()
	return len(recs) == 0 || (len(recs) == 1 && recs[0].RequestID == "bootstrap")
}

// backupRefusal turns a CheckBackup error into the client's 400.
func backupRefusal(err error) error {
	if errors.Is(err, fsm.ErrBadBackup) {
		return authz.StatusMessage(http.StatusBadRequest, err.Error())
	}
	return err
}

// internalRestore serves restores forwarded by followers; like
// internalPropose, only cluster nodes (OU=node) may call it.
func (a *API) internalRestore(w http.ResponseWriter, r *http.Request) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(r.TLS.VerifiedChains[0][0].Subject.OrganizationalUnit, "node") {
		return authz.StatusMessage(http.StatusForbidden, "Only cluster nodes may forward restores")
	}
	br, ok := a.cfg.Backend.(BackupRestorer)
	if !ok {
		return authz.StatusMessage(http.StatusNotImplemented, "This node cannot restore backups")
	}
	raw, err := a.readBody(r, a.cfg.MaxInternalBodyBytes)
	if err != nil {
		return err
	}
	b, err := br.CheckBackup(raw)
	if err != nil {
		return backupRefusal(err)
	}
	rev, err := br.RestoreLocal(r.Context(), b)
	if errors.Is(err, ErrNotLeader) {
		status(w, http.StatusMisdirectedRequest, "not the leader")
		return nil
	}
	if err != nil {
		return err
	}
	a.creds.flush()
	writeJSON(w, http.StatusOK, restoreAnswer{Revision: rev, BackupRevision: b.Rev(), StateHash: b.Hash()})
	return nil
}
