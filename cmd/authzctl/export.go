package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/authz"
)

func exportCmd(g *globals) *cobra.Command {
	var (
		dir   string
		types []string
	)
	cmd := &cobra.Command{
		Use:   "export -d DIR",
		Short: "Write the live configuration as OpenSearch Security YAML files",
		Long: `Export writes the live configuration to DIR in the files apply reads (statics
left out, password hashes kept), so that apply of DIR changes nothing. Existing files
of those names are replaced; other files are left alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("no directory: give -d DIR")
			}
			for _, t := range types {
				if !slices.Contains(authz.ConfigTypes, t) {
					return fmt.Errorf("--types: unknown configuration type %q (one of %s)", t, strings.Join(authz.ConfigTypes, ", "))
				}
			}
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			pr := g.newProgress()
			pr.status("reading the live configuration")
			live, rev, err := cl.live(cmd.Context(), types)
			pr.clear()
			if err != nil {
				return err
			}
			files, err := live.WriteFiles(types)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			for _, name := range slices.Sorted(func(yield func(string) bool) {
				for n := range files {
					if !yield(n) {
						return
					}
				}
			}) {
				if err := writeFileAtomic(filepath.Join(dir, name), files[name]); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", filepath.Join(dir, name))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported revision %d\n", rev)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "directory to write to (created when missing)")
	cmd.Flags().StringSliceVar(&types, "types", nil, "only these configuration types (comma separated)")
	return cmd
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
