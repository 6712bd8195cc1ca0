package verify

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTolerance is the replay window used when [Options.Tolerance] is zero:
// webhook-timestamp may be this far in the past or the future.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxTokenLifetime is the longest JWT lifetime accepted when
// [Options.MaxTokenLifetime] is zero. A delivery's token needs minutes; a
// token good for a day is one a thief can use for a day.
const DefaultMaxTokenLifetime = time.Hour

// Scheme names the signature scheme that verified a message.
type Scheme string

// The schemes Gemini uses.
const (
	SchemeV1  Scheme = "v1"  // HMAC-SHA256 with a shared secret (project webhooks)
	SchemeV1a Scheme = "v1a" // Ed25519 with a JWKS key (per-request webhooks, observed)
	SchemeJWT Scheme = "jwt" // RS256 JWT with a JWKS key (per-request webhooks, documented)
)

// String returns the scheme name.
func (s Scheme) String() string { return string(s) }

// Message describes a verified delivery.
type Message struct {
	// ID is webhook-id as sent: the dedup key, stable across retries.
	ID string
	// Timestamp is webhook-timestamp (this attempt), in UTC.
	Timestamp time.Time
	// Scheme is the scheme of the token that verified.
	Scheme Scheme
	// KeyID names the key that verified: for v1 the decimal index of the
	// matching secret in the slice [SecretSource.Secrets] returned ("0" is the
	// first; useful to see when an old secret is still in use during a
	// rotation); for v1a the kid of the matching Ed25519 JWK ("" if it has
	// none); for jwt the kid of the JWT header.
	KeyID string
	// BodySigned reports whether the signature covered the body: true for
	// v1 and v1a, false for jwt (a JWT signs only its claims).
	BodySigned bool
	// TokenID identifies the single-use credential that verified a jwt
	// delivery: the hex SHA-256 of the token. A JWT does not sign the body,
	// so the caller must accept one TokenID for one webhook-id only (the
	// ledger's Delivery.Token). Empty for v1 and v1a.
	TokenID string
}

// Options configures New.
type Options struct {
	// Secrets gives the HMAC secrets of the v1 scheme. Nil turns v1 off.
	Secrets SecretSource
	// JWKSURL is the absolute http(s) URL of the JWK Set holding the
	// Ed25519 (v1a) and RSA (JWT) keys. Empty turns both schemes off. Other
	// URL schemes (file://) are refused.
	JWKSURL string
	// Audience must appear in a JWT's aud claim (string or array). Empty
	// turns JWT deliveries off: a JWT without an audience of ours could
	// have been issued to anyone.
	Audience string
	// Issuer, when set, must equal a JWT's iss claim. Empty means iss is not
	// checked.
	Issuer string
	// MaxTokenLifetime bounds a JWT's lifetime: exp - iat, or exp - now
	// without iat, may exceed it by at most Tolerance. Zero means
	// [DefaultMaxTokenLifetime].
	MaxTokenLifetime time.Duration
	// Tolerance is the replay window for webhook-timestamp and the leeway
	// for JWT exp and nbf. Zero means [DefaultTolerance]; negative is refused.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient fetches the JWKS; nil means a client of the package's own
	// with http.DefaultTransport. Each fetch is bounded by
	// DefaultJWKSTimeout.
	HTTPClient *http.Client
}

// Verifier checks webhook deliveries. It is safe for concurrent use; build
// one per process with New.
type Verifier struct {
	secrets   SecretSource
	jwks      *JWKS
	audience  string
	issuer    string
	lifetime  time.Duration
	tolerance time.Duration
	now       func() time.Time
	macs      macPools
}

