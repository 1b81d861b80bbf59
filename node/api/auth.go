package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
)

// Caller is the authenticated subject of a request.
type Caller struct {
	// Name is the user name (for a certificate-only super admin, the certificate DN).
	Name string
	// Subject is what authz needs to map roles and decide.
	Subject authz.Subject
	// Roles are the mapped security roles, sorted.
	Roles []string
	// Internal is true when Name is an internal user; User is then its entry.
	Internal bool
	User     authz.InternalUser
	// CertDN is the verified client certificate's DN, if one was presented.
	CertDN string
	// SuperAdmin is true when CertDN is listed in plugins.security.authcz.admin_dn (R-EVAL-2).
	SuperAdmin bool
	// Node is true for a cluster node's certificate (OU=node from the cluster
	// CA); only the membership endpoints accept such callers.
	Node bool
}

// credCache remembers passwords that bcrypt already verified, so a request does
// not pay bcrypt twice. An entry holds an HMAC of the password under a per-process
// random key (never the password) and the bcrypt hash it was verified against: when
// the user's stored hash changes, the entry no longer matches and is dropped.
type credCache struct {
	macs sync.Pool // of *credMAC: an HMAC under the per-process key and its input buffer, reused
	mu   sync.Mutex
	m    map[string]credEntry
	max  int
	// hits and misses count verify calls answered from the cache and those
	// that ran bcrypt (authzd_cache_hits_total, authzd_cache_misses_total).
	hits, misses atomic.Uint64
}

type credEntry struct {
	mac  [32]byte
	hash string
}

func newCredCache(max int) *credCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	c := &credCache{m: map[string]credEntry{}, max: max}
	c.macs.New = func() any { return &credMAC{h: hmac.New(sha256.New, key)} }
	return c
}

// credMAC is the reusable state of one mac call: a fresh hmac.New per request
// cost eight allocations on every basic-auth call.
type credMAC struct {
	h        hash.Hash
	buf, sum []byte
}

func (c *credCache) mac(user, password string) [32]byte {
	m := c.macs.Get().(*credMAC)
	m.buf = append(append(append(m.buf[:0], user...), 0), password...)
	m.h.Reset()
	m.h.Write(m.buf)
	m.sum = m.h.Sum(m.sum[:0])
	var out [32]byte
	copy(out[:], m.sum)
	clear(m.buf) // the password does not stay in the pool
	c.macs.Put(m)
	return out
}

// verify reports whether password is right for the user whose stored hash is hash,
// from the cache when it can and with bcrypt otherwise.
func (c *credCache) verify(user, password, hash string) bool {
	mac := c.mac(user, password)
	c.mu.Lock()
	e, ok := c.m[user]
	c.mu.Unlock()
	if ok && e.hash == hash && hmac.Equal(e.mac[:], mac[:]) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	if !authz.VerifyPassword(hash, password) {
		return false
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // bounded memory; the next requests pay bcrypt once more
	}
	c.m[user] = credEntry{mac: mac, hash: hash}
	c.mu.Unlock()
	return true
}

// len is the number of cached entries.
func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// has reports whether user has a cached entry.
func (c *credCache) has(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[user]
	return ok
}

// flush drops every entry, or only the named users' entries when names are given.
func (c *credCache) flush(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(names) == 0 {
		clear(c.m)
		return
	}
	for _, n := range names {
		delete(c.m, n)
	}
}

// authenticate resolves the caller from the client certificate and basic auth.
// It returns ErrUnauthenticated when neither identifies a caller.
func (a *API) authenticate(r *http.Request, v *fsm.View) (*Caller, error) {
	c := &Caller{}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c.CertDN = a.dns.dn(r.TLS.VerifiedChains[0][0])
		c.SuperAdmin = slices.Contains(a.cfg.Settings.AdminDN, c.CertDN)
	}
	user, password, hasBasic := r.BasicAuth()
	switch {
	case hasBasic:
		u, ok := v.Config.InternalUsers[user]
		hash := u.Hash
		if !ok || hash == "" {
			hash = a.dummyHash
		}
		if !a.creds.verify(user, password, hash) || !ok || u.Hash == "" {
			return nil, ErrUnauthenticated
		}
		c.Name, c.Internal, c.User = user, true, u
		c.Subject = subjectOf(user, u)
	case c.SuperAdmin:
		c.Name = c.CertDN
		c.Subject = authz.Subject{Name: c.CertDN}
	default:
		return nil, ErrUnauthenticated
	}
	c.Subject.RemoteIP = remoteIP(r)
	c.Subject.RequestedTenant = r.Header.Get("Securitytenant") // the canonical form of securitytenant: Get need not allocate it
	c.Roles = v.Eval.MappedRoles(&c.Subject)
	return c, nil
}

// subjectOf builds the subject of an internal user (R-MAP-1, R-PAT-6).
func subjectOf(name string, u authz.InternalUser) authz.Subject {
	var attrs map[string]string // nil for the usual user without attributes: no allocation per request
	if len(u.Attributes) > 0 {
		attrs = make(map[string]string, len(u.Attributes))
		for k, val := range u.Attributes {
			attrs["attr.internal."+k] = val
		}
	}
	return authz.Subject{
		Name:          name,
		BackendRoles:  u.BackendRoles,
		SecurityRoles: u.SecurityRoles,
		Attributes:    attrs,
	}
}

func remoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
