package api

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/transport"
)

// CertificateSource is implemented by a Backend that knows the node's TLS
// certificates; without it GET ssl/certs answers the plugin's "keystore is not
// initialized".
type CertificateSource interface {
	// Certificates returns the certificate chains the node presents on its
	// HTTPS listener and on its transport (Raft and forwarding) links.
	Certificates() (httpCerts, transportCerts []*x509.Certificate)
}

// CertificateReloader is implemented by a Backend that can replace its
// certificate at run time (PUT ssl/{http,transport}/reloadcerts).
type CertificateReloader interface {
	// ReloadCertificates reads the node's certificate and key files again;
	// kind is "http" or "transport".
	ReloadCertificates(kind string) error
}

// certInfo is one entry of GET ssl/certs (the plugin's certificate details).
type certInfo struct {
	IssuerDN  string `json:"issuer_dn"`
	SubjectDN string `json:"subject_dn"`
	SAN       string `json:"san"`
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after"`
}

// sslCerts serves GET ssl/certs (SecuritySSLCertsApiAction): admin for
// restapi:admin/ssl/certs/info, then the node's certificates as
// {"http_certificates_list":[...],"transport_certificates_list":[...]}.
func (a *API) sslCerts(w http.ResponseWriter, r *request) error {
	if !a.isAdminFor(r, authz.EndpointSSL, authz.AdminActionCertsInfo) {
		return accessDenied()
	}
	src, ok := a.cfg.Backend.(CertificateSource)
	if !ok {
		status(w, http.StatusOK, "keystore is not initialized")
		return nil
	}
	httpCerts, transportCerts := src.Certificates()
	writeJSON(w, http.StatusOK, map[string][]certInfo{
		"http_certificates_list":      certInfos(httpCerts),
		"transport_certificates_list": certInfos(transportCerts),
	})
	return nil
}

func certInfos(certs []*x509.Certificate) []certInfo {
	out := make([]certInfo, 0, len(certs))
	for _, c := range certs {
		out = append(out, certInfo{
			IssuerDN:  transport.IssuerDN(c),
			SubjectDN: transport.DN(c),
			SAN:       javaSANs(c),
			NotBefore: c.NotBefore.UTC().Format("2006-01-02T15:04:05Z"),
			NotAfter:  c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
		})
	}
	return out
}

// javaSANs renders the subject alternative names as the plugin does: Java's
// getSubjectAlternativeNames entries [type, value] in a set sorted by type and
// then value, printed by List.toString, e.g. "[[2, localhost], [7, 127.0.0.1]]".
// IPv6 addresses are in Java's full form (0:0:0:0:0:0:0:1). "" when there are
// none.
func javaSANs(c *x509.Certificate) string {
	type san struct {
		typ int
		val string
	}
	var sans []san
	for _, e := range c.EmailAddresses {
		sans = append(sans, san{1, e})
	}
	for _, d := range c.DNSNames {
		sans = append(sans, san{2, d})
	}
	for _, u := range c.URIs {
		sans = append(sans, san{6, u.String()})
	}
	for _, ip := range c.IPAddresses {
		sans = append(sans, san{7, javaIP(ip)})
	}
	if len(sans) == 0 {
		return ""
	}
	sort.Slice(sans, func(i, j int) bool {
		if sans[i].typ != sans[j].typ {
			return sans[i].typ < sans[j].typ
		}
		return sans[i].val < sans[j].val
	})
	parts := make([]string, 0, len(sans))
	for i, s := range sans {
		if i > 0 && s == sans[i-1] {
			continue
		}
		parts = append(parts, fmt.Sprintf("[%d, %s]", s.typ, s.val))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func javaIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = fmt.Sprintf("%x", uint16(ip[2*i])<<8|uint16(ip[2*i+1]))
	}
	return strings.Join(groups, ":")
}

// sslReload serves PUT ssl/{http,transport}/reloadcerts
// (SecuritySSLCertsApiAction): admin for restapi:admin/ssl/certs/reload;
// without plugins.security.ssl_cert_reload_enabled the plugin's 400. The node
// reads its certificate and key files again and presents the new certificate
// on new connections; it must chain to the cluster CA, which is not reloaded.
// authzd presents one certificate on HTTPS and on its transport links, so
// either kind reloads both.
func (a *API) sslReload(w http.ResponseWriter, r *request) error {
	if !a.isAdminFor(r, authz.EndpointSSL, authz.AdminActionCertsReload) {
		return accessDenied()
	}
	if !a.cfg.Settings.SSLCertReloadEnabled {
		return authz.StatusMessage(http.StatusBadRequest, fmt.Sprintf(
			"no handler found for uri [%s] and method [%s]. In order to use SSL reload functionality set plugins.security.ssl_cert_reload_enabled to true",
			r.URL.Path, r.Method))
	}
	kind := strings.ToLower(strings.TrimSpace(r.PathValue("certType")))
	if kind != "http" && kind != "transport" {
		return authz.StatusMessage(http.StatusForbidden,
			"invalid uri path, please use /_plugins/_security/api/ssl/http/reload or /_plugins/_security/api/ssl/transport/reload")
	}
	rl, ok := a.cfg.Backend.(CertificateReloader)
	if !ok {
		return notImplemented(r.Method)
	}
	if err := rl.ReloadCertificates(kind); err != nil {
		return fmt.Errorf("reload %s certificates: %w", kind, err)
	}
	a.log.Info("certificates reloaded", "kind", kind)
	writeJSON(w, http.StatusOK, map[string]string{"message": "updated " + kind + " certs"})
	return nil
}
