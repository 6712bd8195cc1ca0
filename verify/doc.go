// Package verify checks the signature of Gemini API webhook deliveries
// (Standard Webhooks headers webhook-id, webhook-timestamp and
// webhook-signature: [HeaderID], [HeaderTimestamp], [HeaderSignature]) in
// the three schemes Gemini uses:
//
//   - v1: HMAC-SHA256 with a shared "whsec_" secret (project webhooks).
//     Several secrets may be valid at once during a rotation.
//   - v1a: Ed25519 over the same content, with the OKP keys of a JWK Set
//     (per-request webhooks, as observed on live deliveries).
//   - jwt: a compact RS256 JWT in webhook-signature, verified with the RSA
//     key of a JWK Set named by its kid (per-request webhooks, as Google's
//     guide documents them). Accepted only when [Options.Audience] is set
//     and in its aud; exp is required, the lifetime bounded
//     ([Options.MaxTokenLifetime]) and iss checked when [Options.Issuer] is
//     set. A JWT signs its claims, not the body: [Message.BodySigned] is
//     false and [Message.TokenID] names the token, which the caller must
//     accept for one webhook-id only.
//
// The keys of v1a and jwt are Google's, the same for every Gemini customer:
// such a signature proves that Gemini sent a delivery, not that it is about
// one of your jobs. A receiver accepts them only where the delivery also
// proves it is meant for it (geminihook: a secret route token in the URL).
//
// The signed content of v1 and v1a is the exact bytes
// webhook-id "." webhook-timestamp "." body, with the body as received. A
// delivery is valid when any one token of webhook-signature verifies;
// unknown and malformed tokens are skipped. Checks run cheapest first
// (headers, then the replay window, then cryptography), so a stale or
// malformed request costs no signature work and no key fetch.
// [Verifier.Verify] is a pure function of the headers, the body, the keys
// and the clock; the only I/O is through the two cached key sources (a
// [SecretSource] and the [JWKS]).
//
// Every error wraps one sentinel (see [ErrMissingHeaders] and the others),
// so the HTTP layer maps errors with errors.Is: malformed headers 400, bad
// signature or timestamp 401, keys unavailable 503. [Verifier.Precheck]
// runs every check that needs no body, so a server can refuse before it
// reads one.
//
// Usage:
//
//	v, err := verify.New(verify.Options{
//		Secrets: verify.StaticSecrets(os.Getenv("WEBHOOK_SECRET")), // "whsec_…"
//		JWKSURL: "https://generativelanguage.googleapis.com/.well-known/jwks.json",
//		Audience: "https://hooks.example.com/gemini", // JWT only with an audience of yours
//	})
//	if err != nil { … }
//	// in the handler, with the body read once through http.MaxBytesReader:
//	msg, err := v.Verify(r.Context(), r.Header, body)
//	if err != nil { … map with errors.Is … }
//	log.Printf("delivery %s verified by %s", msg.ID, msg.Scheme)
//
// Adding a scheme: give it a tokenKind and a case in classify (header.go),
// count it in check.classify (with the condition that turns it off), match
// it in check.run with its key source, and add known-answer vectors
// (testdata) and a fuzz seed. Keep every comparison of secret-derived bytes
// constant-time (hmac.Equal, subtle.ConstantTimeCompare).
//
// Package [github.com/geminihook/geminihook/verify/verifytest] signs
// deliveries in all three schemes and serves a JWK Set for tests.
package verify
