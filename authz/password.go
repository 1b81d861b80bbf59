package authz

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/nbutton23/zxcvbn-go"
	"golang.org/x/crypto/bcrypt"
)

// PasswordPolicy holds the plugin's password settings (R-API-20). The zero value
// is the plugin's default: no minimum length, no regex, score strength strong.
type PasswordPolicy struct {
	// MinLength is plugins.security.restapi.password_min_length; 0 or less = off.
	MinLength int
	// Regex is plugins.security.restapi.password_validation_regex, matched
	// against the whole password; empty = off. Go's RE2 lacks look-around: a
	// regex made of leading look-aheads `(?=...)` followed by a plain part (the
	// usual "one upper, one digit, ..." form) is supported by checking each
	// look-ahead separately; other Java-only syntax makes Validate fail.
	Regex string
	// RegexMessage is plugins.security.restapi.password_validation_error_message,
	// the reason when Regex does not match; empty = "Password does not match
	// minimum criteria".
	RegexMessage string
	// ScoreStrength is plugins.security.restapi.password_score_based_validation_strength:
	// fair, good, strong or very_strong (case-insensitive); empty = strong.
	ScoreStrength string
}

// passwordMaxLength is the plugin's PasswordValidator.MAX_LENGTH (in UTF-16 units).
const passwordMaxLength = 100

// passwordDefaultRounds is the plugin's default bcrypt cost
// (plugins.security.password.hashing.bcrypt.rounds).
const passwordDefaultRounds = 12

// passwordMinScore maps the strength setting to the minimal zxcvbn score.
func passwordMinScore(strength string) (int, bool) {
	switch strings.ToLower(strength) {
	case "fair":
		return 1, true
	case "good":
		return 2, true
	case "", "strong":
		return 3, true
	case "very_strong":
		return 4, true
	}
	return 3, false
}

