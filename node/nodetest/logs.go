package nodetest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logSink collects the warnings and errors the nodes of one test log. A
// loaded machine makes raft and NATS log hundreds of lines, and CI shows only
// the head and tail of a failed run: streamed, they buried the message of
// the failure. So they are kept in memory and printed only when the test
// fails, after everything the test itself printed: the last logTail lines
// in the test log, all of them in a file under os.TempDir()/authzd-test-logs.
// AUTHZD_TEST_LOGS=stream prints every line as it comes instead.
type logSink struct {
	t      testing.TB
	stream bool

	mu      sync.Mutex
	lines   []string
	dropped int // oldest lines dropped past maxLogLines
	// closing is the number of lines logged before the cluster began to
	// close (-1 until then): the tail printed is the one before it, from
	// around the failure, not the noise of the shutdown.
	closing int
}

const (
	logTail     = 40
	maxLogLines = 100_000
)

// newLogSink returns the sink of t. It reports in a t.Cleanup registered
// now, so it must be created before the cluster's own cleanups, which then
// run (and log) before it.
func newLogSink(t testing.TB) *logSink {
	s := &logSink{t: t, stream: os.Getenv("AUTHZD_TEST_LOGS") == "stream", closing: -1}
	t.Cleanup(s.report)
	return s
}

// writer is the log output of node id.
func (s *logSink) writer(id string) io.Writer { return sinkWriter{s, id} }

type sinkWriter struct {
	s  *logSink
	id string
}

func (w sinkWriter) Write(p []byte) (int, error) {
	line := w.id + ": " + string(bytes.TrimSpace(p))
	if w.s.stream {
		w.s.t.Log(line)
		return len(p), nil
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if len(w.s.lines) == maxLogLines {
		half := maxLogLines / 2
		w.s.lines = append(w.s.lines[:0], w.s.lines[half:]...)
		w.s.dropped += half
		if w.s.closing >= 0 {
			w.s.closing = max(0, w.s.closing-half)
		}
	}
	w.s.lines = append(w.s.lines, line)
	return len(p), nil
}

// markClosing records that the cluster begins to close (the first time).
func (s *logSink) markClosing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing < 0 {
		s.closing = len(s.lines)
	}
}

func (s *logSink) report() {
	if s.stream || !s.t.Failed() {
		return
	}
	s.mu.Lock()
	lines, dropped, closing := s.lines, s.dropped, s.closing
	s.lines = nil // lines logged from now on are not reported
	s.mu.Unlock()
	if closing < 0 {
		closing = len(lines)
	}
	if len(lines) == 0 {
		return
	}
	where := "not saved: "
	if path, err := saveLog(s.t.Name(), lines); err != nil {
		where += err.Error()
	} else {
		where = "all of them in " + path
	}
	tail := lines[max(0, closing-logTail):closing]
	s.t.Logf("the nodes logged %d warnings and errors (%d older ones dropped; %s), %d of them while the cluster closed; the last %d before that:\n%s",
		len(lines), dropped, where, len(lines)-closing, len(tail), strings.Join(tail, "\n"))
}

// saveLog writes lines to a new file named after the test.
func saveLog(test string, lines []string) (string, error) {
	dir := filepath.Join(os.TempDir(), "authzd-test-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, strings.NewReplacer("/", "_", " ", "_").Replace(test)+"-*.log")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}
