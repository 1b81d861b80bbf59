package authz

import "unicode/utf8"

// Subject is who asks (R-MAP-1): the authenticated user, its backend roles, its
// directly assigned security roles and attributes, the requested tenant and the
// caller's address. A Subject is read, never modified, by the Evaluator.
type Subject struct {
	// Name is the user name.
	Name string
	// BackendRoles are the backend roles in the order the authenticator added
	// them; the order only matters for the 403 text (R-ERR-3).
	BackendRoles []string
	// SecurityRoles are roles set directly (an internal user's
	// opendistro_security_roles, R-MAP-2).
	SecurityRoles []string
	// Attributes are the user attributes, keys with their source prefix, e.g.
	// "attr.internal.dept" (R-PAT-6).
	Attributes map[string]string
	// RequestedTenant is the securitytenant header value; "" means none and
	// prints as null.
	RequestedTenant string
	// RemoteIP is the caller's IP address as a string, matched by role mapping
	// hosts (R-MAP-5).
	RemoteIP string
	// RemoteHost is an optional host name supplied by the caller (R-MAP-5);
	// authzd never resolves names itself.
	RemoteHost string
}

// javaStringHash is Java's String.hashCode over the UTF-16 code units of s
// (h = 31*h + c, 32-bit wrap-around). Invalid UTF-8 bytes count as U+FFFD.
func javaStringHash(s string) int32 {
	var h int32
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaHashSetOrder returns the distinct elements of in, in the iteration order
// of a java.util.HashSet<String> built by adding them one by one: bucket =
// (h ^ h>>>16) & (cap-1), capacity 16 doubling when the size exceeds 0.75×cap
// (and when a bucket would exceed 8 entries while cap < 64, as HashMap.treeifyBin
// does), same-bucket entries in insertion order. Java's resize keeps the relative
// order of entries that share a bucket, so the result only depends on the final
// capacity. Tree bins (≥ 9 colliding names with cap ≥ 64) are not modelled.
// The result is appended to dst.
func javaHashSetOrder(in []string, dst []string) []string {
	switch len(in) {
	case 0:
		return dst
	case 1:
		return append(dst, in[0])
	}
	// Deduplicate keeping the first occurrence, and find the final capacity.
	start := len(dst)
	capacity := 16
	for _, s := range in {
		dup := false
		for _, t := range dst[start:] {
			if t == s {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		dst = append(dst, s)
		size := len(dst) - start
		if capacity < 64 {
			// HashMap.putVal: a bucket that already held 8 entries triggers
			// treeifyBin, which resizes while the table is smaller than 64.
			b := javaBucket(s, capacity)
			same := 0
			for _, t := range dst[start : len(dst)-1] {
				if javaBucket(t, capacity) == b {
					same++
				}
			}
			if same >= 8 {
				capacity *= 2
			}
		}
		if float64(size) > 0.75*float64(capacity) {
			capacity *= 2
		}
	}
	set := dst[start:]
	// Stable sort by bucket: insertion order is kept inside a bucket.
	for i := 1; i < len(set); i++ {
		v := set[i]
		bv := javaBucket(v, capacity)
		j := i
		for j > 0 && javaBucket(set[j-1], capacity) > bv {
			set[j] = set[j-1]
			j--
		}
		set[j] = v
	}
	return dst
}

func javaBucket(s string, capacity int) int {
	h := uint32(javaStringHash(s))
	return int((h ^ (h >> 16)) & uint32(capacity-1))
}

// InternalSubject is the Subject the internal authentication backend builds
// for the internal user name (R-MAP-1): its backend roles, its
// opendistro_security_roles as direct roles, and its attributes under the
// attr.internal. prefix (R-PAT-6). The caller adds the address and the
// requested tenant.
func InternalSubject(name string, u InternalUser) Subject {
	attrs := make(map[string]string, len(u.Attributes))
	for k, v := range u.Attributes {
		attrs["attr.internal."+k] = v
	}
	return Subject{Name: name, BackendRoles: u.BackendRoles, SecurityRoles: u.SecurityRoles, Attributes: attrs}
}
