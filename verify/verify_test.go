package verify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// The header names as net/http's canonical keys, for header maps built by
// hand (Set canonicalises; a map literal does not).
var (
	canonicalID        = http.CanonicalHeaderKey(verify.HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(verify.HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(verify.HeaderSignature)
)

var body = []byte(`{"type":"batch.succeeded","data":{"id":"batch_1"}}`)

const id = "msg_2f1c9a52-7d43-4c8e-9b0a-3e6f5d4c2b1a"

func TestNew(t *testing.T) {
	good := verify.StaticSecrets(verifytest.Secret)
	tests := []struct {
		name string
		o    verify.Options
		want error
	}{
		{"secrets only", verify.Options{Secrets: good}, nil},
		{"jwks only", verify.Options{JWKSURL: "https://example.com/jwks.json"}, nil},
		{"both", verify.Options{Secrets: good, JWKSURL: "http://127.0.0.1:1/jwks", Tolerance: time.Minute}, nil},
		{"nothing", verify.Options{}, verify.ErrInvalidOptions},
		{"negative tolerance", verify.Options{Secrets: good, Tolerance: -time.Second}, verify.ErrInvalidOptions},
		{"file url", verify.Options{JWKSURL: "file:///etc/jwks.json"}, verify.ErrInvalidOptions},
		{"ftp url", verify.Options{JWKSURL: "ftp://example.com/jwks"}, verify.ErrInvalidOptions},
		{"relative url", verify.Options{JWKSURL: "/jwks.json"}, verify.ErrInvalidOptions},
		{"no host", verify.Options{JWKSURL: "https:///jwks.json"}, verify.ErrInvalidOptions},
		{"unparseable url", verify.Options{JWKSURL: "http://[::1"}, verify.ErrInvalidOptions},
		{"bad static secret", verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret, "whsec_!!!")}, verify.ErrInvalidSecret},
		{"empty static secrets", verify.Options{Secrets: verify.StaticSecrets()}, verify.ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(tt.o)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (v != nil) {
				t.Fatalf("New = %v, %v; want error %v", v, err, tt.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	key32 := []byte("geminihook-test-secret-000000001")
	std := base64.StdEncoding.EncodeToString(key32)
	key20 := []byte("twenty-byte-secret!!") // needs padding
	tests := []struct {
		in   string
		want []byte
		err  error
	}{
		{"whsec_" + std, key32, nil},
		{std, key32, nil},
		{"whsec_" + base64.StdEncoding.EncodeToString(key20), key20, nil},
		{"whsec_" + base64.RawStdEncoding.EncodeToString(key20), key20, nil},
		{"  whsec_" + std + "\n", key32, nil},
		{stdSecret, mustB64(strings.TrimPrefix(stdSecret, "whsec_")), nil},
		{"", nil, verify.ErrInvalidSecret},
		{"whsec_", nil, verify.ErrInvalidSecret},
		{"   ", nil, verify.ErrInvalidSecret},
		{"whsec_not base64!", nil, verify.ErrInvalidSecret},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, verify.MinSecretBytes-1)), nil, verify.ErrInvalidSecret},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, verify.MaxSecretBytes+1)), nil, verify.ErrInvalidSecret},
		{"whsec_" + base64.URLEncoding.EncodeToString([]byte("\xfb\xff\xfe-url-safe-is-not-std-base64")), nil, verify.ErrInvalidSecret},
	}
	for _, tt := range tests {
		got, err := verify.ParseSecret(tt.in)
		if !errors.Is(err, tt.err) || string(got) != string(tt.want) {
			t.Errorf("ParseSecret(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && len(tt.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[6:]) {
			t.Errorf("ParseSecret(%q) error %q repeats the secret", tt.in, err)
		}
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestStaticSecrets(t *testing.T) {
	keys, err := verify.StaticSecrets(verifytest.Secret, verifytest.SecondSecret).Secrets(context.Background())
	if err != nil || len(keys) != 2 || string(keys[1]) != "geminihook-test-secret-000000002" {
		t.Errorf("Secrets = %q, %v; want both test secrets", keys, err)
	}
	keys, err = verify.StaticSecrets(verifytest.Secret, "whsec_").Secrets(context.Background())
	if !errors.Is(err, verify.ErrInvalidSecret) || keys != nil || !strings.Contains(err.Error(), "secret 2 of 2") {
		t.Errorf("Secrets with a bad second secret = %q, %v; want nil, ErrInvalidSecret naming secret 2", keys, err)
	}
}

func TestRotation(t *testing.T) {
	a, b := verifytest.NewSigner(), verifytest.NewSecondSigner()
	c := &verifytest.Signer{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("a third secret, in no verifier"))}}
	tokA := verifytest.V1Token(verifytest.Secret, id, t0, body)
	tokB := verifytest.V1Token(verifytest.SecondSecret, id, t0, body)
	tokC := c.V1(id, t0, body).Get(verify.HeaderSignature)
	v, err := verify.New(verify.Options{
		Secrets: verify.StaticSecrets(verifytest.Secret, verifytest.SecondSecret),
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sig string
		wantKey   string
		want      error
	}{
		{"old secret only", tokA, "0", nil},
		{"new secret only", tokB, "1", nil},
		{"both, old first", tokA + " " + tokB, "0", nil},
		{"both, new first", tokB + " " + tokA, "0", nil},
		{"unknown secret", tokC, "", verify.ErrNoMatchingSignature},
		{"unknown then new", tokC + " " + tokB, "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := v.Verify(context.Background(), verifytest.Headers(id, t0, tt.sig), body)
			if !errors.Is(err, tt.want) || m.KeyID != tt.wantKey {
				t.Fatalf("Verify = %+v, %v; want KeyID %q, error %v", m, err, tt.wantKey, tt.want)
			}
			if err == nil && (m.Scheme != verify.SchemeV1 || m.ID != id || !m.Timestamp.Equal(t0)) {
				t.Errorf("Verify = %+v, want v1 message %s at %v", m, id, t0)
			}
		})
	}
	// The signer emits one token per secret, the way a sender mid-rotation does.
	both := &verifytest.Signer{Secrets: append(a.Secrets, b.Secrets...)}
	if _, err := v.Verify(context.Background(), both.V1(id, t0, body), body); err != nil {
		t.Errorf("Verify(two-token header) = %v", err)
	}
}

