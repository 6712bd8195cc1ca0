// Package verifytest signs webhook deliveries in all three schemes that
// package verify accepts (v1 HMAC-SHA256, v1a Ed25519, RS256 JWT) and serves
// a JWK Set over HTTP whose behaviour tests can change. It uses fixed, public
// test keys: never use them for anything real.
//
// It does not import "testing" (the CLI uses it to send signed test
// deliveries) nor package verify (so verify's own tests can use it).
package verifytest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fixed test material of NewSigner and NewSecondSigner. The secrets follow
// the Standard Webhooks format (whsec_ + base64 of 32 bytes).
const (
	Secret         = "whsec_Z2VtaW5paG9vay10ZXN0LXNlY3JldC0wMDAwMDAwMDE="
	SecondSecret   = "whsec_Z2VtaW5paG9vay10ZXN0LXNlY3JldC0wMDAwMDAwMDI="
	Ed25519KeyID   = "test-ed25519-1"
	SecondEdKeyID  = "test-ed25519-2"
	RSAKeyID       = "test-rsa-1"
	SecondRSAKeyID = "test-rsa-2"
)

// Ed25519 seeds of NewSigner and NewSecondSigner.
var (
	Ed25519Seed       = seed("geminihook verifytest ed25519 1")
	SecondEd25519Seed = seed("geminihook verifytest ed25519 2")
)

