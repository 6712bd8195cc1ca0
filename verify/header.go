package verify

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the webhook headers. A header over its limit is answered with
// [ErrInvalidHeaders] before any cryptography runs.
const (
	// MaxIDBytes bounds webhook-id. Ids are opaque (Gemini sends
	// "msg_<uuid>"); 1 KiB leaves room for any sender's format.
	MaxIDBytes = 1024
	// MaxTimestampDigits bounds webhook-timestamp: 18 decimal digits always
	// fit an int64, and real values have 10.
	MaxTimestampDigits = 18
	// MaxSignatureHeaderBytes bounds webhook-signature: room for a JWT signed
	// by an 8192-bit RSA key with generous claims, or several v1 tokens.
	MaxSignatureHeaderBytes = 8192
	// MaxSignatureTokens bounds the space-separated tokens in
	// webhook-signature (rotation needs two or three). It also bounds the
	// asymmetric checks one request can cause.
	MaxSignatureTokens = 8
)

// The Standard Webhooks headers of a delivery, as Gemini names them. Header
// names are case-insensitive: [net/http.Header.Get] and
// [net/http.Header.Set] take these as they are.
const (
	// HeaderID names the header with the delivery's id ("msg_…" from
	// Gemini), the same on every retry of one delivery: the key that
	// deduplicates it. See [MaxIDBytes].
	HeaderID = "webhook-id"
	// HeaderTimestamp names the header with the time the delivery was
	// signed, in decimal Unix seconds; [Options.Tolerance] bounds its
	// distance from now. See [MaxTimestampDigits].
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature names the header with the space-separated signature
	// tokens: "v1,<base64>", "v1a,<base64>" or a compact JWT. See
	// [MaxSignatureHeaderBytes] and [MaxSignatureTokens].
	HeaderSignature = "webhook-signature"
)

// The canonical spellings of the header names: net/http delivers canonical
// keys; the lower-case names above cover hand-built header maps.
var (
	hdrID        = http.CanonicalHeaderKey(HeaderID)
	hdrTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	hdrSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// headerValue returns the single value of a header. Absent or empty is
// [ErrMissingHeaders]; more than one value is [ErrInvalidHeaders], because a
// repeated id, timestamp or signature header makes the message ambiguous.
func headerValue(h http.Header, canonical, lower string) (string, error) {
	vs := h[canonical]
	if len(vs) == 0 {
		vs = h[lower]
	}
	switch {
	case len(vs) == 0 || (len(vs) == 1 && vs[0] == ""):
		return "", fmt.Errorf("%w: %s", ErrMissingHeaders, lower)
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %s repeated", ErrInvalidHeaders, lower)
	}
	return vs[0], nil
}

// checkID applies [MaxIDBytes] and refuses a webhook-id that is not valid
// UTF-8 or holds a control character (C0, DEL or C1): the id becomes the
// CloudEvents id, and JSON and Pub/Sub would turn two such ids into one.
func checkID(id string) error {
	if len(id) > MaxIDBytes {
		return fmt.Errorf("%w: webhook-id over %d bytes", ErrInvalidHeaders, MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: webhook-id is not valid UTF-8", ErrInvalidHeaders)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: webhook-id holds a control character", ErrInvalidHeaders)
		}
	}
	return nil
}

// parseTimestamp accepts only a plain decimal integer of Unix seconds: no
// sign, no spaces, no fraction, at most [MaxTimestampDigits] digits.
func parseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > MaxTimestampDigits {
		return 0, fmt.Errorf("%w: webhook-timestamp: want 1 to %d digits", ErrInvalidHeaders, MaxTimestampDigits)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: webhook-timestamp: not a decimal integer", ErrInvalidHeaders)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// tokenKind classifies one token of webhook-signature.
type tokenKind uint8

const (
	tokUnknown   tokenKind = iota // "version,sig" with a version we do not know: skipped
	tokMalformed                  // neither "version,sig" nor JWT-shaped: skipped
	tokV1                         // "v1,<base64 HMAC-SHA256>"
	tokV1a                        // "v1a,<base64 Ed25519 signature>"
	tokJWT                        // no comma, contains '.': a compact JWT candidate
)

// token is one classified token; value is the part after "version," (or the
// whole JWT), a substring of the header so parsing allocates nothing.
type token struct {
	kind  tokenKind
	value string
}

// sigHeader is a parsed webhook-signature header.
type sigHeader struct {
	n    int
	toks [MaxSignatureTokens]token
}

// parseSignatureHeader splits webhook-signature into sh's tokens separated by one
// or more spaces. It fails ([ErrInvalidHeaders]) only on limits: more than
// [MaxSignatureHeaderBytes] bytes, more than [MaxSignatureTokens] tokens, or no
// token at all. A token it cannot make sense of is kept as tokMalformed, so
// that it never spoils another token that verifies.
func parseSignatureHeader(s string, sh *sigHeader) error {
	sh.n = 0
	if len(s) > MaxSignatureHeaderBytes {
		return fmt.Errorf("%w: webhook-signature over %d bytes", ErrInvalidHeaders, MaxSignatureHeaderBytes)
	}
	for s != "" {
		var tok string
		tok, s, _ = strings.Cut(s, " ")
		if tok == "" {
			continue
		}
		if sh.n == MaxSignatureTokens {
			return fmt.Errorf("%w: webhook-signature over %d tokens", ErrInvalidHeaders, MaxSignatureTokens)
		}
		sh.toks[sh.n] = classify(tok)
		sh.n++
	}
	if sh.n == 0 {
		return fmt.Errorf("%w: webhook-signature holds no token", ErrInvalidHeaders)
	}
	return nil
}

func classify(tok string) token {
	version, sig, ok := strings.Cut(tok, ",")
	if !ok {
		if strings.IndexByte(tok, '.') >= 0 {
			return token{kind: tokJWT, value: tok}
		}
		return token{kind: tokMalformed, value: tok}
	}
	if sig == "" {
		return token{kind: tokMalformed, value: tok}
	}
	switch version {
	case "v1":
		return token{kind: tokV1, value: sig}
	case "v1a":
		return token{kind: tokV1a, value: sig}
	}
	return token{kind: tokUnknown, value: sig}
}
