// Package route holds the route tokens of per-request webhooks.
//
// Gemini signs per-request (v1a, JWT) deliveries with Google's keys, which
// every Gemini customer shares: a valid signature proves that Gemini sent a
// delivery, not that it is about one of our jobs. Anyone with a Gemini API
// key can put our URL in a job's webhook_config. So a per-request delivery
// must also prove that it is meant for us, and the only thing the job's
// owner controls is the URL: geminihook accepts per-request deliveries only
// at Prefix + token, with a token only the owner knows.
//
// A token is URL-safe text (A-Z a-z 0-9 - _) of MinTokenBytes to
// MaxTokenBytes characters: at least 128 bits when random, as NewToken
// makes them. Tokens are compared in constant time, through their SHA-256,
// so a mismatch tells nothing about the token's length or prefix.
package route

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts the path of per-request deliveries: Prefix + token.
const Prefix = "/r/"

// Limits of a token. 22 base64url characters carry 132 bits.
const (
	MinTokenBytes = 22
	MaxTokenBytes = 256
)

// Errors of the package.
var (
	// ErrInvalidToken: a token is not URL-safe text of the allowed length.
	// The error text never holds the token.
	ErrInvalidToken = errors.New("route: invalid route token")
	// ErrUnknownToken: a path names a token that is not configured.
	ErrUnknownToken = errors.New("route: unknown route token")
	// ErrNotFound: a path is neither "/" nor Prefix + something.
	ErrNotFound = errors.New("route: no such path")
)

// ParseToken validates a token as stored (a Secret Manager payload, a file
// or a flag): surrounding whitespace is dropped, the rest must be
// MinTokenBytes to MaxTokenBytes of A-Z a-z 0-9 - _. It has the shape of
// secrets.Options.Parse.
func ParseToken(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) < MinTokenBytes || len(s) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: want %d to %d characters, got %d", ErrInvalidToken, MinTokenBytes, MaxTokenBytes, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !urlSafe(s[i]) {
			return nil, fmt.Errorf("%w: only A-Z a-z 0-9 - _ allowed", ErrInvalidToken)
		}
	}
	return []byte(s), nil
}

func urlSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// NewToken returns a new random token: 32 bytes from crypto/rand in
// unpadded base64url (43 characters, 256 bits).
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Source gives the tokens currently valid; internal/secrets.Source (with
// ParseToken) is the production one, Static the local one. Tokens must be
// cheap to get: Match calls it per request.
type Source interface {
	Secrets(ctx context.Context) ([][]byte, error)
}

// Static returns a Source of fixed tokens. It fails with ErrInvalidToken
// when one of them is not a valid token.
func Static(tokens ...string) (Source, error) {
	s := static{}
	for i, t := range tokens {
		b, err := ParseToken(t)
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
		s = append(s, b)
	}
	return s, nil
}

type static [][]byte

func (s static) Secrets(context.Context) ([][]byte, error) { return s, nil }

// Path is what a request path says about its route.
type Path struct {
	// Routed is true for Prefix + token, false for "/".
	Routed bool
	// token is the path's token, unchecked.
	token string
}

// ParsePath classifies a request path: "/" (not routed) or Prefix + a
// non-empty token without further slashes (routed, token not yet checked).
// Anything else is ErrNotFound.
func ParsePath(p string) (Path, error) {
	if p == "/" {
		return Path{}, nil
	}
	tok, ok := strings.CutPrefix(p, Prefix)
	if !ok || tok == "" || strings.IndexByte(tok, '/') >= 0 {
		return Path{}, ErrNotFound
	}
	return Path{Routed: true, token: tok}, nil
}

// Redacted is the path for a log line: "/" or Prefix + "…", never the
// token.
func (p Path) Redacted() string {
	if p.Routed {
		return Prefix + "…"
	}
	return "/"
}

// Check compares the path's token with every token of src in constant time
// (through SHA-256, so neither length nor prefix leaks). It returns nil for
// a configured token, ErrUnknownToken for another (or when src is nil: no
// tokens configured), and src's error (the caller answers 503) when the
// tokens cannot be had.
func (p Path) Check(ctx context.Context, src Source) error {
	if !p.Routed {
		return nil
	}
	if src == nil {
		return ErrUnknownToken
	}
	tokens, err := src.Secrets(ctx)
	if err != nil {
		return err
	}
	got := sha256.Sum256([]byte(p.token))
	match := 0
	for _, t := range tokens {
		want := sha256.Sum256(t)
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if match != 1 {
		return ErrUnknownToken
	}
	return nil
}
