package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLog(t *testing.T) {
	var buf bytes.Buffer
	l := HCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	named := l.Named("raft").Named("net").With("peer", "n2")

	named.Trace("dropped")
	named.Debug("dbg", "k", 1)
	named.Warn("careful")
	named.Log(hclog.Error, "bad", "error", "boom")

	want := []string{
		`level=DEBUG msg=dbg peer=n2 logger=raft.net k=1`,
		`level=WARN msg=careful peer=n2 logger=raft.net`,
		`level=ERROR msg=bad peer=n2 logger=raft.net error=boom`,
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
	if named.IsTrace() || !named.IsDebug() || named.GetLevel() != hclog.Debug {
		t.Errorf("IsTrace=%v IsDebug=%v GetLevel=%v, want false, true, debug", named.IsTrace(), named.IsDebug(), named.GetLevel())
	}
	if named.Name() != "raft.net" {
		t.Errorf("Name() = %q", named.Name())
	}
	if HCLog(nil).IsError() {
		t.Error("HCLog(nil) is not a null logger")
	}
}
