package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/authzd/authzd/fsm"
	"github.com/authzd/authzd/node/api"
)

// restoreIndexGap is how far above the last Raft index a restored state is
// placed. raft.Restore puts the snapshot at max(last index, meta.Index)+1; the
// gap leaves room for entries appended between reading the last index and
// raft's restore, so the revision written into the snapshot is exactly the
// index raft gives it.
const restoreIndexGap = 64

// RestoreBackup replaces the replicated state with b (api.BackupRestorer): on
// the leader through RestoreLocal, on a follower by forwarding the backup
// file raw to the leader.
func (n *Node) RestoreBackup(ctx context.Context, b *fsm.Backup, raw []byte) (uint64, error) {
	if n.IsLeader() {
		return n.RestoreLocal(ctx, b)
	}
	if n.raft == nil {
		return 0, ErrNoLeader
	}
	p, err := n.leaderPeer()
	if err != nil {
		return 0, fmt.Errorf("restore: %w: %w", err, ErrNoLeader)
	}
	return n.forwardRestore(ctx, p, raw)
}

// RestoreLocal restores b on this node, which must be the leader, with
// raft's user restore: raft writes it as a snapshot at an index above every
// entry of its log, the followers receive it by InstallSnapshot, and a no-op
// entry confirms that a quorum has it. The state gets the revision of that
// index, above the backup's own revision and above every revision this
// cluster has served, so a min_revision read never goes back.
func (n *Node) RestoreLocal(ctx context.Context, b *fsm.Backup) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	n.restoreMu.Lock()
	defer n.restoreMu.Unlock()
	// The snapshot carries the member directory as it is now; a membership
	// change committed between reading it and the restore would be undone
	// by the restore, so none may run meanwhile (they take membersMu on the
	// leader too).
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	base := max(n.raft.LastIndex(), n.machine.View().Rev, b.Rev()) + restoreIndexGap
	rev := base + 1
	// Keep this cluster's member directory: a restore replaces the
	// configuration, not the addresses of members added at run time.
	data, err := b.Snapshot(rev, n.machine.View().Members)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	timeout := n.cfg.WriteTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: base, Size: int64(len(data))}
	if err := n.raft.Restore(meta, bytes.NewReader(data), timeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return 0, ErrNotLeader
		}
		if n.machine.View().Rev >= rev {
			// Restored here, but the no-op that shows a quorum has it did
			// not commit.
			return 0, fmt.Errorf("restore at revision %d: %w: %w", rev, err, ErrOutcomeUnknown)
		}
		return 0, fmt.Errorf("restore at revision %d: %w", rev, err)
	}
	n.log.Info("restored backup", "revision", rev, "backup_revision", b.Rev(), "state_hash", b.Hash())
	return rev, nil
}

// forwardRestore sends a backup file to the leader's internal restore
// endpoint and returns the revision it was restored at. It is not retried: a
// restore is too big and too drastic to resend on a guess, so a leader that
// moved on is ErrNoLeader and the caller decides.
func (n *Node) forwardRestore(ctx context.Context, leader Peer, raw []byte) (uint64, error) {
	body, err := n.postToLeader(ctx, leader, leaderPost{
		what: "forward restore", path: "/_plugins/_authz/internal/restore", contentType: "application/octet-stream",
		body: raw, limit: 1 << 20,
	})
	if errors.Is(err, errRetry) {
		return 0, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	if err != nil {
		return 0, err
	}
	var ans struct {
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, fmt.Errorf("forward restore to %s: decode answer: %w", leader.ID, err)
	}
	return ans.Revision, nil
}

var _ api.BackupRestorer = (*Node)(nil)

// CheckBackup decodes and checks a backup file with this node's settings
// (api.BackupRestorer), so that the FSM's restore cannot fail on it.
func (n *Node) CheckBackup(raw []byte) (*fsm.Backup, error) {
	return fsm.ReadBackup(bytes.NewReader(raw), int64(len(raw)), n.cfg.Settings)
}
