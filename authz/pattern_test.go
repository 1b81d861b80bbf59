package authz

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// globDP is a trivially correct glob matcher for R-PAT-2 (dynamic
// programming over characters): '*' matches any sequence, '?' exactly one
// character, everything else itself.
func globDP(p, s string) bool {
	sr := []rune(s)
	// m[j] reports whether the pattern so far matches sr[:j].
	m := make([]bool, len(sr)+1)
	m[0] = true
	for _, c := range p {
		next := make([]bool, len(sr)+1)
		for j := 0; j <= len(sr); j++ {
			switch {
			case c == '*':
				next[j] = m[j] || (j > 0 && next[j-1])
			case j > 0 && (c == '?' || c == sr[j-1]):
				next[j] = m[j-1]
			}
		}
		m = next
	}
	return m[len(sr)]
}

func TestPattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{"R-PAT-1 blank matches nothing", "  ", "  ", false},
		{"R-PAT-1 empty matches nothing", "", "", false},
		{"R-PAT-1 star matches all", "*", "", true},
		{"R-PAT-1 exact", "logs", "logs", true},
		{"R-PAT-1 exact differs", "logs", "logs1", false},
		{"R-PAT-1 regex whole string", "/logs-[0-9]+/", "logs-12", true},
		{"R-PAT-1 regex anchored", "/logs-[0-9]+/", "xlogs-12", false},
		{"R-PAT-1 slash alone is exact", "/", "/", true},
		{"R-PAT-1 empty regex", "//", "", true},
		{"R-PAT-4 invalid regex matches nothing", "/(/", "(", false},
		{"R-PAT-2 star spans separators", "indices:*", "indices:data/read/search", true},
		{"R-PAT-2 star matches empty", "logs-*", "logs-", true},
		{"R-PAT-2 question one char", "logs-?", "logs-1", true},
		{"R-PAT-2 question not zero", "logs-?", "logs-", false},
		{"R-PAT-2 question one rune", "h?r", "här", true},
		{"R-PAT-2 infix", "*ogs*", "logs", true},
		{"R-PAT-2 suffix", "*-docs", "hr-docs", true},
		{"R-PAT-2 brackets literal", "a[b]*", "a[b]c", true},
		{"R-PAT-2 backtracking", "*a*b*c", "xaxbxbxc", true},
		{"R-PAT-3 case-sensitive", "Logs*", "logs-1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePattern(tc.pattern)
			if got := p.match(tc.s); got != tc.want {
				t.Errorf("compilePattern(%q).match(%q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
			if got := refMatch(tc.pattern, tc.s); got != tc.want {
				t.Errorf("refMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

// FuzzPattern: compiling and matching never panic; on valid UTF-8, globs
// (R-PAT-1/2) agree with globDP, exact patterns with ==, and the pattern
// set, the inline grant entry and the simple-template shortcut agree with
// the single pattern they stand for.
func FuzzPattern(f *testing.F) {
	for _, seed := range [][4]string{
		{"logs-*", "logs-1", "ann", "x"},
		{"*a*b?c*", "xxaxbyc", "a*", "-"},
		{"/a(b|c)+/", "abcb", "", ""},
		{"?", "é", "b${user.roles}", "/"},
		{"**", "", " ", " "},
		{"*-team1-*", "logs-team1-x", "/x", "y/"},
		{"/(/", "(", "u?", "home-"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, raw, s, name, affix string) {
		p := compilePattern(raw)
		got := p.match(s)
		if !utf8.ValidString(raw) || !utf8.ValidString(s) {
			return // Java strings are UTF-16: invalid UTF-8 never reaches the plugin
		}
		switch p.kind {
		case patNone:
			if got {
				t.Fatalf("%q matches %q though it matches nothing", raw, s)
			}
		case patAny:
			if !got {
				t.Fatalf("* does not match %q", s)
			}
		case patExact:
			if got != (raw == s) {
				t.Fatalf("exact %q vs %q = %v", raw, s, got)
			}
		case patRegex:
			// The dialect is Go's regexp; only the anchoring is ours.
		default:
			if want := globDP(raw, s); got != want {
				t.Fatalf("glob %q vs %q = %v, want %v", raw, s, got, want)
			}
		}

		// A set of two patterns matches when either does; matchExplicit
		// drops only the bare "*".
		ps := newPatternSet([]string{raw, affix})
		q := compilePattern(affix)
		if want := got || q.match(s); ps.match(s) != want {
			t.Fatalf("set {%q, %q} vs %q = %v, want %v", raw, affix, s, ps.match(s), want)
		}
		explicit := (got && raw != "*") || (q.match(s) && affix != "*")
		if ps.matchExplicit(s) != explicit {
			t.Fatalf("explicit set {%q, %q} vs %q = %v, want %v", raw, affix, s, ps.matchExplicit(s), explicit)
		}
		ge := newGrantEntry(&indexEntry{patterns: ps})
		if ge.n != noInline && ge.match(s) != ps.match(s) {
			t.Fatalf("inline entry {%q, %q} vs %q = %v, want %v", raw, affix, s, ge.match(s), ps.match(s))
		}

		// prefix${user.name}suffix without rendering = rendered.
		tpl := affix + "${user.name}" + strings.ReplaceAll(raw, "${", "")
		tp := newTemplatePattern(0, tpl)
		if tp.simple && utf8.ValidString(name) {
			if m, ok := tp.matchSimple(s, name); ok {
				rp := compilePattern(renderTemplate(tpl, &Subject{Name: name}, nil))
				want := rp.match(s)
				if m != want {
					t.Fatalf("template %q for user %q vs %q = %v, rendered %v", tpl, name, s, m, want)
				}
			}
		}
	})
}