func TestTolerance(t *testing.T) {
	for _, scheme := range []string{"v1", "v1a", "jwt"} {
		for _, tt := range []struct {
			name      string
			tolerance time.Duration
			skew      time.Duration // now - timestamp
			want      error
		}{
			{"exact", 0, 0, nil},
			{"5min old", 0, 5 * time.Minute, nil},
			{"5min new", 0, -5 * time.Minute, nil},
			{"5min old plus fraction", 0, 5*time.Minute + 900*time.Millisecond, nil},
			{"5min+1s old", 0, 5*time.Minute + time.Second, verify.ErrTimestampTooOld},
			{"5min+1s new", 0, -5*time.Minute - time.Second, verify.ErrTimestampTooNew},
			{"days old", 0, 72 * time.Hour, verify.ErrTimestampTooOld},
			{"custom 30s old", 30 * time.Second, 30 * time.Second, nil},
			{"custom 31s old", 30 * time.Second, 31 * time.Second, verify.ErrTimestampTooOld},
			{"custom 31s new", 30 * time.Second, -31 * time.Second, verify.ErrTimestampTooNew},
		} {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, verify.Options{Tolerance: tt.tolerance})
				h := e.a.Header(scheme, id, t0, body)
				e.clock.Add(tt.skew)
				_, err := e.v.Verify(context.Background(), h, body)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Verify = %v, want %v", err, tt.want)
				}
			})
		}
	}
	// The tolerance is checked before any signature work: a stale request
	// with a bad signature is reported as stale.
	e := newEnv(t, verify.Options{})
	e.clock.Add(time.Hour)
	if _, err := e.v.Verify(context.Background(), verifytest.Headers(id, t0, "v1,AAAA"), body); !errors.Is(err, verify.ErrTimestampTooOld) {
		t.Errorf("Verify(stale, bad signature) = %v, want ErrTimestampTooOld", err)
	}
	if n := e.srv.Requests(); n != 0 {
		t.Errorf("JWKS requests = %d, want 0", n)
	}
}

