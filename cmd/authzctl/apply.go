package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func applyCmd(g *globals) *cobra.Command {
	var (
		dirs []string
		full bool
	)
	cmd := &cobra.Command{
		Use:   "apply -d DIR [-d DIR...]",
		Short: "Apply directories of OpenSearch Security YAML files as one atomic change",
		Long: `Apply loads internal_users.yml, roles.yml, roles_mapping.yml, action_groups.yml,
tenants.yml, config.yml, nodes_dn.yml, allowlist.yml and audit.yml from each directory
(a later directory's entries replace an earlier one's, e.g. -d demo -d examples),
checks all of it, prints what changes, and sends it as one config.replace event: every
type that has a file is replaced, types without a file are left as they are. A
configuration with errors changes nothing; the errors name file and line.

It needs the super admin certificate (--cert-file/--key-file) or, with
plugins.security.restapi.admin.enabled, the restapi:admin permissions of every type
it replaces.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			p, perr := painter{g.colored(g.env.stdoutTTY)}, painter{g.colored(g.env.stderrTTY)}
			pr := g.newProgress()
			pl, err := g.makePlan(cmd.Context(), cl, dirs, pr, errOut, perr)
			if err != nil {
				return err
			}
			pr.clear()
			if pl.live != nil {
				printChanges(out, p, pl.live, pl.next, pl.changes, 20, full)
				if len(pl.changes) == 0 {
					return nil
				}
			}
			ans, err := g.send(cmd.Context(), cl, pl, false, pr)
			if err != nil {
				if ae, ok := err.(*apiError); ok && len(ae.Problems) > 0 {
					printProblems(errOut, perr, pl.src.Locate(ae.Problems))
					return fmt.Errorf("the cluster refused the configuration: nothing was changed")
				}
				return err
			}
			report(out, errOut, perr, pl, ans, "applied")
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&dirs, "dir", "d", nil, "configuration directory (repeatable; later ones win)")
	cmd.Flags().BoolVar(&full, "full", false, "list every changed entity (default: 20 per type and change)")
	return cmd
}
