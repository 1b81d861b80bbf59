package main

import (
	"github.com/spf13/cobra"
)

func diffCmd(g *globals) *cobra.Command {
	var (
		dirs     []string
		full     bool
		exitCode bool
	)
	cmd := &cobra.Command{
		Use:   "diff -d DIR [-d DIR...]",
		Short: "Show what apply would change, without changing anything",
		Long: `Diff loads and checks the directories like apply, compares them with the live
configuration and lists what apply would add (+), change (~, with the changed lines)
and remove (-). The cluster checks the configuration too (a dry run) and reports its
warnings. With --exit-code it exits with 2 when there are changes.`,
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
			ans, err := g.send(cmd.Context(), cl, pl, true, pr)
			if err != nil {
				if ae, ok := err.(*apiError); ok && len(ae.Problems) > 0 {
					printProblems(errOut, perr, pl.src.Locate(ae.Problems))
					return errInvalid
				}
				return err
			}
			if pl.live != nil {
				printChanges(out, p, pl.live, pl.next, pl.changes, 20, full)
			}
			printProblems(errOut, perr, pl.src.Locate(ans.Warnings))
			if pl.live == nil {
				report(out, errOut, perr, pl, ans, "would apply at")
			}
			if exitCode && !ans.Unchanged {
				return exitError{2}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&dirs, "dir", "d", nil, "configuration directory (repeatable; later ones win)")
	cmd.Flags().BoolVar(&full, "full", false, "list every changed entity (default: 20 per type and change)")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with 2 when there are changes")
	return cmd
}
