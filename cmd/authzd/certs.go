package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/transport"
)

func certsCmd() *cobra.Command {
	var (
		dir, nodes string
		hosts      []string
	)
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create a cluster CA, node certificates and the admin client certificate (kept when present)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids := strings.Split(nodes, ",")
			specs := make([]transport.NodeCert, len(ids))
			for i, id := range ids {
				specs[i].ID = id
			}
			for _, h := range hosts {
				id, host, ok := strings.Cut(h, "=")
				i := slices.Index(ids, id)
				if !ok || host == "" || i < 0 {
					return fmt.Errorf("--host %q: want <node id>=<ip or dns name> for one of --nodes", h)
				}
				specs[i].Hosts = append(specs[i].Hosts, host)
			}
			pki, err := transport.EnsurePKI(dir, specs)
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
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "extra address of a node's certificate, <id>=<ip or dns name> (repeatable)")
	return cmd
}