// New builds a [Verifier]. It does no network I/O. It fails with
// [ErrInvalidOptions] when neither Secrets nor JWKSURL is set, Tolerance is
// negative, or JWKSURL is not an absolute http(s) URL; and with an error
// wrapping [ErrInvalidSecret] when Secrets is a [StaticSecrets] source holding a
// bad secret.
func New(o Options) (*Verifier, error) {
	if o.Secrets == nil && o.JWKSURL == "" {
		return nil, fmt.Errorf("%w: neither Secrets nor JWKSURL set", ErrInvalidOptions)
	}
	if o.Tolerance < 0 || o.MaxTokenLifetime < 0 {
		return nil, fmt.Errorf("%w: negative Tolerance or MaxTokenLifetime", ErrInvalidOptions)
	}
	if s, ok := o.Secrets.(*staticSecrets); ok && s.err != nil {
		return nil, s.err
	}
	v := &Verifier{
		secrets:   o.Secrets,
		audience:  o.Audience,
		issuer:    o.Issuer,
		lifetime:  cmp.Or(o.MaxTokenLifetime, DefaultMaxTokenLifetime),
		tolerance: cmp.Or(o.Tolerance, DefaultTolerance),
		now:       o.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if o.JWKSURL != "" {
		j, err := NewJWKS(JWKSOptions{URL: o.JWKSURL, HTTPClient: o.HTTPClient, Now: v.now})
		if err != nil {
			return nil, err
		}
		v.jwks = j
	}
	return v, nil
}

// Schemes reports which schemes v accepts: v1 with Secrets, v1a with a
// JWKS, jwt with a JWKS and an Audience.
func (v *Verifier) Schemes() []Scheme {
	var ss []Scheme
	if v.secrets != nil {
		ss = append(ss, SchemeV1)
	}
	if v.jwks != nil {
		ss = append(ss, SchemeV1a)
		if v.audience != "" {
			ss = append(ss, SchemeJWT)
		}
	}
	return ss
}

// Precheck runs every check of Verify that needs no body and no key: the
// three headers present ([ErrMissingHeaders]) and well formed
// ([ErrInvalidHeaders]), the timestamp within the tolerance
// ([ErrTimestampTooOld], [ErrTimestampTooNew]), and at least one token of a
// scheme v accepts ([ErrSchemeDisabled] when the only tokens are of schemes
// it does not accept, [ErrNoMatchingSignature] when none is usable at all).
// A server calls it before reading the body, so that a request that can
// never verify costs no read. It does no I/O.
func (v *Verifier) Precheck(h http.Header) error {
	var c check
	return v.parse(h, &c)
}

// Verify checks one delivery: h are its headers (http.Header as net/http
// gives them; lower-case keys are accepted too) and body its raw body,
// exactly as received. Checks run cheapest first: Precheck's, then the
// signature tokens ([ErrNoMatchingSignature]). A delivery is valid when any
// token verifies; tokens of unknown versions and malformed tokens are
// skipped. When the keys cannot be obtained and nothing else verified, the
// error wraps [ErrKeysUnavailable]. Signatures are compared in constant time.
// Error texts never contain secrets, signatures or the body.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) (Message, error) {
	c := check{body: body}
	if err := v.parse(h, &c); err != nil {
		return Message{}, err
	}
	m := Message{ID: c.id, Timestamp: time.Unix(c.tsUnix, 0).UTC()}
	if c.run(ctx, &m) {
		m.BodySigned = m.Scheme != SchemeJWT
		return m, nil
	}
	return Message{}, c.err()
}

// parse reads the three headers into c, applies the replay window and
// classifies the signature tokens.
func (v *Verifier) parse(h http.Header, c *check) error {
	id, err := headerValue(h, hdrID, HeaderID)
	if err != nil {
		return err
	}
	tsText, err := headerValue(h, hdrTimestamp, HeaderTimestamp)
	if err != nil {
		return err
	}
	sigText, err := headerValue(h, hdrSignature, HeaderSignature)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return err
	}
	if err := parseSignatureHeader(sigText, &c.sh); err != nil {
		return err
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}
	c.v, c.id, c.ts, c.tsUnix = v, id, tsText, ts
	c.classify()
	switch {
	case c.v1+c.v1a+c.jwt > 0:
		return nil
	case c.symmetricOff || c.asymmetricOff || c.jwtOff:
		return fmt.Errorf("%w: %s", ErrSchemeDisabled, c.summary())
	}
	return fmt.Errorf("%w: %s", ErrNoMatchingSignature, c.summary())
}

// checkTimestamp applies the tolerance. now is truncated to whole seconds,
// the resolution of the header, so exactly Tolerance away still passes.
func (v *Verifier) checkTimestamp(ts int64) error {
	now := v.now().Unix()
	limit := int64(v.tolerance / time.Second)
	switch {
	case now-ts > limit:
		return fmt.Errorf("%w: %d s old, tolerance %v", ErrTimestampTooOld, now-ts, v.tolerance)
	case ts-now > limit:
		return fmt.Errorf("%w: %d s ahead, tolerance %v", ErrTimestampTooNew, ts-now, v.tolerance)
	}
	return nil
}

// check is the state of one signature check: what was tried, for the error
// text on failure.
type check struct {
	v      *Verifier
	id     string
	ts     string
	tsUnix int64
	body   []byte
	sh     sigHeader

	msg []byte // id.ts.body, built once for Ed25519

	v1, v1a, jwt   int   // well-formed tokens per scheme
	skipped        int   // unknown versions and malformed tokens
	secretsN       int   // secrets tried
	secretsErr     error // the secret source failed
	jwksErr        error // the JWKS has no set
	jwtErr         error // first JWT failure
	refreshV1      bool  // the secret source loaded new secrets
	refreshJWKS    bool  // the JWKS loaded a new set
	asymmetricOff  bool  // v1a/JWT tokens present but no JWKS configured
	jwtOff         bool  // JWT tokens present but no audience configured
	symmetricOff   bool  // v1 tokens present but no secrets configured
	wantJWKSUpdate bool  // an asymmetric check failed in a way new keys may fix
	v1Sigs         [MaxSignatureTokens][sha256.Size]byte
}

