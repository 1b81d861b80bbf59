package transport

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
)

// attributeKeywords are the attribute types that Java's X500Principal renders by
// keyword in RFC 2253 form; every other type is rendered as its dotted OID.
var attributeKeywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// attribute is one AttributeTypeAndValue with its value kept raw, so that
// non-keyword attributes can be rendered from their exact DER bytes.
type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rdnSET is a RelativeDistinguishedName; the SET suffix makes encoding/asn1 parse
// it as a SET OF.
type rdnSET []attribute

// DN renders cert's subject the way the OpenSearch security plugin sees it when it
// matches admin_dn and nodes_dn (Java's X500Principal.getName(RFC2253)): the most
// specific RDN first, keywords CN, C, L, ST, STREET, O, OU, UID and DC, other types
// as OID=#hex of the DER value, multi-valued RDNs joined with '+', and RFC 2253
// escaping. The demo admin certificate renders as
// CN=kirk,OU=client,O=client,L=test,C=de.
//
// Comparing DNs (case, spacing) is left to the caller; DN only renders.
func DN(cert *x509.Certificate) string { return renderDN(cert.RawSubject, cert.Subject.String()) }

// IssuerDN renders cert's issuer like DN renders its subject (the plugin's
// X500Principal.getName() of the issuer, as GET ssl/certs shows it).
func IssuerDN(cert *x509.Certificate) string { return renderDN(cert.RawIssuer, cert.Issuer.String()) }

func renderDN(raw []byte, fallback string) string {
	var seq []rdnSET
	rest, err := asn1.Unmarshal(raw, &seq)
	if err != nil || len(rest) > 0 {
		// x509.ParseCertificate already parsed this name, so this cannot happen
		// for a parsed certificate; fall back to Go's own rendering.
		return fallback
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i < len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, atv)
		}
	}
	return b.String()
}

func writeAttribute(b *strings.Builder, atv attribute) {
	oid := atv.Type.String()
	keyword, ok := attributeKeywords[oid]
	if ok {
		var s string
		if rest, err := asn1.Unmarshal(atv.Value.FullBytes, &s); err == nil && len(rest) == 0 {
			b.WriteString(keyword)
			b.WriteByte('=')
			writeEscaped(b, s)
			return
		}
	}
	if !ok {
		keyword = oid
	}
	b.WriteString(keyword)
	b.WriteString("=#")
	b.WriteString(hex.EncodeToString(atv.Value.FullBytes))
}

// writeEscaped escapes a value as RFC 2253 section 2.4 requires.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(`,+"\<>;`, c) >= 0,
			c == '#' && i == 0,
			c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}
