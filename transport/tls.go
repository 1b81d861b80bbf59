package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Dev PKI layout and lifetimes. The admin subject is the one of the OpenSearch demo
// "kirk" certificate, so tooling written for the security plugin works unchanged.
const (
	caCommonName = "authzd dev CA"
	pkiValidity  = 10 * 365 * 24 * time.Hour
	// backdate tolerates clocks of other machines that run slightly behind.
	backdate = time.Hour
)

var adminSubject = pkix.Name{
	CommonName:         "kirk",
	OrganizationalUnit: []string{"client"},
	Organization:       []string{"client"},
	Locality:           []string{"test"},
	Country:            []string{"de"},
}

// PKI names the files of a development PKI created by EnsureDevPKI. Its methods
// only build paths; they do not check that the files exist.
type PKI struct {
	// Dir is the directory that holds every file of the PKI.
	Dir string
	// CAFile is the PEM file of the self-signed CA certificate (Dir/ca.pem).
	CAFile string
}

// caKeyFile is the PEM file of the CA's private key (Dir/ca-key.pem).
func (p *PKI) caKeyFile() string { return filepath.Join(p.Dir, "ca-key.pem") }

// NodeCertFile returns the path of node id's certificate (Dir/node-<id>.pem).
func (p *PKI) NodeCertFile(id string) string {
	return filepath.Join(p.Dir, "node-"+id+".pem")
}

// NodeKeyFile returns the path of node id's private key (Dir/node-<id>-key.pem).
func (p *PKI) NodeKeyFile(id string) string {
	return filepath.Join(p.Dir, "node-"+id+"-key.pem")
}

// AdminCertFile returns the path of the admin client certificate (Dir/admin.pem),
// whose subject is CN=kirk,OU=client,O=client,L=test,C=de.
func (p *PKI) AdminCertFile() string { return filepath.Join(p.Dir, "admin.pem") }

// AdminKeyFile returns the path of the admin client's private key
// (Dir/admin-key.pem).
func (p *PKI) AdminKeyFile() string { return filepath.Join(p.Dir, "admin-key.pem") }

// EnsureDevPKI makes sure dir holds a development PKI and returns its layout: a
// self-signed ECDSA P-256 CA (CN "authzd dev CA", valid ten years), one node
// certificate per id in nodeIDs (server and client auth; CN=<id>,OU=node,O=authzd;
// SANs 127.0.0.1, ::1, localhost and the id) and the admin client certificate
// (CN=kirk,OU=client,O=client,L=test,C=de).
//
// Files that exist are reused, never regenerated: a later call with the same ids
// changes nothing, and a call with a new id only adds that node's files, signed by
// the existing CA. A certificate without its key (or the reverse), or a certificate
// not signed by the CA, is an error rather than a reason to overwrite. dir is
// created with mode 0700 and keys are written with mode 0600.
//
// It is meant for `authzd dev` and tests; it does not lock dir against concurrent
// callers.
func EnsureDevPKI(dir string, nodeIDs []string) (*PKI, error) {
	nodes := make([]NodeCert, len(nodeIDs))
	for i, id := range nodeIDs {
		nodes[i] = NodeCert{ID: id}
	}
	return EnsurePKI(dir, nodes)
}

// NodeCert describes one node certificate of EnsurePKI.
type NodeCert struct {
	// ID is the node id: the certificate's CN and a SAN.
	ID string
	// Hosts are further SANs (IP addresses or DNS names) the node is reached
	// by, e.g. 10.0.0.1 or n1.example.com.
	Hosts []string
}

