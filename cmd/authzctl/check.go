package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/authz"
)

func checkCmd(g *globals) *cobra.Command {
	var (
		dirs   []string
		strict bool
	)
	cmd := &cobra.Command{
		Use:   "check -d DIR [-d DIR...]",
		Short: "Validate directories of OpenSearch Security YAML files offline (for CI)",
		Long: `Check loads the directories like apply and reports every problem with file and
line, without contacting a cluster: errors (what apply refuses) and warnings (what the
plugin accepts but most likely grants nothing: mappings of unknown roles, unknown
action names, regular expressions that do not compile, action group cycles). It exits
with 1 when there are errors, and with --strict also when there are warnings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			p := painter{g.colored(g.env.stdoutTTY)}
			if len(dirs) == 0 {
				return fmt.Errorf("no configuration directory: give -d DIR")
			}
			src, err := authz.LoadDirs(dirs...)
			if err != nil {
				return err
			}
			next, e := authz.ReplaceWith(authz.NewConfig(), src.Config, src.Types)
			if e != nil {
				printProblems(out, p, src.Locate(authz.ProblemsOf(e, "")))
				return errInvalid
			}
			problems := src.Locate(next.Check())
			ev, err := authz.Compile(next, authz.Settings{})
			if err != nil {
				return fmt.Errorf("compile: %w", err)
			}
			for _, w := range ev.Warnings() {
				problems = append(problems, authz.Problem{Type: "compile", Message: w, Warning: true})
			}
			printProblems(out, p, problems)
			entities := len(next.InternalUsers) + len(next.Roles) + len(next.RolesMapping) + len(next.ActionGroups) + len(next.Tenants)
			fmt.Fprintf(errOut, "checked %s: %d types, %d entities (statics included), %d warnings\n",
				strings.Join(dirs, ", "), len(src.Types), entities, len(problems))
			if strict && len(problems) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&dirs, "dir", "d", nil, "configuration directory (repeatable; later ones win)")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	return cmd
}
