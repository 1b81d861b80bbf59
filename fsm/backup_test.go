package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
)

// TestBackupRoundTrip: a backup read back and restored at a later revision
// gives the same state hash, change records and history, at that revision.
func TestBackupRoundTrip(t *testing.T) {
	a := newMachine(t)
	applyAll(t, a, sampleLog(t))
	b := readBack(t, a.View())
	if b.Hash() != a.View().Hash() || b.Rev() != a.View().Rev || !b.Initialized() {
		t.Fatalf("backup rev %d hash %s, machine rev %d hash %s", b.Rev(), b.Hash(), a.View().Rev, a.View().Hash())
	}
	snap, err := b.Snapshot(1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newMachine(t)
	if err := m.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	v := m.View()
	if v.Rev != 1000 || v.Hash() != a.View().Hash() || v.History.Len() != a.View().History.Len() {
		t.Fatalf("restored rev %d hash %s history %d, want 1000 %s %d", v.Rev, v.Hash(), v.History.Len(), a.View().Hash(), a.View().History.Len())
	}
}

// TestReadBackupRefuses: every damaged or foreign file is refused with
// ErrBadBackup before anything is decoded into a state.
func TestReadBackupRefuses(t *testing.T) {
	a := newMachine(t)
	applyAll(t, a, sampleLog(t))
	good := backupBytes(t, a.View())
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	empty := backupBytes(t, newMachine(t).View())
	// withSum frames a body as a backup file with a correct checksum.
	withSum := func(body []byte) []byte {
		b := append([]byte(backupMagic), body...)
		sum := sha256.Sum256(b)
		return append(b, sum[:]...)
	}
	future, err := msgpack.Marshal(snapshotData{Format: snapshotFormat + 1, Initialized: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an authzd backup file"},
		{"raft snapshot without header", good[len(backupMagic) : len(good)-32], "not an authzd backup file"},
		{"other magic", append([]byte("authzd-backup 2\n"), good[len(backupMagic):]...), "not an authzd backup file"},
		{"flipped body byte", flip(len(good) / 2), "checksum mismatch"},
		{"flipped checksum byte", flip(len(good) - 1), "checksum mismatch"},
		{"truncated", good[:len(good)-10], "checksum mismatch"},
		{"garbage with a good checksum", withSum([]byte("garbage")), "snapshot: decode"},
		{"unknown snapshot format", withSum(future), "unknown snapshot format 2"},
		{"uninitialized", empty, "not initialized"},
		{"too large", good, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := int64(len(tc.data))
			if tc.name == "too large" {
				limit = 10
			}
			_, err := ReadBackup(bytes.NewReader(tc.data), limit, authz.Settings{})
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadBackup with %q", err, tc.want)
			}
		})
	}
}

// backupBytes is the backup file of v.
func backupBytes(t *testing.T, v *View) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBackup(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBack writes v's backup and reads it back.
func readBack(t *testing.T, v *View) *Backup {
	t.Helper()
	raw := backupBytes(t, v)
	b, err := ReadBackup(bytes.NewReader(raw), int64(len(raw)), authz.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
