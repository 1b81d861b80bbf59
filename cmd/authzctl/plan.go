package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/authzd/authzd/authz"
)

// plan is what applying directories to the cluster would do.
type plan struct {
	dirs []string
	src  *authz.Source
	docs map[string][]byte
	// live and next are the cluster's configuration of the source's types
	// before and after; both nil when the caller may not read it.
	live, next *authz.Config
	changes    []authz.Change
	liveErr    error
}

// errInvalid reports a configuration with errors; the problems were printed.
var errInvalid = errors.New("the configuration has errors: nothing was changed")

// makePlan loads and checks the directories (errors are printed with file and
// line, and nothing is sent), then compares them with the live configuration.
func (g *globals) makePlan(ctx context.Context, cl *client, dirs []string, pr *progress, errOut io.Writer, p painter) (*plan, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no configuration directory: give -d DIR")
	}
	pr.status("loading %s", strings.Join(dirs, ", "))
	src, err := authz.LoadDirs(dirs...)
	if err != nil {
		pr.clear()
		return nil, err
	}
	if len(src.Types) == 0 {
		pr.clear()
		return nil, fmt.Errorf("no configuration file in %s", strings.Join(dirs, ", "))
	}
	pl := &plan{dirs: dirs, src: src, docs: src.Docs()}
	pr.status("reading the live configuration")
	live, _, err := cl.live(ctx, src.Types)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
			pr.clear()
			return nil, err
		}
		// Not allowed to read it: check alone, and let the server's summary
		// tell what changes.
		pl.liveErr = err
		live = nil
	}
	base := live
	if base == nil {
		base = authz.NewConfig()
	}
	pr.status("checking and comparing %d configuration types", len(src.Types))
	next, e := authz.ReplaceWith(base, src.Config, src.Types)
	if e != nil {
		pr.clear()
		printProblems(errOut, p, src.Locate(authz.ProblemsOf(e, "")))
		return nil, errInvalid
	}
	if live != nil {
		pl.live, pl.next, pl.changes = live, next, authz.Diff(live, next)
	}
	return pl, nil
}

// send puts the plan's documents to the cluster (dry run or not), gzipped
// when large, with an upload bar on a terminal.
func (g *globals) send(ctx context.Context, cl *client, pl *plan, dryRun bool, pr *progress) (*replaceAnswer, error) {
	docs := map[string]json.RawMessage{}
	for t, d := range pl.docs {
		docs[t] = d
	}
	body, err := json.Marshal(configDocs{Docs: docs})
	if err != nil {
		return nil, fmt.Errorf("encode the configuration: %w", err)
	}
	header := http.Header{}
	if len(body) > 1<<20 {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compress the configuration: %w", err)
		}
		body = zb.Bytes()
		header.Set("Content-Encoding", "gzip")
	}
	path := "/_plugins/_authz/config"
	label := "applying"
	if dryRun {
		path += "?dry_run=true"
		label = "checking with the cluster"
	}
	var sent atomic.Int64
	pr.bytes(label, int64(len(body)), &sent)
	var ans replaceAnswer
	_, err = cl.do(ctx, http.MethodPut, path, countingReader{bytes.NewReader(body), &sent}, header, &ans)
	pr.clear()
	if err != nil {
		return nil, err
	}
	return &ans, nil
}

// report prints the server's answer: the summary line, the changes when the
// live configuration could not be compared locally, and the warnings.
func report(out, errOut io.Writer, p painter, pl *plan, ans *replaceAnswer, verb string) {
	if pl.live == nil {
		fmt.Fprintf(errOut, "note: %v; listing the cluster's summary\n", pl.liveErr)
		for _, c := range ans.Changes {
			sign := map[string]string{"added": "+", "changed": "~", "removed": "-"}[c.Op]
			fmt.Fprintf(out, "  %s %s/%s\n", sign, c.Type, c.Name)
		}
		if ans.Truncated {
			fmt.Fprintln(out, "  ... (list truncated by the cluster)")
		}
	}
	printProblems(errOut, p, pl.src.Locate(ans.Warnings))
	switch {
	case ans.Unchanged:
		fmt.Fprintf(out, "no changes (revision %d)\n", ans.Revision)
	default:
		fmt.Fprintf(out, "%s revision %d: %d added, %d changed, %d removed\n", verb, ans.Revision, ans.Added, ans.Changed, ans.Removed)
	}
}
