package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// certWithSubject returns a self-signed certificate whose subject is exactly rdns,
// in that DER order.
func certWithSubject(t *testing.T, rdns pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		RawSubject:   raw,
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func rdn(oid asn1.ObjectIdentifier, v any) pkix.RelativeDistinguishedNameSET {
	return pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}}
}

var (
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidL     = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

func TestDN(t *testing.T) {
	tests := []struct {
		name string
		rdns pkix.RDNSequence
		want string
	}{
		{
			name: "demo admin, least specific first in DER",
			rdns: pkix.RDNSequence{rdn(oidC, "de"), rdn(oidL, "test"), rdn(oidO, "client"), rdn(oidOU, "client"), rdn(oidCN, "kirk")},
			want: "CN=kirk,OU=client,O=client,L=test,C=de",
		},
		{
			name: "DER order is kept, not canonicalised",
			rdns: pkix.RDNSequence{rdn(oidCN, "kirk"), rdn(oidO, "client")},
			want: "O=client,CN=kirk",
		},
		{
			name: "domain components",
			rdns: pkix.RDNSequence{rdn(oidDC, "com"), rdn(oidDC, "example"), rdn(oidCN, "node1")},
			want: "CN=node1,DC=example,DC=com",
		},
		{
			name: "special characters escaped",
			rdns: pkix.RDNSequence{rdn(oidCN, `a,b+c"d\e<f>g;h`)},
			want: `CN=a\,b\+c\"d\\e\<f\>g\;h`,
		},
		{
			name: "leading hash and outer spaces escaped",
			rdns: pkix.RDNSequence{rdn(oidCN, "#x y "), rdn(oidOU, " z")},
			want: `OU=\ z,CN=\#x y\ `,
		},
		{
			name: "utf-8 value",
			rdns: pkix.RDNSequence{rdn(oidCN, "Müller")},
			want: "CN=Müller",
		},
		{
			name: "non-keyword attribute as hex",
			rdns: pkix.RDNSequence{rdn(oidCN, "kirk"), {{Type: oidEmail, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("a@b")}}}},
			want: "1.2.840.113549.1.9.1=#1603614062,CN=kirk",
		},
		{
			name: "multi-valued RDN",
			rdns: pkix.RDNSequence{rdn(oidO, "acme"), {{Type: oidCN, Value: "x"}, {Type: oidOU, Value: "y"}}},
			want: "CN=x+OU=y,O=acme",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DN(certWithSubject(t, tc.rdns)); got != tc.want {
				t.Errorf("DN = %q, want %q", got, tc.want)
			}
		})
	}
}
