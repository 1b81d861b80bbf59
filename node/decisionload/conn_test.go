package decisionload

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConnPool holds the kept-connection client to what net/http's server
// makes of it: one connection for calls in sequence, the request's path,
// headers and body intact, answers framed by length or chunked, and a
// connection the server closes replaced by a new one.
func TestConnPool(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+user+":"+pass+" "+string(body))
		mu.Unlock()
		switch r.URL.Path {
		case "/chunked":
			w.WriteHeader(http.StatusForbidden)
			w.(http.Flusher).Flush() // forces chunked framing
			io.WriteString(w, `{"allowed":false,`)
			io.WriteString(w, strings.Repeat(" ", 5000)+`}`)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, `closing`)
		default:
			io.WriteString(w, `{"allowed":true,"x":1}`)
		}
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	var dialed atomic.Int64
	auth := http.Header{}
	(&http.Request{Header: auth}).SetBasicAuth("pep", "s3cret")
	p, err := newConnPool(srv.URL, srv.Client(), auth.Get("Authorization"), &dialed)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var buf bytes.Buffer
	post := func(path, payload string) (int, string) {
		t.Helper()
		buf.Reset()
		status, err := p.post(path, []byte(payload), &buf)
		if err != nil {
			t.Fatalf("post %s: %v", path, err)
		}
		return status, buf.String()
	}
	for i := range 3 {
		if status, got := post("/eval", fmt.Sprintf(`{"n":%d}`, i)); status != 200 || got != `{"allowed":true,"x":1}` {
			t.Fatalf("call %d: %d %q", i, status, got)
		}
	}
	if status, got := post("/chunked", `{}`); status != 403 || len(got) != 5018 || !strings.HasPrefix(got, `{"allowed":false,`) {
		t.Fatalf("chunked: %d, %d bytes", status, len(got))
	}
	if d := dialed.Load(); d != 1 {
		t.Fatalf("calls in sequence dialed %d connections, want 1", d)
	}
	if status, got := post("/close", `{}`); status != 200 || got != "closing" {
		t.Fatalf("close: %d %q", status, got)
	}
	if status, _ := post("/eval", `{}`); status != 200 {
		t.Fatalf("after close: %d", status)
	}
	if d := dialed.Load(); d != 2 {
		t.Fatalf("after the server closed one, %d connections dialed, want 2", d)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("server saw %d connections, want 2", n)
	}
	if err := p.warm(4); err != nil {
		t.Fatal(err)
	}
	if d := dialed.Load(); d != 5 {
		t.Fatalf("warm(4) with one idle connection: %d dialed in all, want 5", d)
	}
	p.maxIdle = 0 // every idle connection is now too old
	if status, _ := post("/eval", `{}`); status != 200 {
		t.Fatalf("after retiring: %d", status)
	}
	if d, idle := dialed.Load(), len(p.idle); d != 6 || idle != 1 {
		t.Fatalf("with the idle connections too old: %d dialed in all, %d idle; want 6 and 1", d, idle)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := `POST /eval application/json pep:s3cret {"n":0}`; seen[0] != want {
		t.Fatalf("server saw %q, want %q", seen[0], want)
	}
}

// TestConnPoolRefusesOtherSchemes: only http and https URLs make a pool.
func TestConnPoolRefusesOtherSchemes(t *testing.T) {
	if _, err := newConnPool("ftp://127.0.0.1:21", nil, "", new(atomic.Int64)); err == nil {
		t.Fatal("ftp URL accepted")
	}
}
