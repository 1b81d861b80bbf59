package transport

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return pair.Leaf
}

func TestEnsureDevPKIReusesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	p, err := EnsureDevPKI(dir, []string{"n1", "n2"})
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	files := []string{p.CAFile, p.caKeyFile(), p.NodeCertFile("n1"), p.NodeKeyFile("n1"),
		p.NodeCertFile("n2"), p.NodeKeyFile("n2"), p.AdminCertFile(), p.AdminKeyFile()}
	before := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		before[f] = b
	}

	p2, err := EnsureDevPKI(dir, []string{"n1", "n2", "n3"})
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if *p2 != *p {
		t.Errorf("second call PKI = %+v, want %+v", *p2, *p)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		if !bytes.Equal(b, before[f]) {
			t.Errorf("%s changed on second call", filepath.Base(f))
		}
	}
	ca := readCert(t, p.CAFile)
	if err := readCert(t, p.NodeCertFile("n3")).CheckSignatureFrom(ca); err != nil {
		t.Errorf("n3 added later is not signed by the existing CA: %v", err)
	}
}

func TestEnsureDevPKIPermissions(t *testing.T) {
	p := testPKI(t, "n1")
	tests := []struct {
		path string
		want os.FileMode
	}{
		{p.Dir, 0o700 | os.ModeDir},
		{p.caKeyFile(), 0o600},
		{p.NodeKeyFile("n1"), 0o600},
		{p.AdminKeyFile(), 0o600},
	}
	for _, tc := range tests {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(tc.path), fi.Mode(), tc.want)
		}
	}
}

func TestEnsureDevPKICertificates(t *testing.T) {
	p := testPKI(t, "n1")
	ca := readCert(t, p.CAFile)
	node := readCert(t, p.NodeCertFile("n1"))
	admin := readCert(t, p.AdminCertFile())

	t.Run("ca", func(t *testing.T) {
		if !ca.IsCA || ca.Subject.CommonName != "authzd dev CA" {
			t.Errorf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
		}
		if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
		}
		if err := ca.CheckSignatureFrom(ca); err != nil {
			t.Errorf("CA not self-signed: %v", err)
		}
		if life := ca.NotAfter.Sub(ca.NotBefore); life < 10*365*24*time.Hour {
			t.Errorf("CA lifetime %s, want 10 years", life)
		}
	})

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	t.Run("node", func(t *testing.T) {
		if got, want := DN(node), "CN=n1,OU=node,O=authzd"; got != want {
			t.Errorf("node DN = %q, want %q", got, want)
		}
		for _, name := range []string{"n1", "localhost", "127.0.0.1", "::1"} {
			if _, err := node.Verify(x509.VerifyOptions{Roots: pool, DNSName: name,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("node cert as server for %s: %v", name, err)
			}
		}
		if _, err := node.Verify(x509.VerifyOptions{Roots: pool,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("node cert as client: %v", err)
		}
	})
	t.Run("admin", func(t *testing.T) {
		if got, want := DN(admin), "CN=kirk,OU=client,O=client,L=test,C=de"; got != want {
			t.Errorf("admin DN = %q, want %q", got, want)
		}
		if !slices.Equal(admin.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
			t.Errorf("admin EKU = %v, want client auth only", admin.ExtKeyUsage)
		}
		if _, err := admin.Verify(x509.VerifyOptions{Roots: pool,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("admin cert as client: %v", err)
		}
	})
	t.Run("serials", func(t *testing.T) {
		for _, c := range []*x509.Certificate{ca, node, admin} {
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("%s serial %v is not a random 128-bit number", c.Subject.CommonName, c.SerialNumber)
			}
		}
	})
}

func TestEnsureDevPKIErrors(t *testing.T) {
	tests := []struct {
		name  string
		ids   []string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{name: "empty id", ids: []string{""}, want: "empty node id"},
		{name: "path in id", ids: []string{"../x"}, want: "only letters"},
		{name: "leading dot", ids: []string{".x"}, want: "only letters"},
		{
			name: "key without certificate",
			ids:  []string{"n1"},
			setup: func(t *testing.T, dir string) {
				if _, err := EnsureDevPKI(dir, []string{"n1"}); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(dir, "node-n1.pem")); err != nil {
					t.Fatal(err)
				}
			},
			want: "must both exist",
		},
		{
			name: "certificate of another CA",
			ids:  []string{"n1"},
			setup: func(t *testing.T, dir string) {
				if _, err := EnsureDevPKI(dir, []string{"n1"}); err != nil {
					t.Fatal(err)
				}
				other := testPKI(t, "n1")
				for _, f := range []string{"node-n1.pem", "node-n1-key.pem"} {
					b, err := os.ReadFile(filepath.Join(other.Dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: "not signed by the CA",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			_, err := EnsureDevPKI(dir, tc.ids)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("EnsureDevPKI error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadTLSConfigs(t *testing.T) {
	p := testPKI(t, "n1")
	m := nodeTLS(t, p, "n1")
	srv := m.ServerConfig(tls.RequireAndVerifyClientCert)
	if srv.MinVersion < tls.VersionTLS12 || srv.ClientCAs == nil || srv.ClientAuth != tls.RequireAndVerifyClientCert ||
		len(srv.Certificates) != 1 {
		t.Errorf("ServerConfig = %+v", srv)
	}
	cli := m.ClientConfig()
	if cli.MinVersion < tls.VersionTLS12 || cli.RootCAs == nil || len(cli.Certificates) != 1 {
		t.Errorf("ClientConfig = %+v", cli)
	}

	// A plain TLS round trip with the admin certificate as client.
	admin, err := LoadTLS(p.CAFile, p.AdminCertFile(), p.AdminKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gotDN := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			gotDN <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			gotDN <- err.Error()
			return
		}
		gotDN <- DN(tc.ConnectionState().PeerCertificates[0])
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), admin.ClientConfig())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got, want := <-gotDN, "CN=kirk,OU=client,O=client,L=test,C=de"; got != want {
		t.Errorf("server saw client %q, want %q", got, want)
	}

	if _, err := LoadTLS(filepath.Join(p.Dir, "missing.pem"), p.NodeCertFile("n1"), p.NodeKeyFile("n1")); err == nil {
		t.Error("LoadTLS with a missing CA file succeeded")
	}
	if _, err := LoadTLS(p.NodeKeyFile("n1"), p.NodeCertFile("n1"), p.NodeKeyFile("n1")); err == nil {
		t.Error("LoadTLS with a key as CA file succeeded")
	}
}

// TestEnsurePKIHosts: extra hosts become SANs a peer can verify, and do not
// leak into other nodes' certificates.
func TestEnsurePKIHosts(t *testing.T) {
	p, err := EnsurePKI(t.TempDir(), []NodeCert{{ID: "n1", Hosts: []string{"10.0.0.1", "n1.example.com"}}, {ID: "n2"}})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, p.CAFile))
	verify := func(id, name string) error {
		_, err := readCert(t, p.NodeCertFile(id)).Verify(x509.VerifyOptions{Roots: pool, DNSName: name,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	for _, name := range []string{"n1", "10.0.0.1", "n1.example.com", "127.0.0.1"} {
		if err := verify("n1", name); err != nil {
			t.Errorf("n1 as %s: %v", name, err)
		}
	}
	if err := verify("n2", "10.0.0.1"); err == nil {
		t.Error("n2's certificate is valid for n1's address")
	}
}
