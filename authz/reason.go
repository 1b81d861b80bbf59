package authz

// reasonUser is the part of a Subject the 403 text prints (R-ERR-1).
type reasonUser struct {
	name, tenant string
	backendRoles []string
}

// ReasonText returns the plugin's 403 text of a denial (R-ERR-1), "" when
// d is allowed: Reason when it is set (Evaluate), otherwise rendered from
// Missing and the subject of the request EvaluateInto decided. That
// subject's BackendRoles slice is referenced, not copied, so it must not be
// changed before the text is rendered.
func (d *Decision) ReasonText() string {
	if !d.denied || d.Reason != "" {
		return d.Reason
	}
	var buf [256]byte
	return string(appendReason(buf[:0], d.Missing, &d.user))
}

// AppendReason appends the text ReasonText returns to dst, allocating only
// when dst has to grow.
func (d *Decision) AppendReason(dst []byte) []byte {
	switch {
	case !d.denied:
		return dst
	case d.Reason != "":
		return append(dst, d.Reason...)
	}
	return appendReason(dst, d.Missing, &d.user)
}

// appendReason appends "no permissions for [<missing>] and <user>"
// (R-ERR-1, R-ERR-2).
func appendReason(b []byte, missing []string, u *reasonUser) []byte {
	b = append(b, "no permissions for ["...)
	for i, m := range missing {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, m...)
	}
	b = append(b, "] and "...)
	return appendUser(b, u)
}

// appendUser appends the plugin's User.toString (R-ERR-1), backend roles in
// java.util.HashSet iteration order (R-ERR-3).
func appendUser(b []byte, u *reasonUser) []byte {
	b = append(b, "User [name="...)
	b = append(b, u.name...)
	b = append(b, ", backend_roles=["...)
	var buf [16]string
	for i, r := range javaHashSetOrder(u.backendRoles, buf[:0]) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, r...)
	}
	b = append(b, "], requestedTenant="...)
	if u.tenant == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, u.tenant...)
	}
	return append(b, ']')
}

// UserString renders the subject the way the plugin's User.toString does
// (R-ERR-1): "User [name=<n>, backend_roles=[<b1>, <b2>], requestedTenant=<t|null>]",
// backend roles in java.util.HashSet iteration order (R-ERR-3).
func UserString(s *Subject) string {
	u := reasonUser{name: s.Name, tenant: s.RequestedTenant, backendRoles: s.BackendRoles}
	var buf [128]byte
	return string(appendUser(buf[:0], &u))
}
