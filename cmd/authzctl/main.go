// Command authzctl operates an authzd cluster: it applies directories of
// OpenSearch Security YAML files as one atomic change (apply, diff, check,
// export), and shows the cluster and its change history (cluster status,
// events). Each subcommand lives in its own file; root builds the command
// tree, so a new subcommand is one file and one AddCommand line.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{
		stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		stdoutTTY: isTerminal(os.Stdout), stderrTTY: isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// env is what a run of authzctl talks to; tests pass buffers and a fixed
// environment.
type env struct {
	stdout, stderr       io.Writer
	getenv               func(string) string
	stdoutTTY, stderrTTY bool
}

// exitError carries an exit code other than 1 (e.g. check's warnings, diff
// --exit-code) without a message of its own.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes one command line and returns the process exit code: 0 on
// success, 1 on errors (the message is printed to stderr), or the code of an
// exitError.
func run(ctx context.Context, args []string, e env) int {
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ee, ok := err.(exitError); ok {
		return ee.code
	}
	fmt.Fprintln(e.stderr, "authzctl:", err)
	return 1
}

// globals are the connection and output flags every command shares.
type globals struct {
	env      env
	url      string
	user     string
	password string
	caFile   string
	certFile string
	keyFile  string
	timeout  time.Duration
	color    string
	minRev   uint64
}

// newRoot builds the command tree. Connection flags fall back to the
// environment: AUTHZD_URL, AUTHZD_USER, AUTHZD_PASSWORD, AUTHZD_CA_FILE,
// AUTHZD_CERT_FILE, AUTHZD_KEY_FILE.
func newRoot(e env) *cobra.Command {
	g := &globals{env: e}
	root := &cobra.Command{
		Use:           "authzctl",
		Short:         "Operate an authzd cluster: apply, diff, check and export configuration; cluster status; events",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	or := func(name, def string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return def
	}
	f := root.PersistentFlags()
	f.StringVar(&g.url, "url", or("AUTHZD_URL", "https://127.0.0.1:9200"), "node URL [AUTHZD_URL]")
	f.StringVarP(&g.user, "user", "u", or("AUTHZD_USER", ""), "basic auth user [AUTHZD_USER]")
	f.StringVar(&g.password, "password", or("AUTHZD_PASSWORD", ""), "basic auth password [AUTHZD_PASSWORD]")
	f.StringVar(&g.caFile, "ca-file", or("AUTHZD_CA_FILE", ""), "CA certificate (PEM) to trust [AUTHZD_CA_FILE]")
	f.StringVar(&g.certFile, "cert-file", or("AUTHZD_CERT_FILE", ""), "client certificate (PEM), e.g. the admin certificate [AUTHZD_CERT_FILE]")
	f.StringVar(&g.keyFile, "key-file", or("AUTHZD_KEY_FILE", ""), "client certificate key (PEM) [AUTHZD_KEY_FILE]")
	f.DurationVar(&g.timeout, "timeout", 2*time.Minute, "timeout of each request to the cluster")
	f.StringVar(&g.color, "color", "auto", "colour output: auto (on a terminal), always or never")
	f.Uint64Var(&g.minRev, "min-revision", 0, "make the node wait until it has applied this revision (read your writes)")
	root.AddCommand(applyCmd(g), diffCmd(g), checkCmd(g), exportCmd(g), clusterCmd(g), eventsCmd(g), benchCmd(g), backupCmd(g), restoreCmd(g))
	return root
}

// colored reports whether output to a stream (stdout when tty is
// e.stdoutTTY) gets ANSI colours.
func (g *globals) colored(tty bool) bool {
	switch g.color {
	case "always":
		return true
	case "never":
		return false
	}
	return tty && g.env.getenv("NO_COLOR") == ""
}
