package verify

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// Limits on the decoded length of an HMAC secret. Gemini and the Standard
// Webhooks specification use 24 to 64 random bytes; anything under 16 bytes
// is too weak to accept (and FIPS 140-only mode refuses HMAC keys under 14
// bytes), anything over 512 bytes is a configuration mistake.
const (
	MinSecretBytes = 16
	MaxSecretBytes = 512
)

// secretPrefix is the conventional prefix of Standard Webhooks secrets.
const secretPrefix = "whsec_"

// SecretSource gives the HMAC secrets (v1 scheme) that are currently valid.
// During a rotation it returns several; a v1 token matching any of them is
// accepted. Implementations must be safe for concurrent use.
type SecretSource interface {
	// Secrets returns the HMAC keys currently valid (already decoded bytes).
	// Must be cheap: called per request. Callers must not modify the result.
	// An error means no key is usable (e.g. Secret Manager unreachable with
	// nothing cached); [Verifier.Verify] reports it wrapped in [ErrKeysUnavailable].
	Secrets(ctx context.Context) ([][]byte, error)
}

// Refresher is optionally implemented by a [SecretSource]. When no v1 token
// matches, the [Verifier] calls Refresh once; if it reports true (new material
// was loaded, i.e. it was not within its cooldown), the [Verifier] checks the
// v1 tokens once more against the fresh secrets. An error from Refresh is
// treated like false: the cached secrets stay authoritative.
type Refresher interface {
	Refresh(ctx context.Context) (bool, error)
}

// ParseSecret decodes a Standard Webhooks secret: an optional "whsec_" prefix
// followed by standard base64, padded or not. Surrounding ASCII whitespace
// (such as the newline a Secret Manager payload often ends with) is ignored.
// The error wraps [ErrInvalidSecret] and never contains the secret itself.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, secretPrefix)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSecret)
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(s, "=") {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		// err (base64.CorruptInputError) holds only an offset, no secret bytes.
		return nil, fmt.Errorf("%w: not base64: %v", ErrInvalidSecret, err)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// StaticSecrets returns a [SecretSource] holding fixed secrets, each parsed
// with [ParseSecret]. Because its signature cannot return an error, a bad
// secret (or none at all) is reported by the source itself: its Secrets
// method returns an error wrapping [ErrInvalidSecret], and [New] checks a static
// source eagerly and fails with that error, so a [Verifier] is never built on
// a broken static configuration.
func StaticSecrets(secrets ...string) SecretSource {
	s := &staticSecrets{}
	if len(secrets) == 0 {
		s.err = fmt.Errorf("%w: no secrets given", ErrInvalidSecret)
		return s
	}
	for i, str := range secrets {
		key, err := ParseSecret(str)
		if err != nil {
			s.err = fmt.Errorf("secret %d of %d: %w", i+1, len(secrets), err)
			s.keys = nil
			return s
		}
		s.keys = append(s.keys, key)
	}
	return s
}

type staticSecrets struct {
	keys [][]byte
	err  error
}

// Secrets returns the parsed secrets, or the parse error wrapping
// [ErrInvalidSecret].
func (s *staticSecrets) Secrets(context.Context) ([][]byte, error) {
	return s.keys, s.err
}
