package authz

import (
	"slices"
	"strings"
)

// renderTemplate applies the substitution variables of R-PAT-5 in order:
// user name, backend roles, security roles, then every attribute (keys in
// sorted order) as ${k} and ${k with '.' → '_'}. Unknown variables stay as
// they are (R-PAT-8); values are inserted verbatim (R-PAT-7).
func renderTemplate(raw string, s *Subject, securityRoles []string) string {
	if !strings.Contains(raw, "${") {
		return raw
	}
	out := raw
	if strings.Contains(out, "${user") {
		out = strings.ReplaceAll(out, "${user.name}", s.Name)
		out = strings.ReplaceAll(out, "${user_name}", s.Name)
		if strings.Contains(out, "${user.roles}") || strings.Contains(out, "${user_roles}") {
			q := quotedList(s.BackendRoles)
			out = strings.ReplaceAll(out, "${user.roles}", q)
			out = strings.ReplaceAll(out, "${user_roles}", q)
		}
		if strings.Contains(out, "${user.securityRoles}") || strings.Contains(out, "${user_securityRoles}") {
			q := quotedList(securityRoles)
			out = strings.ReplaceAll(out, "${user.securityRoles}", q)
			out = strings.ReplaceAll(out, "${user_securityRoles}", q)
		}
	}
	if len(s.Attributes) > 0 && strings.Contains(out, "${") {
		keys := make([]string, 0, len(s.Attributes))
		for k := range s.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := s.Attributes[k]
			out = strings.ReplaceAll(out, "${"+k+"}", v)
			if alt := strings.ReplaceAll(k, ".", "_"); alt != k {
				out = strings.ReplaceAll(out, "${"+alt+"}", v)
			}
		}
	}
	return out
}

// quotedList renders `"a","b"` (R-PAT-5 step 2/3).
func quotedList(l []string) string {
	var b strings.Builder
	for i, s := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	return b.String()
}
