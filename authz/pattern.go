package authz

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// patternKind classifies a pattern string (R-PAT-1).
type patternKind uint8

const (
	patNone     patternKind = iota // blank or invalid regex: matches nothing
	patAny                         // exactly "*"
	patExact                       // no wildcard
	patPrefix                      // "lit*"
	patSuffix                      // "*lit"
	patContains                    // "*lit*"
	patGlob                        // any other '*'/'?' combination
	patRegex                       // "/re/", anchored
)

// pattern is one compiled pattern (§3). The zero value matches nothing.
// Matching never allocates.
type pattern struct {
	kind patternKind
	raw  string
	lit  string         // exact name, prefix, suffix, infix or glob text
	re   *regexp.Regexp // patRegex
	err  error          // why a regex did not compile (R-PAT-4)
}

// compilePattern classifies and compiles raw per R-PAT-1..4: blank → nothing,
// "*" → everything, "/re/" → whole-string Go regexp (a compile error yields a
// pattern matching nothing, with err set), '*'/'?' → glob, else exact.
func compilePattern(raw string) pattern {
	p := pattern{raw: raw}
	switch {
	case strings.TrimSpace(raw) == "":
		p.kind = patNone
	case raw == "*":
		p.kind = patAny
	case len(raw) > 1 && raw[0] == '/' && raw[len(raw)-1] == '/':
		re, err := regexp.Compile(`^(?:` + raw[1:len(raw)-1] + `)$`)
		if err != nil {
			p.kind, p.err = patNone, err
			break
		}
		p.kind, p.re = patRegex, re
	case strings.ContainsAny(raw, "*?"):
		p.kind, p.lit = classifyGlob(raw)
	default:
		p.kind, p.lit = patExact, raw
	}
	return p
}

// classifyGlob picks a fast path for common glob shapes.
func classifyGlob(g string) (patternKind, string) {
	if strings.IndexByte(g, '?') < 0 {
		n := strings.Count(g, "*")
		switch {
		case n == 1 && g[len(g)-1] == '*':
			return patPrefix, g[:len(g)-1]
		case n == 1 && g[0] == '*':
			return patSuffix, g[1:]
		case n == 2 && len(g) > 2 && g[0] == '*' && g[len(g)-1] == '*':
			return patContains, g[1 : len(g)-1]
		}
	}
	return patGlob, g
}

// isTemplate reports whether raw contains a substitution variable (R-PAT-9).
func isTemplate(raw string) bool { return strings.Contains(raw, "${") }

// matchesAll reports whether the pattern matches every string.
func (p *pattern) matchesAll() bool { return p.kind == patAny }

// match reports whether s matches the pattern.
func (p *pattern) match(s string) bool {
	switch p.kind {
	case patAny:
		return true
	case patExact:
		return s == p.lit
	case patPrefix:
		return strings.HasPrefix(s, p.lit)
	case patSuffix:
		return strings.HasSuffix(s, p.lit)
	case patContains:
		return strings.Contains(s, p.lit)
	case patGlob:
		return globMatch(p.lit, s)
	case patRegex:
		return p.re.MatchString(s)
	}
	return false
}

// globMatch matches s against a glob where '*' is any sequence (also empty)
// and '?' exactly one character (R-PAT-2). It backtracks only to the last
// star, so it runs in O(len(g)·len(s)) without allocating. A backtrack
// advances by whole runes so '?' always sees a character boundary.
func globMatch(g, s string) bool {
	gi, si := 0, 0
	starG, starS := -1, 0
	for si < len(s) {
		if gi < len(g) {
			switch c := g[gi]; c {
			case '*':
				starG, starS = gi, si
				gi++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[si:])
				gi++
				si += n
				continue
			default:
				if c == s[si] {
					gi++
					si++
					continue
				}
			}
		}
		if starG < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		gi, si = starG+1, starS
	}
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}

// patternSet is a compiled list of patterns matched as "any of" (e.g. a
// mapping's users, an entry's index_patterns, expanded allowed_actions).
// Exact names go to a map (or a short slice), prefixes to a slice, the rest
// are tried in order. Matching never allocates.
type patternSet struct {
	any      bool // contains "*"
	exact    []string
	exactMap map[string]struct{}
	prefixes []string
	others   []pattern
	invalid  []pattern // regexes that failed to compile (reported, match nothing)
}

// exactMapThreshold is the size from which exact names are looked up in a map
// rather than compared one by one.
const exactMapThreshold = 8

// newPatternSet compiles raws into a set. Blank entries are dropped.
func newPatternSet(raws []string) patternSet {
	var ps patternSet
	for _, r := range raws {
		ps.add(compilePattern(r))
	}
	ps.seal()
	return ps
}

func (ps *patternSet) add(p pattern) {
	switch p.kind {
	case patNone:
		if p.err != nil {
			ps.invalid = append(ps.invalid, p)
		}
	case patAny:
		ps.any = true
	case patExact:
		ps.exact = append(ps.exact, p.lit)
	case patPrefix:
		ps.prefixes = append(ps.prefixes, p.lit)
	default:
		ps.others = append(ps.others, p)
	}
}

// seal builds the exact-name map when the list is long.
func (ps *patternSet) seal() {
	if len(ps.exact) >= exactMapThreshold {
		ps.exactMap = make(map[string]struct{}, len(ps.exact))
		for _, e := range ps.exact {
			ps.exactMap[e] = struct{}{}
		}
		ps.exact = nil
	}
}

// match reports whether any pattern matches s.
func (ps *patternSet) match(s string) bool {
	return ps.any || ps.matchExplicit(s)
}

// matchExplicit is match without the bare "*" wildcard: R-EVAL-12 privileges
// are only granted by an exact entry or a non-"*" pattern.
func (ps *patternSet) matchExplicit(s string) bool {
	if ps.exactMap != nil {
		if _, ok := ps.exactMap[s]; ok {
			return true
		}
	}
	for _, e := range ps.exact {
		if e == s {
			return true
		}
	}
	for _, p := range ps.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	for i := range ps.others {
		if ps.others[i].match(s) {
			return true
		}
	}
	return false
}
