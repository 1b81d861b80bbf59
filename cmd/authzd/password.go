package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/authz"
)

// passwordCmd prints a new random password, or with --hash the bcrypt hash of a
// password read from standard input (what the plugin's hash.sh does), for
// internal_users.yml files.
func passwordCmd() *cobra.Command {
	var (
		hash   bool
		rounds = 12
	)
	cmd := &cobra.Command{
		Use:   "password",
		Short: "Print a random password that passes the default policy, or --hash one read from stdin",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !hash {
				fmt.Fprintln(cmd.OutOrStdout(), generatePassword())
				return nil
			}
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read password from stdin: %w", err)
			}
			h, err := authz.HashPassword(strings.TrimRight(line, "\r\n"), rounds)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	cmd.Flags().BoolVar(&hash, "hash", false, "print the bcrypt hash of the password on stdin instead")
	cmd.Flags().IntVar(&rounds, "rounds", rounds, "bcrypt cost")
	return cmd
}