func TestHeaders(t *testing.T) {
	e := newEnv(t, verify.Options{})
	valid := e.a.V1(id, t0, body)
	tok := valid.Get(verify.HeaderSignature)
	ts := strconv.FormatInt(t0.Unix(), 10)
	raw := strings.TrimPrefix(tok, "v1,")
	mac := mustB64(raw)
	tests := []struct {
		name string
		h    http.Header
		want error
	}{
		{"valid", valid, nil},
		{"lower-case keys", http.Header{verify.HeaderID: {id}, verify.HeaderTimestamp: {ts}, verify.HeaderSignature: {tok}}, nil},
		{"no id", cloneHeader(valid, map[string]string{verify.HeaderID: "\x00"}), verify.ErrMissingHeaders},
		{"empty id", cloneHeader(valid, map[string]string{verify.HeaderID: ""}), verify.ErrMissingHeaders},
		{"no timestamp", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "\x00"}), verify.ErrMissingHeaders},
		{"no signature", cloneHeader(valid, map[string]string{verify.HeaderSignature: "\x00"}), verify.ErrMissingHeaders},
		{"empty signature", cloneHeader(valid, map[string]string{verify.HeaderSignature: ""}), verify.ErrMissingHeaders},
		{"svix headers are not read", http.Header{"Svix-Id": {id}, "Svix-Timestamp": {ts}, "Svix-Signature": {tok}}, verify.ErrMissingHeaders},
		{"repeated id", http.Header{canonicalID: {id, id}, canonicalTimestamp: {ts}, canonicalSignature: {tok}}, verify.ErrInvalidHeaders},
		{"repeated timestamp", http.Header{canonicalID: {id}, canonicalTimestamp: {ts, ts}, canonicalSignature: {tok}}, verify.ErrInvalidHeaders},
		{"repeated signature", http.Header{canonicalID: {id}, canonicalTimestamp: {ts}, canonicalSignature: {tok, tok}}, verify.ErrInvalidHeaders},
		{"id too long", cloneHeader(valid, map[string]string{verify.HeaderID: strings.Repeat("x", verify.MaxIDBytes+1)}), verify.ErrInvalidHeaders},
		{"timestamp plus sign", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "+" + ts}), verify.ErrInvalidHeaders},
		{"timestamp negative", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "-" + ts}), verify.ErrInvalidHeaders},
		{"timestamp leading space", http.Header{canonicalID: {id}, canonicalTimestamp: {" " + ts}, canonicalSignature: {tok}}, verify.ErrInvalidHeaders},
		{"timestamp trailing space", http.Header{canonicalID: {id}, canonicalTimestamp: {ts + " "}, canonicalSignature: {tok}}, verify.ErrInvalidHeaders},
		{"timestamp fraction", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: ts + ".0"}), verify.ErrInvalidHeaders},
		{"timestamp exponent", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "1.767e9"}), verify.ErrInvalidHeaders},
		{"timestamp hex", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "0x6953b880"}), verify.ErrInvalidHeaders},
		{"timestamp arabic digits", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "١٧٦٧٠٠٠٠٠٠"}), verify.ErrInvalidHeaders},
		{"timestamp milliseconds far future", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: ts + "000"}), verify.ErrTimestampTooNew},
		{"timestamp 19 digits", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: strings.Repeat("9", 19)}), verify.ErrInvalidHeaders},
		{"timestamp zero", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "0"}), verify.ErrTimestampTooOld},
		{"signature too long", cloneHeader(valid, map[string]string{verify.HeaderSignature: tok + " v9," + strings.Repeat("A", verify.MaxSignatureHeaderBytes)}), verify.ErrInvalidHeaders},
		{"too many tokens", cloneHeader(valid, map[string]string{verify.HeaderSignature: strings.Repeat("v2,x ", verify.MaxSignatureTokens) + tok}), verify.ErrInvalidHeaders},
		{"max tokens", cloneHeader(valid, map[string]string{verify.HeaderSignature: strings.Repeat("v2,x ", verify.MaxSignatureTokens-1) + tok}), nil},
		{"only spaces", http.Header{canonicalID: {id}, canonicalTimestamp: {ts}, canonicalSignature: {"   "}}, verify.ErrInvalidHeaders},
		{"extra spaces", cloneHeader(valid, map[string]string{verify.HeaderSignature: "  v1,AAAA   " + tok + "  "}), nil},
		{"malformed tokens around a good one", cloneHeader(valid, map[string]string{verify.HeaderSignature: "garbage v1, ,v1 v1,!!! v1a,@@ a.b.c v2," + raw + " " + tok}), nil},
		// Every Standard Webhooks reference library compares the padded
		// text: one signature, one spelling.
		{"unpadded v1", cloneHeader(valid, map[string]string{verify.HeaderSignature: strings.TrimRight(tok, "=")}), verify.ErrNoMatchingSignature},
		{"v1 alone", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v1,"}), verify.ErrNoMatchingSignature},
		{"comma alone", cloneHeader(valid, map[string]string{verify.HeaderSignature: ","}), verify.ErrNoMatchingSignature},
		{"no version", cloneHeader(valid, map[string]string{verify.HeaderSignature: raw}), verify.ErrNoMatchingSignature},
		{"unknown version, right mac", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v2," + raw}), verify.ErrNoMatchingSignature},
		{"upper-case version", cloneHeader(valid, map[string]string{verify.HeaderSignature: "V1," + raw}), verify.ErrNoMatchingSignature},
		{"trailing comma part", cloneHeader(valid, map[string]string{verify.HeaderSignature: tok + ",extra"}), verify.ErrNoMatchingSignature},
		{"truncated mac", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v1," + base64.StdEncoding.EncodeToString(mac[:31])}), verify.ErrNoMatchingSignature},
		{"longer mac", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v1," + base64.StdEncoding.EncodeToString(append(mac, 0))}), verify.ErrNoMatchingSignature},
		{"url-safe base64", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v1," + base64.URLEncoding.EncodeToString(mac)}), errIfURLDiffers(mac)},
		{"tab separator", cloneHeader(valid, map[string]string{verify.HeaderSignature: "v2,x\t" + tok}), verify.ErrNoMatchingSignature},
		{"other id", cloneHeader(valid, map[string]string{verify.HeaderID: id + "x"}), verify.ErrNoMatchingSignature},
		{"other timestamp", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: strconv.FormatInt(t0.Unix()+1, 10)}), verify.ErrNoMatchingSignature},
		{"leading zero timestamp", cloneHeader(valid, map[string]string{verify.HeaderTimestamp: "0" + ts}), verify.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.v.Verify(context.Background(), tt.h, body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), raw[:16]) {
				t.Errorf("error %q contains the signature", err)
			}
		})
	}
}