// EnsurePKI is EnsureDevPKI with extra SANs per node, for clusters whose nodes
// are reached by other addresses than their ids. Hosts only apply to node
// certificates created by this call; existing ones are kept as they are.
func EnsurePKI(dir string, nodes []NodeCert) (*PKI, error) {
	for _, n := range nodes {
		if err := validateNodeID(n.ID); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}

	ca, err := ensurePair(p.CAFile, p.caKeyFile(), nil, func() (*x509.Certificate, error) {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{"authzd"}},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true,
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("dev ca: %w", err)
	}

	for _, n := range nodes {
		_, err := ensurePair(p.NodeCertFile(n.ID), p.NodeKeyFile(n.ID), ca, func() (*x509.Certificate, error) {
			return nodeTemplate(n.ID, n.Hosts), nil
		})
		if err != nil {
			return nil, fmt.Errorf("dev node certificate %q: %w", n.ID, err)
		}
	}

	_, err = ensurePair(p.AdminCertFile(), p.AdminKeyFile(), ca, func() (*x509.Certificate, error) {
		return &x509.Certificate{
			Subject:     adminSubject,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("dev admin certificate: %w", err)
	}
	return p, nil
}

// validateNodeID rejects ids that are unsafe in a file name or a DNS SAN.
func validateNodeID(id string) error {
	if id == "" {
		return errors.New("empty node id")
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || (r == '.' && i > 0)
		if !ok {
			return fmt.Errorf("node id %q: only letters, digits, '-' and '.' (not first) are allowed", id)
		}
	}
	return nil
}

func nodeTemplate(id string, hosts []string) *x509.Certificate {
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         id,
			OrganizationalUnit: []string{"node"},
			Organization:       []string{"authzd"},
		},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	}
	for _, h := range append([]string{id}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl
}

// issuer is a CA certificate with its key.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// ensurePair loads the certificate and key at certFile and keyFile, or, when
// neither exists, creates them from the template returned by tmpl, signed by
// parent (self-signed when parent is nil).
func ensurePair(certFile, keyFile string, parent *issuer, tmpl func() (*x509.Certificate, error)) (*issuer, error) {
	certExists, err := fileExists(certFile)
	if err != nil {
		return nil, err
	}
	keyExists, err := fileExists(keyFile)
	if err != nil {
		return nil, err
	}
	switch {
	case certExists && keyExists:
		return loadPair(certFile, keyFile, parent)
	case certExists != keyExists:
		return nil, fmt.Errorf("%s and %s must both exist or both be absent; remove the other to regenerate",
			filepath.Base(certFile), filepath.Base(keyFile))
	}

	t, err := tmpl()
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if t.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}
	now := time.Now()
	t.NotBefore = now.Add(-backdate)
	t.NotAfter = now.Add(pkiValidity)
	signer, signerKey := t, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
		if t.NotAfter.After(parent.cert.NotAfter) {
			t.NotAfter = parent.cert.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, t, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	// The key goes first: a crash in between leaves a key without a certificate,
	// which the next call reports instead of silently reusing half a pair.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &issuer{cert: cert, key: key}, nil
}

// loadPair reads an existing pair and, when parent is set, checks that it was
// signed by parent.
func loadPair(certFile, keyFile string, parent *issuer) (*issuer, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", filepath.Base(certFile), err)
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Base(certFile), err)
		}
	}
	if parent != nil {
		if err := cert.CheckSignatureFrom(parent.cert); err != nil {
			return nil, fmt.Errorf("%s is not signed by the CA: %w", filepath.Base(certFile), err)
		}
		return &issuer{cert: cert}, nil
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: CA key is %T, want ECDSA", filepath.Base(keyFile), pair.PrivateKey)
	}
	return &issuer{cert: cert, key: key}, nil
}

// randomSerial returns a random, positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
}

// writeFileAtomic writes data to path through a temporary file and a rename, so a
// reader never sees a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// TLSMaterial is a loaded CA pool plus this process's certificate and key. It
// is safe for concurrent use; every config it returns is a fresh copy. The
// certificate can be replaced at run time (Reload, PUT ssl/.../reloadcerts):
// configs returned earlier pick the new one up for new connections.
type TLSMaterial struct {
	pool              *x509.CertPool
	cert              atomic.Pointer[tls.Certificate]
	certFile, keyFile string
}

// LoadTLS reads the PEM CA bundle caFile (the CA that peers' and clients'
// certificates must chain to, and that signs servers this process dials) and the
// PEM certificate and key this process presents.
func LoadTLS(caFile, certFile, keyFile string) (*TLSMaterial, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("ca file %s: no PEM certificate found", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load key pair %s: %w", certFile, err)
	}
	m := &TLSMaterial{pool: pool, certFile: certFile, keyFile: keyFile}
	m.cert.Store(&cert)
	return m, nil
}

// Reload reads the certificate and key files again and, when the new
// certificate chains to the CA pool, presents it on every new connection. The
// CA pool itself is not reloaded. On error the current certificate stays.
func (m *TLSMaterial) Reload() error {
	cert, err := tls.LoadX509KeyPair(m.certFile, m.keyFile)
	if err != nil {
		return fmt.Errorf("reload key pair %s: %w", m.certFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("reload %s: %w", m.certFile, err)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("reload %s: not signed by the cluster CA: %w", m.certFile, err)
	}
	m.cert.Store(&cert)
	return nil
}

// ServerConfig returns a server-side config that presents the certificate, requires
// TLS 1.2 or newer, and verifies client certificates against the CA pool as
// clientAuth says (tls.RequireAndVerifyClientCert for cluster links).
func (m *TLSMaterial) ServerConfig(clientAuth tls.ClientAuthType) *tls.Config {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*m.cert.Load()},
		ClientCAs:    m.pool,
		ClientAuth:   clientAuth,
	}
	cfg := base.Clone()
	// Each handshake takes the current certificate, so a Reload applies to
	// new connections without restarting listeners.
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.Certificates = []tls.Certificate{*m.cert.Load()}
		return c, nil
	}
	return cfg
}

// ClientConfig returns a client-side config that trusts only the CA pool, presents
// the certificate when the server asks for one (the current one, after a
// Reload), and requires TLS 1.2 or newer. ServerName is left empty:
// crypto/tls derives it from the dialed address, or the caller sets it. A
// caller that wants no client certificate must clear both Certificates and
// GetClientCertificate.
func (m *TLSMaterial) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*m.cert.Load()},
		RootCAs:      m.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.cert.Load(), nil
		},
	}
}

// Certificates returns the parsed certificate chain this process presents,
// leaf first.
func (m *TLSMaterial) Certificates() []*x509.Certificate {
	cert := m.cert.Load()
	out := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}
