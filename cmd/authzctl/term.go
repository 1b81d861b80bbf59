package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
)

// isTerminal reports whether f is a terminal: progress and colours are shown
// only there, plain text when output is piped.
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// ANSI colours of the change listing.
const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

// painter colours text when its stream is a terminal (or --color=always).
type painter struct{ on bool }

func (p painter) paint(color, s string) string {
	if !p.on || s == "" {
		return s
	}
	return color + s + ansiReset
}

// progress shows what authzctl is doing on stderr, as a status line that is
// redrawn in place, with a bar for byte counts. It shows nothing when stderr
// is not a terminal.
type progress struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

func (g *globals) newProgress() *progress {
	return &progress{w: g.env.stderr, on: g.env.stderrTTY}
}

// status replaces the status line.
func (p *progress) status(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\x1b[K%s", fmt.Sprintf(format, args...))
}

// clear removes the status line.
func (p *progress) clear() {
	p.halt()
	if p.on {
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\x1b[K")
		p.mu.Unlock()
	}
}

// bytes draws a bar for total bytes while the counter grows, until halt.
func (p *progress) bytes(label string, total int64, n *atomic.Int64) {
	if !p.on {
		return
	}
	p.halt()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			cur := n.Load()
			const width = 30
			fill := 0
			if total > 0 {
				fill = int(min(cur, total) * width / total)
			}
			bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
			if cur >= total {
				p.status("%s [%s] %s, waiting for the cluster", label, bar, mb(total))
			} else {
				p.status("%s [%s] %s / %s", label, bar, mb(cur), mb(total))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}(p.stop, p.done)
}

// halt stops a running bar.
func (p *progress) halt() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop, p.done = nil, nil
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