// classify decodes the tokens and counts them per scheme, leaving out the
// schemes that v does not accept.
func (c *check) classify() {
	for i := 0; i < c.sh.n; i++ {
		t := c.sh.toks[i]
		switch t.kind {
		case tokV1:
			if decodeSig(c.v1Sigs[c.v1][:], t.value) {
				c.v1++
				continue
			}
		case tokV1a:
			var sig [ed25519.SignatureSize]byte
			if decodeSig(sig[:], t.value) {
				c.v1a++
				continue
			}
			c.sh.toks[i].kind = tokMalformed
		case tokJWT:
			c.jwt++
			continue
		}
		c.skipped++
	}
	if c.v1 > 0 && c.v.secrets == nil {
		c.symmetricOff, c.v1 = true, 0
	}
	if c.v1a+c.jwt > 0 && c.v.jwks == nil {
		c.asymmetricOff, c.v1a, c.jwt = true, 0, 0
	}
	if c.jwt > 0 && c.v.audience == "" {
		c.jwtOff, c.jwt = true, 0
	}
}

// run tries the tokens with the cached keys, then, if none verified,
// refreshes the sources that could help and tries once more.
func (c *check) run(ctx context.Context, m *Message) bool {
	if c.v1 > 0 {
		if keys, err := c.v.secrets.Secrets(ctx); err != nil {
			c.secretsErr = err
		} else if c.matchV1(keys, m) {
			return true
		}
	}
	var ks *KeySet
	if c.v1a+c.jwt > 0 {
		var err error
		if ks, err = c.v.jwks.Keys(ctx); err != nil {
			c.jwksErr = err
		} else if c.matchAsymmetric(ks, m) {
			return true
		}
	}

	// Second round: only sources that reported new material are retried.
	if c.v1 > 0 && c.secretsErr == nil {
		if r, ok := c.v.secrets.(Refresher); ok {
			if loaded, err := r.Refresh(ctx); err == nil && loaded {
				c.refreshV1 = true
				if keys, err := c.v.secrets.Secrets(ctx); err != nil {
					c.secretsErr = err
				} else if c.matchV1(keys, m) {
					return true
				}
			}
		}
	}
	if ks != nil && c.wantJWKSUpdate {
		if loaded, err := c.v.jwks.Refresh(ctx); err == nil && loaded {
			c.refreshJWKS = true
			if ks, err = c.v.jwks.Keys(ctx); err == nil && c.matchAsymmetric(ks, m) {
				return true
			}
		}
	}
	return false
}

var stdStrict = base64.StdEncoding.Strict()

// decodeSig decodes padded standard base64 of exactly len(dst) bytes into
// dst without allocating. Only the canonical encoding is accepted: padded
// as RFC 4648 and every Standard Webhooks reference library require, no
// line breaks (which encoding/base64 would skip) and no nonzero padding
// bits, so that one signature has one spelling.
func decodeSig(dst []byte, s string) bool {
	var src [128]byte
	var out [96]byte
	enc := stdStrict
	if len(s) > len(src) || len(s)%4 != 0 || enc.DecodedLen(len(s)) > len(out) || strings.ContainsAny(s, "\r\n") {
		return false
	}
	n := copy(src[:], s)
	k, err := enc.Decode(out[:], src[:n])
	if err != nil || k != len(dst) {
		return false
	}
	copy(dst, out[:k])
	return true
}

// matchV1 computes HMAC-SHA256(key, id.ts.body) once per secret and compares
// it with every v1 token in constant time.
func (c *check) matchV1(keys [][]byte, m *Message) bool {
	for i, key := range keys {
		if len(key) < MinSecretBytes {
			continue
		}
		c.secretsN++
		pool := c.v.macs.get(key)
		st := pool.Get().(*macState)
		st.h.Reset()
		st.buf = append(append(append(append(st.buf[:0], c.id...), '.'), c.ts...), '.')
		st.h.Write(st.buf)
		st.h.Write(c.body)
		sum := st.h.Sum(st.sum[:0])
		ok := false
		for j := 0; j < c.v1; j++ {
			if hmac.Equal(sum, c.v1Sigs[j][:]) {
				ok = true
				break
			}
		}
		if cap(st.buf) <= 2*MaxIDBytes {
			pool.Put(st)
		}
		if ok {
			m.Scheme, m.KeyID = SchemeV1, strconv.Itoa(i)
			return true
		}
	}
	return false
}

