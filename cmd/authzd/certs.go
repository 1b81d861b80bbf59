package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/transport"
)

func certsCmd() *cobra.Command {
	var dir, nodes string
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create a cluster CA, node certificates and the admin client certificate (kept when present)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids := strings.Split(nodes, ",")
			pki, err := transport.EnsureDevPKI(dir, ids)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA: %s\nadmin certificate: %s (key %s)\n", pki.CAFile, pki.AdminCertFile(), pki.AdminKeyFile())
			for _, id := range ids {
				fmt.Fprintf(cmd.OutOrStdout(), "node %s: %s (key %s)\n", id, pki.NodeCertFile(id), pki.NodeKeyFile(id))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "directory for the certificates")
	cmd.Flags().StringVar(&nodes, "nodes", "n1,n2,n3", "node ids, comma separated")
	return cmd
}
