// Command authzd runs authzd nodes: `authzd serve` runs one node of a cluster,
// `authzd dev` runs a three-node cluster in one process for a laptop, and
// `authzd certs` writes a cluster CA and certificates.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "authzd:", err)
		os.Exit(1)
	}
}

// newRoot builds the command tree; tests run it in-process.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "authzd",
		Short:         "authzd: the OpenSearch Security model as a Raft cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), devCmd(), certsCmd(), healthCmd(), passwordCmd())
	return root
}
