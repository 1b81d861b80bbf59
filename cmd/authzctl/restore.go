package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// restoreAnswer is the answer of POST /_plugins/_authz/snapshot.
type restoreAnswer struct {
	Revision       uint64 `json:"revision"`
	BackupRevision uint64 `json:"backup_revision"`
	StateHash      string `json:"state_hash"`
}

func restoreCmd(g *globals) *cobra.Command {
	var force, fromYAML bool
	cmd := &cobra.Command{
		Use:   "restore DIR",
		Short: "Bring the cluster to the state of a backup directory",
		Long: `Restore sends DIR's snapshot (written by backup) to the cluster, which checks it
fully (format, checksum, decoding, the configuration compiles, the manifest's state
hash) and replaces its whole replicated state through the Raft leader: every node then
has the backup's state hash, which restore reads back from the node of --url. The revision after the restore is above the backup's and
above every revision the cluster served before, so min_revision reads never go back.
A cluster with changes besides its bootstrap is refused unless --force is given.

With --yaml, the YAML files of DIR are applied instead, as apply -d DIR does (one
config.replace of every type that has a file). That keeps the cluster's change history
and revisions but is not a faithful restore: see docs/authzctl.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if fromYAML {
				return g.restoreYAML(cmd, dir)
			}
			mb, err := os.ReadFile(filepath.Join(dir, manifestFile))
			if err != nil {
				return fmt.Errorf("read the manifest: %w", err)
			}
			var m manifest
			if err := json.Unmarshal(mb, &m); err != nil {
				return fmt.Errorf("decode %s: %w", filepath.Join(dir, manifestFile), err)
			}
			if m.FormatVersion != manifestVersion {
				return fmt.Errorf("%s: format version %d, this authzctl reads %d", filepath.Join(dir, manifestFile), m.FormatVersion, manifestVersion)
			}
			if m.Snapshot == "" || filepath.Base(m.Snapshot) != m.Snapshot {
				return fmt.Errorf("%s: bad snapshot file name %q", filepath.Join(dir, manifestFile), m.Snapshot)
			}
			raw, err := os.ReadFile(filepath.Join(dir, m.Snapshot))
			if err != nil {
				return fmt.Errorf("read the snapshot: %w", err)
			}
			if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != m.SnapshotSHA256 {
				return fmt.Errorf("%s does not match the manifest's checksum: nothing was sent", filepath.Join(dir, m.Snapshot))
			}
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			path := "/_plugins/_authz/snapshot"
			if force {
				path += "?force=true"
			}
			header := http.Header{"Content-Type": {"application/octet-stream"}, "X-Authz-State-Hash": {m.StateHash}}
			var ans restoreAnswer
			if _, err := cl.do(cmd.Context(), http.MethodPost, path, bytes.NewReader(raw), header, &ans); err != nil {
				var ae *apiError
				if errors.As(err, &ae) && ae.Status == http.StatusConflict {
					return fmt.Errorf("%w (nothing was changed; --force replaces it)", err)
				}
				return err
			}
			// Read the hash back from the node of --url once it has applied
			// the restore (a follower receives it by InstallSnapshot).
			var st clusterStatus
			if _, err := cl.do(cmd.Context(), http.MethodGet, fmt.Sprintf("/_plugins/_authz/cluster?min_revision=%d", ans.Revision), nil, nil, &st); err != nil {
				return fmt.Errorf("restored at revision %d, but reading it back failed: %w", ans.Revision, err)
			}
			if st.StateHash != m.StateHash {
				return fmt.Errorf("restored at revision %d, but node %s reports state hash %s at revision %d, the backup has %s",
					ans.Revision, st.NodeID, st.StateHash, st.Revision, m.StateHash)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored backup of revision %d at revision %d (state hash %s, read back from %s)\n",
				ans.BackupRevision, ans.Revision, st.StateHash, st.NodeID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace the state of a cluster that has changes besides its bootstrap")
	cmd.Flags().BoolVar(&fromYAML, "yaml", false, "apply the YAML files of DIR (a whole-config replace) instead of the snapshot")
	return cmd
}

// restoreYAML applies the YAML files of a backup directory as apply does.
func (g *globals) restoreYAML(cmd *cobra.Command, dir string) error {
	cl, err := g.newClient()
	if err != nil {
		return err
	}
	defer cl.close()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	perr := painter{g.colored(g.env.stderrTTY)}
	pr := g.newProgress()
	pl, err := g.makePlan(cmd.Context(), cl, []string{dir}, pr, errOut, perr)
	if err != nil {
		return err
	}
	ans, err := g.send(cmd.Context(), cl, pl, false, pr)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && len(ae.Problems) > 0 {
			printProblems(errOut, perr, pl.src.Locate(ae.Problems))
			return fmt.Errorf("the cluster refused the configuration: nothing was changed")
		}
		return err
	}
	report(out, errOut, perr, pl, ans, "restored (from YAML)")
	return nil
}
