package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
)

// GoogleJWKSURL is where Google publishes the keys that sign its OIDC
// tokens, those of Pub/Sub push subscriptions and Eventarc triggers among
// them.
const GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"

// googleIssuers are the iss values of Google's OIDC tokens.
var googleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// Errors of TokenVerifier.Verify.
var (
	// ErrNoToken: no Authorization: Bearer header (answer 401).
	ErrNoToken = errors.New("no bearer token")
	// ErrBadToken: not a JWT signed by Google's keys, or expired, or not
	// issued by Google (answer 401).
	ErrBadToken = errors.New("invalid token")
	// ErrWrongIdentity: a valid Google token, but for another audience or
	// service account (answer 403).
	ErrWrongIdentity = errors.New("token for another audience or service account")
)

// maxTokenBytes bounds the token read; Google's are about 1 KiB.
const maxTokenBytes = 8 << 10

// TokenVerifier checks the OIDC token that a push subscription (or an
// Eventarc trigger) attaches to each request: an RS256 JWT signed by one of
// Google's keys, issued by Google, for Audience (the push config's
// oidc_token.audience, by default the push endpoint URL), on behalf of
// ServiceAccount (its oidc_token.service_account_email), with a verified
// email, within its lifetime. Cloud Run's own IAM check (roles/run.invoker)
// proves that some allowed identity called; this proves it was the
// subscription.
type TokenVerifier struct {
	Keys           *verify.JWKS
	Audience       string
	ServiceAccount string
	// Now is the clock; nil means time.Now. Leeway allows for clock skew
	// on exp, iat and nbf; 0 means 1 minute.
	Now    func() time.Time
	Leeway time.Duration
}

// Claims are the members of a push token that the verifier reads.
type Claims struct {
	Iss           string   `json:"iss"`
	Aud           audience `json:"aud"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Sub           string   `json:"sub"`
	Exp           *int64   `json:"exp"`
	Iat           *int64   `json:"iat"`
	Nbf           *int64   `json:"nbf"`
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Verify checks the Authorization header's token. Errors: ErrNoToken,
// ErrBadToken, ErrWrongIdentity, or verify.ErrKeysUnavailable when
// Google's keys cannot be fetched (answer 503: not the caller's fault).
func (v *TokenVerifier) Verify(ctx context.Context, authorization string) (*Claims, error) {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || tok == "" {
		return nil, ErrNoToken
	}
	if len(tok) > maxTokenBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrBadToken, maxTokenBytes)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a JWS compact token", ErrBadToken)
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodePart(parts[0], &header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadToken, err)
	}
	if header.Alg != "RS256" || header.Kid == "" {
		return nil, fmt.Errorf("%w: alg %q kid %q, want RS256 with a key id", ErrBadToken, header.Alg, header.Kid)
	}
	key, err := v.key(ctx, header.Kid)
	if err != nil {
		return nil, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrBadToken)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return nil, fmt.Errorf("%w: signature does not verify", ErrBadToken)
	}
	var c Claims
	if err := decodePart(parts[1], &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrBadToken, err)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	if leeway <= 0 {
		leeway = time.Minute
	}
	switch {
	case !slices.Contains(googleIssuers, c.Iss):
		return nil, fmt.Errorf("%w: issuer %q", ErrBadToken, c.Iss)
	case c.Exp == nil || now.Add(-leeway).Unix() >= *c.Exp:
		return nil, fmt.Errorf("%w: expired or without exp", ErrBadToken)
	case c.Iat != nil && now.Add(leeway).Unix() < *c.Iat, c.Nbf != nil && now.Add(leeway).Unix() < *c.Nbf:
		return nil, fmt.Errorf("%w: not valid yet", ErrBadToken)
	case !slices.Contains(c.Aud, v.Audience):
		return nil, fmt.Errorf("%w: audience %q", ErrWrongIdentity, []string(c.Aud))
	case !strings.EqualFold(c.Email, v.ServiceAccount) || !c.EmailVerified:
		return nil, fmt.Errorf("%w: email %q (verified %v)", ErrWrongIdentity, c.Email, c.EmailVerified)
	}
	return &c, nil
}

// key returns Google's key kid, fetching the key set again once when it
// is unknown (Google rotates its keys).
func (v *TokenVerifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	ks, err := v.Keys.Keys(ctx)
	if err != nil {
		return nil, err
	}
	if k := ks.RSA(kid); k != nil {
		return k, nil
	}
	if _, err := v.Keys.Refresh(ctx); err == nil {
		if ks, err = v.Keys.Keys(ctx); err == nil {
			if k := ks.RSA(kid); k != nil {
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: unknown key id %q", ErrBadToken, kid)
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Handler receives geminihook's events from a push subscription on Cloud
// Run (or from an Eventarc trigger on the topic). It answers as Pub/Sub
// push expects: 204 acknowledges; anything else is a nack that Pub/Sub
// retries with the subscription's backoff and, after its max delivery
// attempts, moves to the dead-letter topic. So:
//
//	401/403  no token, or not the subscription's: refused before the body is read
//	204      processed, or nothing to do here (a quarantine message)
//	400      a message that will never decode: dead-lettered after its attempts
//	503      Google's keys or the work failed: retried
type Handler struct {
	Tokens *TokenVerifier
	// Process does the work; nil means logging the event. Delivery is at
	// least once: make it idempotent on ev.WebhookID (see examples/pull).
	Process func(ctx context.Context, ev *events.Event) error
	Log     *slog.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if _, err := h.Tokens.Verify(r.Context(), r.Header.Get("Authorization")); err != nil {
		status := http.StatusUnauthorized
		switch {
		case errors.Is(err, ErrWrongIdentity):
			status = http.StatusForbidden
		case errors.Is(err, verify.ErrKeysUnavailable):
			status = http.StatusServiceUnavailable
		}
		h.Log.Warn("push request refused", "status", status, "error", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	ev, err := events.DecodePush(r)
	switch {
	case errors.Is(err, events.ErrQuarantined):
		h.Log.Warn("quarantined delivery on the events subscription; acknowledged, nothing to do", "error", err)
		w.WriteHeader(http.StatusNoContent)
		return
	case err != nil:
		h.Log.Error("undecodable push message", "error", err)
		http.Error(w, "undecodable message", http.StatusBadRequest)
		return
	}
	process := h.Process
	if process == nil {
		process = h.record
	}
	if err := process(r.Context(), ev); err != nil {
		h.Log.Error("processing failed; Pub/Sub will retry", "webhook_id", ev.WebhookID, "error", err)
		http.Error(w, "retry later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) record(ctx context.Context, ev *events.Event) error {
	attrs := []any{"webhook_id", ev.WebhookID, "type", ev.Type, "job_id", ev.JobID, "outcome", ev.Outcome, "output_uri", ev.OutputURI}
	if len(ev.UserMetadata) > 0 {
		attrs = append(attrs, "user_metadata", json.RawMessage(ev.UserMetadata))
	}
	if ev.Replay != "" {
		attrs = append(attrs, "replay", ev.Replay)
	}
	h.Log.InfoContext(ctx, "event", attrs...)
	return nil
}
