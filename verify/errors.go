package verify

import "errors"

// The error vocabulary of the package. Every error returned by this package
// wraps exactly one of these, so callers decide with errors.Is. The HTTP
// layer maps them as follows: [ErrMissingHeaders] and [ErrInvalidHeaders] → 400;
// [ErrNoMatchingSignature], [ErrSchemeDisabled], [ErrTimestampTooOld] and
// [ErrTimestampTooNew] → 401;
// [ErrKeysUnavailable] → 503. [ErrInvalidSecret] and [ErrInvalidOptions] are
// configuration errors reported by constructors.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeaders = errors.New("verify: missing webhook headers")
	// ErrInvalidHeaders: a webhook header is present but malformed: repeated,
	// over its size limit, a webhook-id that is not valid UTF-8 or holds
	// control characters, or a timestamp that is not a plain decimal integer.
	ErrInvalidHeaders = errors.New("verify: invalid webhook headers")
	// ErrNoMatchingSignature: no signature token verified against any key,
	// including JWTs whose claims (exp, nbf, iat, aud, iss) do not hold.
	ErrNoMatchingSignature = errors.New("verify: no matching signature")
	// ErrSchemeDisabled: webhook-signature holds tokens only of schemes this
	// [Verifier] does not accept (v1 without secrets, v1a without a JWKS, a
	// JWT without a JWKS or without an audience). Precheck reports it before
	// the body is read.
	ErrSchemeDisabled = errors.New("verify: signature scheme not accepted here")
	// ErrTimestampTooOld: webhook-timestamp is further in the past than the
	// tolerance allows.
	ErrTimestampTooOld = errors.New("verify: webhook timestamp too old")
	// ErrTimestampTooNew: webhook-timestamp is further in the future than
	// the tolerance allows.
	ErrTimestampTooNew = errors.New("verify: webhook timestamp too new")
	// ErrKeysUnavailable: the keys needed to check the request could not be
	// obtained (secret source failed, or the JWKS is unreachable and nothing
	// is cached). A server-side problem, not a forged request.
	ErrKeysUnavailable = errors.New("verify: verification keys unavailable")
	// ErrInvalidSecret: an HMAC secret is empty, not base64 or of a length
	// outside [MinSecretBytes, MaxSecretBytes].
	ErrInvalidSecret = errors.New("verify: invalid webhook secret")
	// ErrInvalidJWKS: a JWKS document is not JSON, over [MaxJWKSBytes], or
	// holds no usable key. Returned by [ParseJWKS] and, wrapped, by
	// [JWKS.Refresh]; the last good key set stays in use.
	ErrInvalidJWKS = errors.New("verify: invalid JWKS")
	// ErrInvalidOptions: [New] or [NewJWKS] was given an unusable configuration.
	ErrInvalidOptions = errors.New("verify: invalid options")
)