// matchAsymmetric tries the v1a tokens against every Ed25519 key and the
// JWTs against their kid's RSA key.
func (c *check) matchAsymmetric(ks *KeySet, m *Message) bool {
	if c.v1a > 0 {
		if c.msg == nil {
			c.msg = make([]byte, 0, len(c.id)+len(c.ts)+2+len(c.body))
			c.msg = append(append(append(append(append(c.msg, c.id...), '.'), c.ts...), '.'), c.body...)
		}
		for _, k := range ks.Ed25519() {
			for j := 0; j < c.sh.n; j++ {
				var sig [ed25519.SignatureSize]byte
				if c.sh.toks[j].kind != tokV1a || !decodeSig(sig[:], c.sh.toks[j].value) {
					continue
				}
				if ed25519.Verify(k.Key, c.msg, sig[:]) {
					m.Scheme, m.KeyID = SchemeV1a, k.ID
					return true
				}
			}
		}
		c.wantJWKSUpdate = true
	}
	for j := 0; j < c.sh.n && c.jwt > 0; j++ {
		if c.sh.toks[j].kind != tokJWT {
			continue
		}
		tok := c.sh.toks[j].value
		kid, out, err := verifyJWT(tok, ks, jwtRules{
			now: c.v.now(), tolerance: c.v.tolerance, lifetime: c.v.lifetime,
			audience: c.v.audience, issuer: c.v.issuer,
		})
		if out == jwtOK {
			sum := sha256.Sum256([]byte(tok))
			m.Scheme, m.KeyID, m.TokenID = SchemeJWT, kid, hex.EncodeToString(sum[:])
			return true
		}
		if c.jwtErr == nil {
			c.jwtErr = err
		}
		if out == jwtNoKey {
			c.wantJWKSUpdate = true
		}
	}
	return false
}

// summary lists the tokens found. Only counts and fixed phrases: nothing
// a sender controls beyond its shape, never a key or signature.
func (c *check) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tokens: %d v1, %d v1a, %d jwt, %d skipped", c.v1, c.v1a, c.jwt, c.skipped)
	if c.symmetricOff {
		b.WriteString("; v1 tokens ignored: no secrets configured")
	}
	if c.asymmetricOff {
		b.WriteString("; v1a/jwt tokens ignored: no JWKS configured here")
	}
	if c.jwtOff {
		b.WriteString("; jwt tokens ignored: no audience configured")
	}
	return b.String()
}

// err describes the failure of run, in the terms of summary.
func (c *check) err() error {
	var b strings.Builder
	b.WriteString(c.summary())
	if c.v1 > 0 {
		fmt.Fprintf(&b, "; %d secret(s) tried", c.secretsN)
	}
	if c.jwtErr != nil {
		fmt.Fprintf(&b, "; %v", c.jwtErr)
	}
	if c.refreshV1 {
		b.WriteString("; secrets refreshed")
	}
	if c.refreshJWKS {
		b.WriteString("; JWKS refreshed")
	}
	if c.secretsErr != nil {
		return fmt.Errorf("%w: %s: secret source: %w", ErrKeysUnavailable, b.String(), c.secretsErr)
	}
	if c.jwksErr != nil {
		return fmt.Errorf("%w: %s: %w", ErrKeysUnavailable, b.String(), c.jwksErr)
	}
	return fmt.Errorf("%w: %s", ErrNoMatchingSignature, b.String())
}

// macState is a reusable HMAC for one key with its scratch space. hmac's
// Reset restores the precomputed pad state, so reuse saves two SHA-256
// blocks and five allocations per request.
type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// maxMACPools bounds the keys with pooled HMAC state; past it the pools are
// dropped and rebuilt (rotations are rare, so this only guards a source
// that returns ever-new keys).
const maxMACPools = 16

// macPools maps a key to its pool. Lookups are lock-free on an immutable
// map; additions copy it.
type macPools struct {
	m  atomic.Pointer[map[string]*sync.Pool]
	mu sync.Mutex
}

func (p *macPools) get(key []byte) *sync.Pool {
	if m := p.m.Load(); m != nil {
		if pool, ok := (*m)[string(key)]; ok {
			return pool
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.m.Load()
	if old != nil {
		if pool, ok := (*old)[string(key)]; ok {
			return pool
		}
	}
	next := make(map[string]*sync.Pool)
	if old != nil && len(*old) < maxMACPools {
		for k, v := range *old {
			next[k] = v
		}
	}
	k := string(key)
	kb := []byte(k)
	pool := &sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, kb)}
	}}
	next[k] = pool
	p.m.Store(&next)
	return pool
}
