package transport

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLinksDialContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	var links Links
	tr := &http.Transport{DialContext: links.DialContext(nil)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func() error {
		resp, err := client.Get(srv.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}

	if err := get(); err != nil {
		t.Fatalf("get before block: %v", err)
	}
	if n := trackedConns(&links); n != 1 {
		t.Fatalf("%d tracked connections after a keep-alive request, want 1", n)
	}

	links.Block(addr)
	if !links.IsBlocked(addr) {
		t.Fatal("IsBlocked after Block = false")
	}
	if n := trackedConns(&links); n != 0 {
		t.Fatalf("%d tracked connections after Block, want 0 (cut)", n)
	}
	if err := get(); !errors.Is(err, ErrLinkBlocked) {
		t.Fatalf("get while blocked: %v, want ErrLinkBlocked", err)
	}

	links.Unblock(addr)
	if err := get(); err != nil {
		t.Fatalf("get after unblock: %v", err)
	}
}

func TestLinksCutClosesConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peerClosed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peerClosed <- err
			return
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		peerClosed <- err
	}()

	var links Links
	c, err := links.DialContext(nil)(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	links.Block("other:1")
	if _, err := c.Write([]byte{}); err != nil {
		t.Fatalf("connection cut by blocking another address: %v", err)
	}
	links.Block(ln.Addr().String())
	if err := <-peerClosed; !errors.Is(err, io.EOF) {
		t.Fatalf("peer read after Block: %v, want EOF", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a cut connection: %v, want net.ErrClosed", err)
	}

	links.UnblockAll()
	if links.IsBlocked(ln.Addr().String()) || links.IsBlocked("other:1") {
		t.Fatal("UnblockAll left a link blocked")
	}
}

func trackedConns(l *Links) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
