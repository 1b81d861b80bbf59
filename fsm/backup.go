package fsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// A backup file (GET /_plugins/_authz/snapshot, authzctl backup) is
//
//	backupMagic | the snapshot encoding of Persist | SHA-256 of the two before
//
// so that a truncated, corrupted or foreign file is recognized before anything
// is decoded, and the body between magic and checksum is exactly what raft
// stores as a snapshot.
const backupMagic = "authzd-backup 1\n"

// ErrBadBackup marks a backup file that cannot be restored: wrong format,
// checksum mismatch, undecodable, or a configuration that does not compile.
// Nothing was changed.
var ErrBadBackup = errors.New("bad backup")

// WriteBackup writes v as a backup file to w. It may be called from any
// goroutine: v is immutable.
func WriteBackup(w io.Writer, v *View) error {
	sum := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, sum))
	if _, err := bw.WriteString(backupMagic); err != nil {
		return fmt.Errorf("write backup rev %d: %w", v.Rev, err)
	}
	// The member directory belongs to the cluster, not to the configuration:
	// a backup restored into another cluster must not bring its addresses.
	bv := *v
	bv.Members = nil
	if err := encodeSnapshot(bw, &bv, v.Rev); err != nil {
		return fmt.Errorf("write backup rev %d: %w", v.Rev, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write backup rev %d: %w", v.Rev, err)
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return fmt.Errorf("write backup rev %d checksum: %w", v.Rev, err)
	}
	return nil
}

// encodeSnapshot writes the snapshot encoding of v with revision rev.
func encodeSnapshot(w io.Writer, v *View, rev uint64) error {
	enc := msgpack.NewEncoder(w)
	enc.SetSortMapKeys(true)
	return enc.Encode(snapshotData{
		Format: snapshotFormat, Rev: rev, Initialized: v.Initialized,
		Config: canonical(v.Config), Changes: v.changeEntries(),
		History: v.History.Records(), Members: v.Members,
	})
}

// Backup is a backup file that ReadBackup checked: it decodes, its checksum
// matches and its configuration compiles, so restoring it cannot fail in the
// FSM (where a failed restore stops the node).
type Backup struct {
	view *View
}

// Rev is the revision the backup was taken at.
func (b *Backup) Rev() uint64 { return b.view.Rev }

// Hash is the state hash of the backed-up configuration (View.Hash).
func (b *Backup) Hash() string { return b.view.Hash() }

// Initialized reports whether the backup holds an initialized configuration.
func (b *Backup) Initialized() bool { return b.view.Initialized }

// ReadBackup reads at most limit bytes of a backup file and checks it fully:
// magic, checksum, snapshot format, decoding, and that the configuration
// compiles with settings. Every refusal wraps ErrBadBackup.
func ReadBackup(r io.Reader, limit int64, settings authz.Settings) (*Backup, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadBackup, limit)
	}
	if len(data) < len(backupMagic)+sha256.Size || string(data[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: not an authzd backup file (format %q)", ErrBadBackup, backupMagic[:len(backupMagic)-1])
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch (truncated or corrupted)", ErrBadBackup)
	}
	v, err := readSnapshot(bytes.NewReader(body[len(backupMagic):]))
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrBadBackup, err)
	}
	if !v.Initialized {
		return nil, fmt.Errorf("%w: the configuration is not initialized", ErrBadBackup)
	}
	if _, err := authz.Compile(v.Config, settings); err != nil {
		return nil, fmt.Errorf("%w: configuration does not compile: %w", ErrBadBackup, err)
	}
	return &Backup{view: v}, nil
}

// Snapshot returns the backup in raft's snapshot encoding (what Persist writes
// and Restore reads) with the revision set to rev, for a user restore
// (raft.Restore): the restored state gets the revision of the Raft index it is
// restored at, not the one it was taken at, so revisions never go back. It
// carries members, the restoring cluster's current member directory: a
// restore replaces the configuration, not the cluster's address book.
func (b *Backup) Snapshot(rev uint64, members []events.Member) ([]byte, error) {
	v := *b.view
	v.Members = members
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, &v, rev); err != nil {
		return nil, fmt.Errorf("encode snapshot rev %d: %w", rev, err)
	}
	return buf.Bytes(), nil
}

// Config is the backed-up configuration. It must not be modified.
func (b *Backup) Config() *authz.Config { return b.view.Config }
