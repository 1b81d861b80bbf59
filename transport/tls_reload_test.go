package transport

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
)

// TestReload: after the files are replaced, Reload makes configs returned
// earlier present the new certificate on new connections (server and
// client side); a certificate of another CA is refused and the old one stays.
func TestReload(t *testing.T) {
	p := testPKI(t, "n1", "n9")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(p.NodeCertFile("n1"), certFile)
	copyFile(p.NodeKeyFile("n1"), keyFile)
	m, err := LoadTLS(p.CAFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := m.ServerConfig(tls.RequireAndVerifyClientCert), m.ClientConfig()
	peer := func() (serverCN, clientCN string) {
		t.Helper()
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				got <- err.Error()
				return
			}
			got <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), cli)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, <-got
	}
	if s, c := peer(); s != "n1" || c != "n1" {
		t.Fatalf("before reload: server %s client %s", s, c)
	}
	copyFile(p.NodeCertFile("n9"), certFile)
	copyFile(p.NodeKeyFile("n9"), keyFile)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if s, c := peer(); s != "n9" || c != "n9" {
		t.Fatalf("after reload: server %s client %s", s, c)
	}
	if got := m.Certificates()[0].Subject.CommonName; got != "n9" {
		t.Errorf("Certificates = %s", got)
	}
	foreign := testPKI(t, "x1")
	copyFile(foreign.NodeCertFile("x1"), certFile)
	copyFile(foreign.NodeKeyFile("x1"), keyFile)
	if err := m.Reload(); err == nil {
		t.Fatal("certificate of another CA accepted")
	}
	if got := m.Certificates()[0].Subject.CommonName; got != "n9" {
		t.Errorf("failed reload changed the certificate to %s", got)
	}
}
