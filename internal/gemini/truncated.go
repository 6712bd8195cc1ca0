package gemini

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// MinVisible is the least number of visible characters (besides the
// "whsec_" prefix) that a truncated secret must show for Match to use it:
// fewer would match too many secrets to tell versions apart.
const MinVisible = 4

// ErrTruncatedForm: a truncated secret that shows too little to be matched.
var ErrTruncatedForm = errors.New("truncated secret shows too few characters to be matched")

// Truncated is the parsed display form of a signing secret: the visible
// characters before and after the elision.
type Truncated struct {
	Prefix, Suffix string
	// Whole is set when the form has no elision: it is the whole secret.
	Whole bool
}

// elisions are the marks that stand for hidden characters, longest first.
var elisions = []string{"...", "..", "…", "*", "•", "\u00b7"}

// ParseTruncated reads a truncated_secret: visible characters, an elision
// ("...", "…", or a run of "*" or "•"), visible characters. A form without
// an elision is a whole secret. It fails with ErrTruncatedForm when fewer
// than MinVisible characters (not counting "whsec_") are visible.
func ParseTruncated(s string) (Truncated, error) {
	s = strings.TrimSpace(s)
	cut, width := -1, 0
	for _, e := range elisions {
		if i := strings.Index(s, e); i >= 0 && (cut < 0 || i < cut) {
			cut, width = i, len(e)
		}
	}
	if cut < 0 {
		if len(strings.TrimPrefix(s, "whsec_")) < MinVisible {
			return Truncated{}, fmt.Errorf("%w (%d visible)", ErrTruncatedForm, len(strings.TrimPrefix(s, "whsec_")))
		}
		return Truncated{Prefix: s, Whole: true}, nil
	}
	prefix, rest := s[:cut], s[cut+width:]
	// Skip the rest of the elision: repeated marks of any kind.
	for changed := true; changed; {
		changed = false
		for _, e := range elisions {
			if strings.HasPrefix(rest, e) {
				rest, changed = rest[len(e):], true
			}
		}
	}
	t := Truncated{Prefix: prefix, Suffix: rest}
	if strings.ContainsAny(t.Suffix, ".*…•") {
		return Truncated{}, fmt.Errorf("%w: more than one elision", ErrTruncatedForm)
	}
	if visible := len(strings.TrimPrefix(prefix, "whsec_")) + len(rest); visible < MinVisible {
		return Truncated{}, fmt.Errorf("%w (%d visible)", ErrTruncatedForm, visible)
	}
	return t, nil
}

// Match reports whether secret is a secret that t displays: it starts
// with the prefix and ends with the suffix (and is long enough to hold
// both apart), or equals the whole form. The comparison of a whole secret
// is in constant time; prefixes and suffixes are public display text.
func (t Truncated) Match(secret string) bool {
	secret = strings.TrimSpace(secret)
	if t.Whole {
		return subtle.ConstantTimeCompare([]byte(secret), []byte(t.Prefix)) == 1
	}
	return len(secret) > len(t.Prefix)+len(t.Suffix) &&
		strings.HasPrefix(secret, t.Prefix) && strings.HasSuffix(secret, t.Suffix)
}

// Truncate returns the display form of a secret that this package and
// its fake use: "whsec_" and its first and last four characters. It is
// safe to print.
func Truncate(secret string) string {
	body := strings.TrimPrefix(secret, "whsec_")
	if len(body) < 12 {
		return "whsec_…"
	}
	return "whsec_" + body[:4] + "…" + body[len(body)-4:]
}