// Validate reports settings CheckPassword cannot apply: an unknown score
// strength or a regex that cannot be compiled (see Regex).
func (p PasswordPolicy) Validate() error {
	var errs []error
	if _, ok := passwordMinScore(p.ScoreStrength); !ok {
		errs = append(errs, fmt.Errorf("password score strength %q: expected one of fair,good,strong,very_strong", p.ScoreStrength))
	}
	if p.Regex != "" {
		if _, err := passwordCompile(p.Regex); err != nil {
			errs = append(errs, fmt.Errorf("password validation regex: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CheckPassword applies the plugin's password rules (R-API-20) to the password
// of user, in the plugin's order: empty or shorter than MinLength → "Password is
// too short", over 100 characters → "Password is too long", Regex mismatch →
// RegexMessage, zxcvbn score (user name as user input) below ScoreStrength →
// "Weak password", a zxcvbn dictionary match against the user name → "Password is
// similar to user name". Each refusal is 400 {"status":"error","reason":...}.
// An empty user name is refused with "No username is given", as by the plugin.
//
// A policy that Validate refuses fails closed: an unknown strength counts as
// strong and an uncompilable regex refuses every password. Scores come from the
// Go port of zxcvbn and may differ marginally from the plugin's Java library.
func CheckPassword(user, password string, p PasswordPolicy) *Error {
	if password == "" {
		return Reason("Password is too short")
	}
	if user == "" {
		return Reason("No username is given")
	}
	n := len(utf16.Encode([]rune(password))) // Java String.length()
	if p.MinLength > 0 && n < p.MinLength {
		return Reason("Password is too short")
	}
	if n > passwordMaxLength {
		return Reason("Password is too long")
	}
	if p.Regex != "" {
		m, err := passwordCompile(p.Regex)
		if err != nil || !m.matches(password) {
			msg := p.RegexMessage
			if msg == "" {
				msg = "Password does not match minimum criteria"
			}
			return Reason(msg)
		}
	}
	minScore, _ := passwordMinScore(p.ScoreStrength)
	score, similar := passwordStrength(user, password)
	if score < minScore {
		return Reason("Weak password")
	}
	if similar {
		return Reason("Password is similar to user name")
	}
	return nil
}

// passwordStrength runs zxcvbn with the user name as user input. It returns the
// score and whether the chosen match sequence contains a dictionary match from
// the user inputs (the plugin's USERNAME_SIMILARITY_CHECK).
func passwordStrength(user, password string) (score int, similar bool) {
	defer func() {
		// The zxcvbn port has panicked on odd input in the past: refusing the
		// password is safer than crashing the request.
		if recover() != nil {
			score, similar = -1, false
		}
	}()
	res := zxcvbn.PasswordStrength(password, []string{user})
	for _, m := range res.MatchSequence {
		if m.Pattern == "dictionary" && m.DictionaryName == "user_inputs" {
			similar = true
		}
	}
	return res.Score, similar
}

// passwordMatcher is a compiled password regex: every look-ahead must match at
// the start of the password and rest must match the whole password.
type passwordMatcher struct {
	lookaheads []*regexp.Regexp
	rest       *regexp.Regexp
}

func (m *passwordMatcher) matches(s string) bool {
	for _, la := range m.lookaheads {
		if !la.MatchString(s) {
			return false
		}
	}
	return m.rest.MatchString(s)
}

var passwordRegexCache sync.Map // regex string → *passwordMatcher

// passwordCompile compiles a plugin password regex (Java syntax, whole match).
func passwordCompile(expr string) (*passwordMatcher, error) {
	if m, ok := passwordRegexCache.Load(expr); ok {
		return m.(*passwordMatcher), nil
	}
	m := &passwordMatcher{}
	rest := expr
	// Leading look-aheads at position 0: (?=X) holds iff X matches a prefix.
	for strings.HasPrefix(rest, "(?=") {
		end := passwordGroupEnd(rest)
		if end < 0 {
			return nil, fmt.Errorf("unbalanced look-ahead in %q", expr)
		}
		la, err := regexp.Compile(`^(?:` + rest[3:end] + `)`)
		if err != nil {
			return nil, err
		}
		m.lookaheads = append(m.lookaheads, la)
		rest = rest[end+1:]
	}
	r, err := regexp.Compile(`^(?:` + rest + `)$`)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) && se.Code == syntax.ErrInvalidPerlOp {
			return nil, fmt.Errorf("%w (Java-only syntax such as look-around is not supported by authzd)", err)
		}
		return nil, err
	}
	m.rest = r
	passwordRegexCache.Store(expr, m)
	return m, nil
}

// passwordGroupEnd returns the index of the parenthesis closing the group that
// opens at s[0], honouring escapes and character classes, or -1.
func passwordGroupEnd(s string) int {
	depth, inClass := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// HashPassword returns the bcrypt hash of password with the given cost (0 means
// the plugin's default 12) and the `$2y$` prefix the plugin writes by default
// (plugins.security.password.hashing.bcrypt.minor Y). Like the plugin's bcrypt,
// only the first 72 bytes of the password count.
func HashPassword(password string, rounds int) (string, error) {
	if rounds == 0 {
		rounds = passwordDefaultRounds
	}
	if rounds < bcrypt.MinCost || rounds > bcrypt.MaxCost {
		return "", fmt.Errorf("hash password: bcrypt rounds %d out of range %d..%d", rounds, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword(passwordBcryptInput(password), rounds)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	// Go writes $2a$; $2a$, $2b$ and $2y$ are the same algorithm.
	return "$2y$" + strings.TrimPrefix(string(h), "$2a$"), nil
}

// VerifyPassword reports whether password matches a bcrypt hash with the
// `$2a$`, `$2b$` or `$2y$` prefix. Any other hash (including PBKDF2) does not
// match.
func VerifyPassword(hash, password string) bool {
	var rest string
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		rest = hash[4:]
	default:
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte("$2a$"+rest), passwordBcryptInput(password)) == nil
}

// passwordBcryptInput truncates to 72 bytes, as bcrypt itself does (Go's
// GenerateFromPassword refuses longer input instead).
func passwordBcryptInput(password string) []byte {
	b := []byte(password)
	if len(b) > 72 {
		b = b[:72]
	}
	return b
}
