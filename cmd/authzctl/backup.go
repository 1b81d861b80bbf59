package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// A backup directory holds manifest.json, the state as a backup file
// (snapshotFile, GET /_plugins/_authz/snapshot) and the same configuration as
// the OpenSearch YAML files export writes.
const (
	manifestFile    = "manifest.json"
	snapshotFile    = "authzd.snapshot"
	manifestVersion = 1
)

// manifest describes one backup.
type manifest struct {
	FormatVersion int    `json:"format_version"`
	Revision      uint64 `json:"revision"`
	StateHash     string `json:"state_hash"`
	NodeID        string `json:"node_id"`
	CreatedAt     string `json:"created_at"`
	Snapshot      string `json:"snapshot"`
	// SnapshotSHA256 is the hex SHA-256 of the whole snapshot file.
	SnapshotSHA256 string   `json:"snapshot_sha256"`
	Files          []string `json:"files"`
}

// maxBackupBytes bounds a downloaded snapshot; the nodes accept at most
// 64 MiB (MaxInternalBodyBytes) anyway.
const maxBackupBytes = 64 << 20

func backupCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "backup -o DIR",
		Short: "Write the cluster's state (snapshot, YAML files, manifest) to a directory",
		Long: `Backup downloads the state the node of --url has applied (after --min-revision)
as a snapshot (GET /_plugins/_authz/snapshot), checks it, and writes to DIR:
authzd.snapshot, the configuration of that snapshot as the OpenSearch YAML files
export writes, and manifest.json (format version, revision, state hash, node id,
time, snapshot checksum). Restore DIR brings a cluster to the same state hash.
It needs the super admin certificate or admin rights for every configuration type.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("no directory: give -o DIR")
			}
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			var st clusterStatus
			if _, err := cl.do(cmd.Context(), http.MethodGet, "/_plugins/_authz/cluster", nil, nil, &st); err != nil {
				return fmt.Errorf("read the cluster status: %w", err)
			}
			raw, hdr, err := cl.download(cmd, "/_plugins/_authz/snapshot")
			if err != nil {
				return err
			}
			b, err := fsm.ReadBackup(bytes.NewReader(raw), int64(len(raw)), authz.Settings{})
			if err != nil {
				return fmt.Errorf("check the downloaded snapshot: %w", err)
			}
			if h := hdr.Get("X-Authz-State-Hash"); h != b.Hash() {
				return fmt.Errorf("the downloaded snapshot has state hash %s, the node said %s", b.Hash(), h)
			}
			files, err := b.Config().WriteFiles(nil)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			if err := writeFileAtomic(filepath.Join(dir, snapshotFile), raw); err != nil {
				return err
			}
			sum := sha256.Sum256(raw)
			m := manifest{FormatVersion: manifestVersion, Revision: b.Rev(), StateHash: b.Hash(), NodeID: st.NodeID,
				CreatedAt: time.Now().UTC().Format(time.RFC3339), Snapshot: snapshotFile, SnapshotSHA256: hex.EncodeToString(sum[:])}
			for _, name := range slices.Sorted(mapKeys(files)) {
				if err := writeFileAtomic(filepath.Join(dir, name), files[name]); err != nil {
					return err
				}
				m.Files = append(m.Files, name)
			}
			mb, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return fmt.Errorf("encode manifest: %w", err)
			}
			if err := writeFileAtomic(filepath.Join(dir, manifestFile), append(mb, '\n')); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up revision %d from %s to %s (state hash %s, %d YAML files)\n",
				b.Rev(), st.NodeID, dir, b.Hash(), len(m.Files))
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "out", "o", "", "directory to write the backup to (created when missing)")
	return cmd
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// download GETs path and returns the whole body and the headers of a 200.
func (c *client) download(cmd *cobra.Command, path string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	if c.minRev > 0 {
		req.Header.Set("X-Authz-Min-Revision", strconv.FormatUint(c.minRev, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBackupBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &apiError{Status: resp.StatusCode, Body: b}
	}
	if len(b) > maxBackupBytes {
		return nil, nil, fmt.Errorf("GET %s: snapshot larger than %d bytes", path, maxBackupBytes)
	}
	return b, resp.Header, nil
}