// errIfURLDiffers: a mac whose base64 has no '+' or '/' encodes the same in
// both alphabets and must then verify.
func errIfURLDiffers(mac []byte) error {
	if base64.URLEncoding.EncodeToString(mac) == base64.StdEncoding.EncodeToString(mac) {
		return nil
	}
	return verify.ErrNoMatchingSignature
}

func TestV1a(t *testing.T) {
	e := newEnv(t, verify.Options{})
	m, err := e.v.Verify(context.Background(), e.a.V1a(id, t0, body), body)
	if err != nil || m.Scheme != verify.SchemeV1a || m.KeyID != verifytest.Ed25519KeyID {
		t.Fatalf("Verify(v1a) = %+v, %v; want scheme v1a, key %s", m, err, verifytest.Ed25519KeyID)
	}
	sig := e.a.V1aToken(id, t0, body)
	tests := []struct {
		name, sig string
		want      error
	}{
		{"unpadded", strings.TrimRight(sig, "="), verify.ErrNoMatchingSignature},
		{"among others", "v1,AAAA v1a,AAAA " + sig + " v2,zz", nil},
		{"other key", e.b.V1aToken(id, t0, body), verify.ErrNoMatchingSignature},
		{"bit flipped", sig[:10] + string(sig[10]^1) + sig[11:], verify.ErrNoMatchingSignature},
		{"short", "v1a," + base64.StdEncoding.EncodeToString(make([]byte, 63)), verify.ErrNoMatchingSignature},
		{"as v1", "v1," + strings.TrimPrefix(sig, "v1a,"), verify.ErrNoMatchingSignature},
		{"signature of other body", e.a.V1aToken(id, t0, []byte("{}")), verify.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.v.Verify(context.Background(), verifytest.Headers(id, t0, tt.sig), body); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestJWKSRotation: a key the cached set does not know is found by one
// refetch, once the cooldown allows it.
func TestJWKSRotation(t *testing.T) {
	for _, scheme := range []string{"v1a", "jwt"} {
		t.Run(scheme, func(t *testing.T) {
			e := newEnv(t, verify.Options{})
			ctx := context.Background()
			if _, err := e.v.Verify(ctx, e.a.Header(scheme, id, t0, body), body); err != nil {
				t.Fatal(err)
			}
			e.srv.SetBody(verifytest.JWKS(e.a, e.b)) // Google publishes a new key
			e.clock.Add(30 * time.Second)
			if _, err := e.v.Verify(ctx, e.b.Header(scheme, id, e.clock.Now(), body), body); !errors.Is(err, verify.ErrNoMatchingSignature) {
				t.Fatalf("within cooldown: Verify = %v, want ErrNoMatchingSignature", err)
			}
			if n := e.srv.Requests(); n != 1 {
				t.Fatalf("within cooldown: JWKS requests = %d, want 1", n)
			}
			e.clock.Add(31 * time.Second)
			m, err := e.v.Verify(ctx, e.b.Header(scheme, id, e.clock.Now(), body), body)
			if err != nil {
				t.Fatalf("after cooldown: Verify = %v", err)
			}
			want := e.b.Ed25519KeyID
			if scheme == "jwt" {
				want = e.b.RSAKeyID
			}
			if m.KeyID != want || e.srv.Requests() != 2 {
				t.Errorf("after cooldown: KeyID %q, requests %d; want %q, 2", m.KeyID, e.srv.Requests(), want)
			}
		})
	}
}

func TestJWTAttacks(t *testing.T) {
	e := newEnv(t, verify.Options{Audience: vecAud})
	a := e.a
	now := t0.Unix()
	hdr := map[string]any{"alg": "RS256", "typ": "JWT", "kid": a.RSAKeyID}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": "x", "aud": vecAud, "iat": now, "exp": now + 300}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	with := func(k string, v any) map[string]any {
		h := map[string]any{}
		for k, v := range hdr {
			h[k] = v
		}
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	// HS256 forgeries keyed with public material, the classic algorithm
	// confusion attack.
	pubDER, _ := x509.MarshalPKIXPublicKey(&a.RSA.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwkBytes, _ := json.Marshal(a.JWK()[1])
	hs256 := func(key []byte) string {
		in := verifytest.EncodeJWTPart(with("alg", "HS256")) + "." + verifytest.EncodeJWTPart(claims(nil))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	valid := a.SignJWT(hdr, claims(nil))
	parts := strings.Split(valid, ".")
	b := verifytest.NewSecondSigner()
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", valid, true},
		{"valid, kid of second key unknown", b.SignJWT(with("kid", b.RSAKeyID), claims(nil)), false},
		{"alg none, empty signature", verifytest.EncodeJWTPart(with("alg", "none")) + "." + parts[1] + ".", false},
		{"alg none, signature kept", verifytest.EncodeJWTPart(with("alg", "none")) + "." + parts[1] + "." + parts[2], false},
		{"alg None", a.SignJWT(with("alg", "None"), claims(nil)), false},
		{"alg rs256 lower case", a.SignJWT(with("alg", "rs256"), claims(nil)), false},
		{"alg missing", a.SignJWT(with("alg", nil), claims(nil)), false},
		{"HS256 keyed with RSA public key PEM", hs256(pubPEM), false},
		{"HS256 keyed with RSA public key DER", hs256(pubDER), false},
		{"HS256 keyed with JWK JSON", hs256(jwkBytes), false},
		{"ES256 header, RS256 signature", a.SignJWT(with("alg", "ES256"), claims(nil)), false},
		{"PS256 header, RS256 signature", a.SignJWT(with("alg", "PS256"), claims(nil)), false},
		{"RS512 header, RS256 signature", a.SignJWT(with("alg", "RS512"), claims(nil)), false},
		{"EdDSA header", a.SignJWT(with("alg", "EdDSA"), claims(nil)), false},
		{"missing kid", a.SignJWT(with("kid", nil), claims(nil)), false},
		{"empty kid", a.SignJWT(with("kid", ""), claims(nil)), false},
		{"unknown kid", a.SignJWT(with("kid", "no-such-key"), claims(nil)), false},
		{"kid of the Ed25519 key", a.SignJWT(with("kid", a.Ed25519KeyID), claims(nil)), false},
		{"crit header", a.SignJWT(with("crit", []string{"b64"}), claims(nil)), false},
		{"bad signature: signed by second key under first kid", b.SignJWT(hdr, claims(nil)), false},
		{"bad signature: bit flipped", parts[0] + "." + parts[1] + "." + flip(parts[2]), false},
		{"bad signature: truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4], false},
		{"payload swapped", parts[0] + "." + verifytest.EncodeJWTPart(claims(map[string]any{"iss": "evil"})) + "." + parts[2], false},
		{"expired beyond leeway", a.SignJWT(hdr, claims(map[string]any{"exp": now - 301})), false},
		{"expired within leeway", a.SignJWT(hdr, claims(map[string]any{"exp": now - 300})), true},
		{"no exp", a.SignJWT(hdr, claims(map[string]any{"exp": nil})), false},
		{"2-hour lifetime", a.SignJWT(hdr, claims(map[string]any{"iat": now - 60, "exp": now - 60 + 7200})), false},
		{"lifetime 1 h + leeway", a.SignJWT(hdr, claims(map[string]any{"iat": now - 60, "exp": now - 60 + 3600 + 300})), true},
		{"lifetime 1 h + leeway + 1 s", a.SignJWT(hdr, claims(map[string]any{"iat": now - 60, "exp": now - 60 + 3600 + 301})), false},
		{"no iat, exp in 2 h", a.SignJWT(hdr, claims(map[string]any{"iat": nil, "exp": now + 7200})), false},
		{"no iat, exp in 1 h", a.SignJWT(hdr, claims(map[string]any{"iat": nil, "exp": now + 3600})), true},
		{"iat in the future beyond leeway", a.SignJWT(hdr, claims(map[string]any{"iat": now + 301, "exp": now + 600})), false},
		{"no aud", a.SignJWT(hdr, claims(map[string]any{"aud": nil})), false},
		{"aud array with ours", a.SignJWT(hdr, claims(map[string]any{"aud": []string{"https://other.example", vecAud}})), true},
		{"aud array without ours", a.SignJWT(hdr, claims(map[string]any{"aud": []string{"https://other.example"}})), false},
		{"fractional exp", a.SignJWT(hdr, claims(map[string]any{"exp": float64(now) + 0.5})), true},
		{"exp as string", a.SignJWT(hdr, claims(map[string]any{"exp": "9999999999"})), false},
		{"future nbf beyond leeway", a.SignJWT(hdr, claims(map[string]any{"nbf": now + 301})), false},
		{"future nbf within leeway", a.SignJWT(hdr, claims(map[string]any{"nbf": now + 300})), true},
		{"wrong aud", a.SignJWT(hdr, claims(map[string]any{"aud": "https://evil.example"})), false},
		{"aud missing", a.SignJWT(hdr, claims(map[string]any{"aud": nil})), false},
		{"aud array with ours", a.SignJWT(hdr, claims(map[string]any{"aud": []string{"x", vecAud}})), true},
		{"aud array without ours", a.SignJWT(hdr, claims(map[string]any{"aud": []string{"x", "y"}})), false},
		{"aud empty array", a.SignJWT(hdr, claims(map[string]any{"aud": []string{}})), false},
		{"aud number", a.SignJWT(hdr, claims(map[string]any{"aud": 1})), false},
		{"aud prefix", a.SignJWT(hdr, claims(map[string]any{"aud": vecAud + "/x"})), false},
		{"malformed JSON header", a.SignJWT(`{"alg":"RS256","kid":"test-rsa-1"`, claims(nil)), false},
		{"header is an array", a.SignJWT(`["RS256"]`, claims(nil)), false},
		{"header is null", a.SignJWT(`null`, claims(nil)), false},
		{"claims are an array", a.SignJWT(hdr, `[1]`), false},
		{"claims are not JSON", a.SignJWT(hdr, `exp=1`), false},
		{"header not base64url", "@@@." + parts[1] + "." + parts[2], false},
		{"padded base64url", parts[0] + "=." + parts[1] + "." + parts[2], false},
		{"too many parts", valid + ".AAAA", false},
		{"two parts", parts[0] + "." + parts[1], false},
		{"empty payload", parts[0] + ".." + parts[2], false},
		{"JWS JSON serialization", `{"payload":"` + parts[1] + `"}`, false},
		{"valid JWT beside junk tokens", "v1,AAAA junk " + valid, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := e.v.Verify(context.Background(), verifytest.Headers(id, t0, tt.token), body)
			if tt.ok {
				if err != nil || m.Scheme != verify.SchemeJWT || m.KeyID != a.RSAKeyID {
					t.Fatalf("Verify = %+v, %v; want jwt with kid %s", m, err, a.RSAKeyID)
				}
				return
			}
			if !errors.Is(err, verify.ErrNoMatchingSignature) {
				t.Fatalf("Verify = %+v, %v; want ErrNoMatchingSignature", m, err)
			}
		})
	}
	// The flood of bad tokens above cost one fetch: the cooldown held.
	if n := e.srv.Requests(); n != 1 {
		t.Errorf("JWKS requests = %d, want 1", n)
	}
}

// TestJWTIssuer: with Options.Issuer the iss claim must equal it.
func TestJWTIssuer(t *testing.T) {
	e := newEnv(t, verify.Options{Issuer: "https://accounts.example.test"})
	now := t0.Unix()
	hdr := map[string]any{"alg": "RS256", "kid": e.a.RSAKeyID}
	for _, tt := range []struct {
		iss  any
		want error
	}{
		{"https://accounts.example.test", nil},
		{"https://evil.example", verify.ErrNoMatchingSignature},
		{nil, verify.ErrNoMatchingSignature},
		{42, verify.ErrNoMatchingSignature},
	} {
		c := map[string]any{"aud": testAudience, "iat": now, "exp": now + 300}
		if tt.iss != nil {
			c["iss"] = tt.iss
		}
		_, err := e.v.Verify(context.Background(), verifytest.Headers(id, t0, e.a.SignJWT(hdr, c)), body)
		if !errors.Is(err, tt.want) {
			t.Errorf("iss %v: Verify = %v, want %v", tt.iss, err, tt.want)
		}
	}
}

// TestBodySignedAndTokenID: v1 and v1a sign the body, a JWT does not and
// is named by the SHA-256 of the token for the caller's single-use rule.
func TestBodySignedAndTokenID(t *testing.T) {
	e := newEnv(t, verify.Options{})
	for _, scheme := range []string{"v1", "v1a", "jwt"} {
		h := e.a.Header(scheme, id, t0, body)
		m, err := e.v.Verify(context.Background(), h, body)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		wantID := ""
		if scheme == "jwt" {
			sum := sha256.Sum256([]byte(h.Get(verify.HeaderSignature)))
			wantID = hex.EncodeToString(sum[:])
		}
		if m.BodySigned != (scheme != "jwt") || m.TokenID != wantID {
			t.Errorf("%s: BodySigned, TokenID = %v, %q; want %v, %q", scheme, m.BodySigned, m.TokenID, scheme != "jwt", wantID)
		}
	}
}

// TestPrecheck: what can be refused without the body is refused by
// Precheck, at no key fetch; a header that can verify passes.
func TestPrecheck(t *testing.T) {
	e := newEnv(t, verify.Options{})
	v1only, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := e.a.V1(id, t0, body)
	tests := []struct {
		name string
		v    *verify.Verifier
		h    http.Header
		want error
	}{
		{"v1", e.v, ok, nil},
		{"v1a", e.v, e.a.V1a(id, t0, body), nil},
		{"jwt", e.v, e.a.JWT(id, t0, body), nil},
		{"no headers", e.v, http.Header{}, verify.ErrMissingHeaders},
		{"stale", e.v, e.a.V1(id, t0.Add(-6*time.Minute), body), verify.ErrTimestampTooOld},
		{"invalid UTF-8 id", e.v, cloneHeader(ok, map[string]string{verify.HeaderID: "msg_\xff"}), verify.ErrInvalidHeaders},
		{"control character in id", e.v, cloneHeader(ok, map[string]string{verify.HeaderID: "msg_\x7f1"}), verify.ErrInvalidHeaders},
		{"C1 control in id", e.v, cloneHeader(ok, map[string]string{verify.HeaderID: "msg_\u00851"}), verify.ErrInvalidHeaders},
		{"only junk tokens", e.v, cloneHeader(ok, map[string]string{verify.HeaderSignature: "v2,abc junk"}), verify.ErrNoMatchingSignature},
		{"unpadded v1 only", e.v, cloneHeader(ok, map[string]string{verify.HeaderSignature: strings.TrimRight(ok.Get(verify.HeaderSignature), "=")}), verify.ErrNoMatchingSignature},
		{"v1a at a v1-only verifier", v1only, e.a.V1a(id, t0, body), verify.ErrSchemeDisabled},
		{"jwt at a v1-only verifier", v1only, e.a.JWT(id, t0, body), verify.ErrSchemeDisabled},
		{"v1a beside v1 at a v1-only verifier", v1only, cloneHeader(ok, map[string]string{verify.HeaderSignature: ok.Get(verify.HeaderSignature) + " " + e.a.V1aToken(id, t0, body)}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.v.Precheck(tt.h); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Precheck = %v, want %v", err, tt.want)
			}
		})
	}
	if n := e.srv.Requests(); n != 0 {
		t.Errorf("JWKS requests by Precheck = %d, want 0", n)
	}
}

func flip(s string) string {
	c := byte('A')
	if s[5] == 'A' {
		c = 'B'
	}
	return s[:5] + string(c) + s[6:]
}

// TestJWTAudienceUnset: without a configured audience a JWT could have been
// issued to anyone, so JWT deliveries are off (before any key is fetched),
// while v1a stays on.
func TestJWTAudienceUnset(t *testing.T) {
	e := newEnv(t, verify.Options{Audience: noAudience})
	for _, aud := range []string{"anything", ""} {
		e.a.Audience = aud
		h := e.a.JWT(id, t0, body)
		if err := e.v.Precheck(h); !errors.Is(err, verify.ErrSchemeDisabled) {
			t.Errorf("Precheck(aud %q, none configured) = %v, want ErrSchemeDisabled", aud, err)
		}
		if _, err := e.v.Verify(context.Background(), h, body); !errors.Is(err, verify.ErrSchemeDisabled) {
			t.Errorf("Verify(aud %q, none configured) = %v, want ErrSchemeDisabled", aud, err)
		}
	}
	if n := e.srv.Requests(); n != 0 {
		t.Errorf("JWKS requests for JWTs with JWT off = %d, want 0", n)
	}
	if _, err := e.v.Verify(context.Background(), e.a.V1a(id, t0, body), body); err != nil {
		t.Errorf("Verify(v1a) with JWT off = %v, want nil", err)
	}
	if got := fmt.Sprint(e.v.Schemes()); got != "[v1 v1a]" {
		t.Errorf("Schemes() = %s, want [v1 v1a]", got)
	}
}

func TestSchemesOff(t *testing.T) {
	s := verifytest.NewSigner()
	v1only, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"v1a", "jwt"} {
		if _, err := v1only.Verify(context.Background(), s.Header(scheme, id, t0, body), body); !errors.Is(err, verify.ErrSchemeDisabled) {
			t.Errorf("v1-only Verify(%s) = %v, want ErrSchemeDisabled", scheme, err)
		}
	}
	srv := verifytest.NewJWKSServer(verifytest.JWKS(s))
	defer srv.Close()
	asym, err := verify.New(verify.Options{JWKSURL: srv.URL, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asym.Verify(context.Background(), s.V1(id, t0, body), body); !errors.Is(err, verify.ErrSchemeDisabled) {
		t.Errorf("JWKS-only Verify(v1) = %v, want ErrSchemeDisabled", err)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("JWKS requests for a v1-only header = %d, want 0", n)
	}
}

// fakeSource is a SecretSource and Refresher whose secrets change on
// Refresh, to test the second round.
type fakeSource struct {
	mu        sync.Mutex
	keys      [][]byte
	next      [][]byte // loaded by Refresh when non-nil
	err       error
	refreshes int
	reload    bool // Refresh reports new material
}

func (f *fakeSource) Secrets(context.Context) ([][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys, f.err
}

func (f *fakeSource) Refresh(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshes++
	if !f.reload {
		return false, nil
	}
	f.keys = f.next
	return true, nil
}

func TestRefresher(t *testing.T) {
	k1, _ := verify.ParseSecret(verifytest.Secret)
	k2, _ := verify.ParseSecret(verifytest.SecondSecret)
	s2 := verifytest.NewSecondSigner()
	ctx := context.Background()
	tests := []struct {
		name          string
		src           *fakeSource
		header        http.Header
		want          error
		wantRefreshes int
	}{
		{"match needs no refresh", &fakeSource{keys: [][]byte{k1}, reload: true}, verifytest.NewSigner().V1(id, t0, body), nil, 0},
		{"new secret after refresh", &fakeSource{keys: [][]byte{k1}, next: [][]byte{k1, k2}, reload: true}, s2.V1(id, t0, body), nil, 1},
		{"refresh within cooldown", &fakeSource{keys: [][]byte{k1}, next: [][]byte{k2}}, s2.V1(id, t0, body), verify.ErrNoMatchingSignature, 1},
		{"refreshed, still no match", &fakeSource{keys: [][]byte{k1}, next: [][]byte{k1}, reload: true}, s2.V1(id, t0, body), verify.ErrNoMatchingSignature, 1},
		{"no v1 token, no refresh", &fakeSource{keys: [][]byte{k1}, reload: true}, verifytest.Headers(id, t0, "v2,xyz"), verify.ErrNoMatchingSignature, 0},
		{"source down", &fakeSource{err: errors.New("secret manager unreachable")}, s2.V1(id, t0, body), verify.ErrKeysUnavailable, 0},
		{"short keys skipped", &fakeSource{keys: [][]byte{[]byte("short")}}, verifytest.Headers(id, t0, verifytest.V1Token("whsec_c2hvcnQ", id, t0, body)), verify.ErrNoMatchingSignature, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(verify.Options{Secrets: tt.src, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(ctx, tt.header, body)
			if !errors.Is(err, tt.want) || tt.src.refreshes != tt.wantRefreshes {
				t.Fatalf("Verify = %v with %d refreshes; want %v with %d", err, tt.src.refreshes, tt.want, tt.wantRefreshes)
			}
			if errors.Is(err, verify.ErrKeysUnavailable) && errors.Is(err, verify.ErrNoMatchingSignature) {
				t.Errorf("error %v is both a key outage and a signature failure", err)
			}
		})
	}
}

func TestKeysUnavailable(t *testing.T) {
	e := newEnv(t, verify.Options{})
	e.srv.SetStatus(http.StatusInternalServerError)
	ctx := context.Background()
	for _, scheme := range []string{"v1a", "jwt"} {
		_, err := e.v.Verify(ctx, e.a.Header(scheme, id, t0, body), body)
		if !errors.Is(err, verify.ErrKeysUnavailable) || errors.Is(err, verify.ErrNoMatchingSignature) {
			t.Errorf("Verify(%s, JWKS down) = %v, want ErrKeysUnavailable only", scheme, err)
		}
	}
	// v1 does not depend on the JWKS.
	if _, err := e.v.Verify(ctx, e.a.V1(id, t0, body), body); err != nil {
		t.Errorf("Verify(v1, JWKS down) = %v", err)
	}
	// A header carrying a valid v1 token beside a v1a token verifies.
	mixed := e.a.V1aToken(id, t0, body) + " " + e.a.V1(id, t0, body).Get(verify.HeaderSignature)
	if _, err := e.v.Verify(ctx, verifytest.Headers(id, t0, mixed), body); err != nil {
		t.Errorf("Verify(v1a+v1, JWKS down) = %v", err)
	}
	if n := e.srv.Requests(); n != 1 {
		t.Errorf("JWKS requests = %d, want 1 (cooldown after the failure)", n)
	}
	// Recovery once the cooldown has passed.
	e.srv.SetStatus(http.StatusOK)
	e.clock.Add(verify.DefaultJWKSCooldown)
	h := e.a.V1a(id, e.clock.Now(), body)
	if _, err := e.v.Verify(ctx, h, body); err != nil {
		t.Errorf("Verify after recovery = %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	e := newEnv(t, verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret, verifytest.SecondSecret)})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.a
			if i%2 == 1 {
				s = e.b
			}
			scheme := []string{"v1", "v1", "v1a", "jwt"}[i%4]
			if scheme != "v1" {
				s = e.a
			}
			b := []byte(strconv.Itoa(i) + string(body))
			if _, err := e.v.Verify(context.Background(), s.Header(scheme, id, t0, b), b); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