func seed(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

//go:embed testdata/rsa1.pem
var rsa1PEM []byte

//go:embed testdata/rsa2.pem
var rsa2PEM []byte

// RSAKeyPEM returns the PKCS #8 PEM of NewSigner's (n = 1) or
// NewSecondSigner's (n = 2) RSA key; nil for other n.
func RSAKeyPEM(n int) []byte {
	switch n {
	case 1:
		return append([]byte(nil), rsa1PEM...)
	case 2:
		return append([]byte(nil), rsa2PEM...)
	}
	return nil
}

func mustRSA(p []byte) *rsa.PrivateKey {
	b, _ := pem.Decode(p)
	if b == nil {
		panic("verifytest: embedded RSA key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		panic("verifytest: embedded RSA key: " + err.Error())
	}
	return k.(*rsa.PrivateKey)
}

// Signer produces signed webhook headers. The zero value signs nothing
// useful; use NewSigner or fill the fields. Every field is read at each call,
// so tests may change them between calls.
type Signer struct {
	// Secrets are whsec_ secrets; V1 emits one token per secret.
	Secrets []string
	// Ed25519 signs v1a; Ed25519KeyID is its kid in JWKS.
	Ed25519      ed25519.PrivateKey
	Ed25519KeyID string
	// RSA signs JWTs; RSAKeyID is its kid in the JWT header and in JWKS.
	RSA      *rsa.PrivateKey
	RSAKeyID string
	// Audience is the JWT aud claim; empty leaves it out.
	Audience string
	// Lifetime sets the JWT exp claim to the timestamp plus Lifetime; zero
	// means 5 minutes.
	Lifetime time.Duration
}

// NewSigner returns a Signer with the first set of fixed test material:
// Secret, Ed25519Seed (kid Ed25519KeyID), RSA key 1 (kid RSAKeyID).
func NewSigner() *Signer {
	return &Signer{
		Secrets:      []string{Secret},
		Ed25519:      ed25519.NewKeyFromSeed(Ed25519Seed),
		Ed25519KeyID: Ed25519KeyID,
		RSA:          mustRSA(rsa1PEM),
		RSAKeyID:     RSAKeyID,
	}
}

// NewSecondSigner returns a Signer with the second, different set of fixed
// test material (for rotations and wrong-key tests).
func NewSecondSigner() *Signer {
	return &Signer{
		Secrets:      []string{SecondSecret},
		Ed25519:      ed25519.NewKeyFromSeed(SecondEd25519Seed),
		Ed25519KeyID: SecondEdKeyID,
		RSA:          mustRSA(rsa2PEM),
		RSAKeyID:     SecondRSAKeyID,
	}
}

// Headers returns webhook-id, webhook-timestamp (Unix seconds of ts) and
// webhook-signature set to signature.
func Headers(id string, ts time.Time, signature string) http.Header {
	h := http.Header{}
	// The names of verify.HeaderID, HeaderTimestamp and HeaderSignature,
	// spelled out: verify's own tests import this package, so it cannot
	// import verify (TestSigner checks that the names agree).
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("Webhook-Signature", signature)
	return h
}

// Content returns the signed content of v1 and v1a: id.ts.body.
func Content(id string, ts time.Time, body []byte) []byte {
	return []byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "." + string(body))
}

// Header signs with the named scheme: "v1", "v1a" or "jwt". It panics on
// another name.
func (s *Signer) Header(scheme, id string, ts time.Time, body []byte) http.Header {
	switch scheme {
	case "v1":
		return s.V1(id, ts, body)
	case "v1a":
		return s.V1a(id, ts, body)
	case "jwt":
		return s.JWT(id, ts, body)
	}
	panic("verifytest: unknown scheme " + strconv.Quote(scheme))
}

// V1 returns headers with one "v1,<HMAC-SHA256>" token per secret. It
// panics if a secret is not base64 (a programming error in a test).
func (s *Signer) V1(id string, ts time.Time, body []byte) http.Header {
	toks := make([]string, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		toks = append(toks, V1Token(sec, id, ts, body))
	}
	return Headers(id, ts, strings.Join(toks, " "))
}

// V1Token returns the token "v1,<base64 HMAC-SHA256(key, id.ts.body)>". It
// panics if secret is not (optionally whsec_-prefixed) base64.
func V1Token(secret, id string, ts time.Time, body []byte) string {
	key := decodeSecret(secret)
	m := hmac.New(sha256.New, key)
	m.Write(Content(id, ts, body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func decodeSecret(secret string) []byte {
	s := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	enc := base64.RawStdEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.StdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		panic("verifytest: secret is not base64")
	}
	return key
}

// V1a returns headers with the token "v1a,<base64 Ed25519 signature of
// id.ts.body>".
func (s *Signer) V1a(id string, ts time.Time, body []byte) http.Header {
	return Headers(id, ts, s.V1aToken(id, ts, body))
}

// V1aToken returns the v1a token alone.
func (s *Signer) V1aToken(id string, ts time.Time, body []byte) string {
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(s.Ed25519, Content(id, ts, body)))
}

// JWT returns headers whose webhook-signature is an RS256 JWT with kid
// RSAKeyID and claims iss "verifytest", sub id, iat ts, exp ts+Lifetime and
// aud Audience (when set). body is not covered: whether Gemini's JWT binds
// the body is undocumented, so the token carries no body hash.
func (s *Signer) JWT(id string, ts time.Time, body []byte) http.Header {
	return Headers(id, ts, s.JWTToken(id, ts))
}

// JWTToken returns the JWT that JWT puts in webhook-signature.
func (s *Signer) JWTToken(id string, ts time.Time) string {
	life := s.Lifetime
	if life == 0 {
		life = 5 * time.Minute
	}
	claims := map[string]any{
		"iss": "verifytest",
		"sub": id,
		"iat": ts.Unix(),
		"exp": ts.Add(life).Unix(),
	}
	if s.Audience != "" {
		claims["aud"] = s.Audience
	}
	return s.SignJWT(map[string]any{"alg": "RS256", "typ": "JWT", "kid": s.RSAKeyID}, claims)
}

// SignJWT encodes header and claims as JSON (keys sorted) and signs
// header.payload with RS256 using s.RSA, whatever alg header claims: tests
// use it to build tokens that lie about their algorithm.
func (s *Signer) SignJWT(header, claims any) string {
	in := EncodeJWTPart(header) + "." + EncodeJWTPart(claims)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.RSA, crypto.SHA256, d[:])
	if err != nil {
		panic("verifytest: RS256 signing failed: " + err.Error())
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// EncodeJWTPart returns base64url(JSON(v)). A []byte or string v is taken
// as the JSON text itself, so tests can encode malformed JSON.
func EncodeJWTPart(v any) string {
	var b []byte
	switch v := v.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic("verifytest: " + err.Error())
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// JWK returns the public JWKs of the signer: the Ed25519 key (OKP) and the
// RSA key (RS256), each present only when set.
func (s *Signer) JWK() []map[string]string {
	var keys []map[string]string
	if s.Ed25519 != nil {
		keys = append(keys, map[string]string{
			"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": s.Ed25519KeyID,
			"x": base64.RawURLEncoding.EncodeToString(s.Ed25519.Public().(ed25519.PublicKey)),
		})
	}
	if s.RSA != nil {
		keys = append(keys, map[string]string{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.RSAKeyID,
			"n": base64.RawURLEncoding.EncodeToString(s.RSA.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(s.RSA.E)).Bytes()),
		})
	}
	return keys
}

// JWKS returns a JWK Set document with the public keys of all signers.
func JWKS(signers ...*Signer) []byte {
	keys := []map[string]string{}
	for _, s := range signers {
		keys = append(keys, s.JWK()...)
	}
	return JWKSOf(keys...)
}

// JWKSOf returns a JWK Set document holding exactly keys (which may be
// malformed: tests use it to serve odd sets).
func JWKSOf(keys ...map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(fmt.Sprintf("verifytest: %v", err))
	}
	return b
}
