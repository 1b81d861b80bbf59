package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// eventRecord is one entry of GET /_plugins/_authz/events.
type eventRecord struct {
	Revision  uint64 `json:"revision"`
	At        int64  `json:"at"`
	Actor     string `json:"actor"`
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Added     int    `json:"added"`
	Changed   int    `json:"changed"`
	Removed   int    `json:"removed"`
	Resources []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
		Op   string `json:"op"`
	} `json:"resources"`
}

type eventsPage struct {
	Events []eventRecord `json:"events"`
	Next   uint64        `json:"next_before"`
}

func eventsCmd(g *globals) *cobra.Command {
	var (
		size   int
		before uint64
		all    bool
		asJSON bool
		follow bool
		from   uint64
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List the configuration history: who changed what, when",
		Long: `Events lists the latest applied configuration changes, newest first: revision,
time (UTC), actor, event type and the resources changed. The cluster keeps the last
1000 changes. --before REV pages to older ones; --all follows every page.

--follow prints every change as it is committed (the cluster's change stream),
from --from REV on when the stream still holds it, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			if follow {
				return followChanges(cmd, cl, from, asJSON)
			}
			var recs []eventRecord
			for {
				path := fmt.Sprintf("/_plugins/_authz/events?size=%d", size)
				if before > 0 {
					path += fmt.Sprintf("&before=%d", before)
				}
				var page eventsPage
				if _, err := cl.do(cmd.Context(), http.MethodGet, path, nil, nil, &page); err != nil {
					return err
				}
				recs = append(recs, page.Events...)
				if !all || page.Next == 0 {
					break
				}
				before = page.Next
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tTIME\tACTOR\tTYPE\tCHANGES")
			for _, r := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Revision,
					time.UnixMilli(r.At).UTC().Format("2006-01-02T15:04:05.000Z"), r.Actor, r.Type, changesText(r))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&size, "size", 50, "records per page (1-1000)")
	cmd.Flags().Uint64Var(&before, "before", 0, "only records older than this revision")
	cmd.Flags().BoolVar(&all, "all", false, "follow every page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records as JSON")
	cmd.Flags().BoolVar(&follow, "follow", false, "print changes as they are committed, until interrupted")
	cmd.Flags().Uint64Var(&from, "from", 0, "with --follow: start at this revision (0: new changes only)")
	return cmd
}

// streamChange is one line of GET /_plugins/_authz/events/_stream.
type streamChange struct {
	Revision uint64   `json:"revision"`
	Type     string   `json:"type"`
	Keys     []string `json:"keys"`
	Actor    string   `json:"actor"`
	At       int64    `json:"at"`
}

// followChanges prints the change stream until the command's context ends
// (Ctrl-C): one JSON object per line with --json, else a table row each.
func followChanges(cmd *cobra.Command, cl *client, from uint64, asJSON bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	if !asJSON {
		fmt.Fprintln(out, "REVISION  TIME                      ACTOR  TYPE  CHANGES")
	}
	err := cl.stream(ctx, fmt.Sprintf("/_plugins/_authz/events/_stream?from=%d", from), func(line []byte) error {
		if asJSON {
			_, err := fmt.Fprintf(out, "%s\n", line)
			return err
		}
		var c streamChange
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("decode change: %w", err)
		}
		_, err := fmt.Fprintf(out, "%d  %s  %s  %s  %s\n", c.Revision,
			time.UnixMilli(c.At).UTC().Format("2006-01-02T15:04:05.000Z"), c.Actor, c.Type, strings.Join(c.Keys, " "))
		return err
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// changesText lists a record's resources as +added ~changed -removed, with a
// count of the ones the record does not list.
func changesText(r eventRecord) string {
	var parts []string
	for _, res := range r.Resources {
		sign := map[string]string{"added": "+", "changed": "~", "removed": "-"}[res.Op]
		parts = append(parts, sign+res.Kind+"/"+res.Name)
	}
	if rest := r.Added + r.Changed + r.Removed - len(r.Resources); rest > 0 {
		parts = append(parts, fmt.Sprintf("(+%d more: %d added, %d changed, %d removed)", rest, r.Added, r.Changed, r.Removed))
	}
	return strings.Join(parts, " ")
}
