package verify

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// b64url is the strict unpadded base64url of JWS compact serialization.
var b64url = base64.RawURLEncoding.Strict()

// jwtOutcome says what a failed JWT check means for the caller.
type jwtOutcome uint8

const (
	jwtOK       jwtOutcome = iota
	jwtRejected            // malformed or claims fail: a key refresh cannot help
	jwtNoKey               // unknown kid or bad signature: a refreshed JWKS may help
)

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

type jwtClaims struct {
	Exp *float64        `json:"exp"`
	Nbf *float64        `json:"nbf"`
	Iat *float64        `json:"iat"`
	Aud json.RawMessage `json:"aud"`
	Iss *string         `json:"iss"`
}

// jwtRules are the claim checks of one verification.
type jwtRules struct {
	now       time.Time
	tolerance time.Duration // leeway for exp, nbf and iat
	lifetime  time.Duration // longest exp - iat (exp - now without iat)
	audience  string        // required in aud; never empty here
	issuer    string        // required iss when set
}

// jwtParts is a structurally valid RS256 JWT whose signature is not yet
// checked.
type jwtParts struct {
	kid     string
	signed  string // "header.payload", the JWS signing input
	payload string // base64url claims
	sig     string // base64url signature
}

var (
	errJWTShape   = errors.New("jwt: not three base64url parts")
	errJWTHeader  = errors.New("jwt: malformed header")
	errJWTAlg     = errors.New("jwt: alg is not RS256")
	errJWTCrit    = errors.New("jwt: crit header not supported")
	errJWTKid     = errors.New("jwt: kid missing")
	errJWTUnknown = errors.New("jwt: unknown kid")
	errJWTSig     = errors.New("jwt: bad signature")
	errJWTClaims  = errors.New("jwt: malformed claims")
	errJWTExpired = errors.New("jwt: expired")
	errJWTNoExp   = errors.New("jwt: no exp")
	errJWTLong    = errors.New("jwt: lifetime too long")
	errJWTIat     = errors.New("jwt: issued in the future (iat)")
	errJWTIss     = errors.New("jwt: issuer mismatch")
	errJWTNotYet  = errors.New("jwt: not yet valid (nbf)")
	errJWTAud     = errors.New("jwt: audience mismatch")
)

// parseJWT checks the shape and the protected header: exactly three
// non-empty base64url parts, a JSON object header with alg "RS256" (every
// other algorithm, "none" and HS256 included, is refused before any key is
// looked at), no crit, and a non-empty kid.
func parseJWT(tok string) (jwtParts, error) {
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || h == "" || p == "" || s == "" || strings.IndexByte(s, '.') >= 0 {
		return jwtParts{}, errJWTShape
	}
	hb, err := b64url.DecodeString(h)
	if err != nil {
		return jwtParts{}, errJWTHeader
	}
	var hdr jwtHeader
	if err := json.Unmarshal(hb, &hdr); err != nil || !bytes.HasPrefix(bytes.TrimSpace(hb), []byte("{")) {
		return jwtParts{}, errJWTHeader
	}
	switch {
	case hdr.Alg != "RS256":
		return jwtParts{}, errJWTAlg
	case hdr.Crit != nil:
		return jwtParts{}, errJWTCrit
	case hdr.Kid == "":
		return jwtParts{}, errJWTKid
	}
	return jwtParts{kid: hdr.Kid, signed: tok[:len(h)+1+len(p)], payload: p, sig: s}, nil
}

// verifyJWT checks an RS256 JWT against ks: signature first, then the
// claims: exp required and not past, nbf and iat (when present) not in the
// future, the lifetime (exp - iat, or exp - now without iat) at most
// r.lifetime, all with r.tolerance as leeway; aud must contain r.audience
// (string or array) and iss equal r.issuer when that is set.
func verifyJWT(tok string, ks *KeySet, r jwtRules) (kid string, out jwtOutcome, err error) {
	jp, err := parseJWT(tok)
	if err != nil {
		return "", jwtRejected, err
	}
	pub := ks.RSA(jp.kid)
	if pub == nil {
		return jp.kid, jwtNoKey, errJWTUnknown
	}
	sig, err := b64url.DecodeString(jp.sig)
	if err != nil || len(sig) != pub.Size() {
		return jp.kid, jwtNoKey, errJWTSig
	}
	digest := sha256.Sum256([]byte(jp.signed))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
		return jp.kid, jwtNoKey, errJWTSig
	}
	cb, err := b64url.DecodeString(jp.payload)
	if err != nil {
		return jp.kid, jwtRejected, errJWTClaims
	}
	var c jwtClaims
	if err := json.Unmarshal(cb, &c); err != nil || !bytes.HasPrefix(bytes.TrimSpace(cb), []byte("{")) {
		return jp.kid, jwtRejected, errJWTClaims
	}
	leeway := r.tolerance.Seconds()
	t := float64(r.now.UnixNano()) / 1e9
	start := t
	if c.Iat != nil {
		start = *c.Iat
	}
	switch {
	case c.Exp == nil:
		return jp.kid, jwtRejected, errJWTNoExp
	case t > *c.Exp+leeway:
		return jp.kid, jwtRejected, errJWTExpired
	case c.Nbf != nil && t+leeway < *c.Nbf:
		return jp.kid, jwtRejected, errJWTNotYet
	case c.Iat != nil && t+leeway < *c.Iat:
		return jp.kid, jwtRejected, errJWTIat
	case *c.Exp-start > r.lifetime.Seconds()+leeway:
		return jp.kid, jwtRejected, errJWTLong
	case !hasAudience(c.Aud, r.audience):
		return jp.kid, jwtRejected, errJWTAud
	case r.issuer != "" && (c.Iss == nil || *c.Iss != r.issuer):
		return jp.kid, jwtRejected, errJWTIss
	}
	return jp.kid, jwtOK, nil
}

// hasAudience reports whether the aud claim (a string or an array of
// strings) contains want.
func hasAudience(raw json.RawMessage, want string) bool {
	if len(raw) == 0 {
		return false
	}
	if want == "" {
		return false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}
