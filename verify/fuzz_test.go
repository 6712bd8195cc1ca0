package verify

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify/verifytest"
)

var fuzzT0 = time.Unix(1767000000, 0)

func FuzzParseSignatureHeader(f *testing.F) {
	s := verifytest.NewSigner()
	body := []byte(`{"type":"batch.succeeded"}`)
	for _, seed := range []string{
		s.V1(fuzzT0.String(), fuzzT0, body).Get(hdrSignature),
		s.V1aToken("msg_1", fuzzT0, body),
		s.JWTToken("msg_1", fuzzT0),
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,bm9wZQ==",
		"v1, v1a, ,,, v2,x a.b.c . .. ...",
		"   ",
		"",
		strings.Repeat("v1,AAAA ", MaxSignatureTokens+1),
		"v1a,\x00\xff v1,\t",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sh sigHeader
		err := parseSignatureHeader(s, &sh)
		var fields []string
		for _, fld := range strings.Split(s, " ") {
			if fld != "" {
				fields = append(fields, fld)
			}
		}
		switch {
		case len(s) > MaxSignatureHeaderBytes, len(fields) > MaxSignatureTokens, len(fields) == 0:
			if !errors.Is(err, ErrInvalidHeaders) {
				t.Fatalf("parse(%q) = %v, want ErrInvalidHeaders", s, err)
			}
			return
		case err != nil:
			t.Fatalf("parse(%q) = %v, want nil", s, err)
		}
		if sh.n != len(fields) {
			t.Fatalf("parse(%q): %d tokens, want %d", s, sh.n, len(fields))
		}
		for i, fld := range fields {
			tok := sh.toks[i]
			version, sig, comma := strings.Cut(fld, ",")
			var want token
			switch {
			case !comma && strings.Contains(fld, "."):
				want = token{tokJWT, fld}
			case !comma || sig == "":
				want = token{tokMalformed, fld}
			case version == "v1":
				want = token{tokV1, sig}
			case version == "v1a":
				want = token{tokV1a, sig}
			default:
				want = token{tokUnknown, sig}
			}
			if tok != want {
				t.Fatalf("parse(%q) token %d = %+v, want %+v", s, i, tok, want)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	a := verifytest.NewSigner()
	srv := verifytest.NewJWKSServer(verifytest.JWKS(a))
	defer srv.Close()
	a.Audience = "https://hooks.example.test/gemini"
	v, err := New(Options{
		Secrets:  StaticSecrets(verifytest.Secret),
		JWKSURL:  srv.URL,
		Audience: a.Audience,
		Now:      func() time.Time { return fuzzT0 },
	})
	if err != nil {
		f.Fatal(err)
	}
	ts := strconv.FormatInt(fuzzT0.Unix(), 10)
	for _, body := range [][]byte{[]byte(`{"type":"batch.succeeded","data":{"id":"batch_1"}}`), {}, []byte("x.y.z")} {
		for _, scheme := range []string{"v1", "v1a", "jwt"} {
			h := a.Header(scheme, "msg_1", fuzzT0, body)
			f.Add("msg_1", ts, h.Get(hdrSignature), body)
		}
	}
	f.Add("msg_1", ts, "v1,AAAA v1a,AAAA a.b.c", []byte("{}"))
	f.Add("msg.1", "0"+ts, "v2,x", []byte("1."))
	f.Add("", "", "", []byte(nil))

	pubEd := a.Ed25519.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, id, tsText, sig string, body []byte) {
		h := http.Header{hdrID: {id}, hdrTimestamp: {tsText}, hdrSignature: {sig}}
		m, err := v.Verify(context.Background(), h, body)
		if err != nil {
			for _, e := range []error{ErrMissingHeaders, ErrInvalidHeaders, ErrNoMatchingSignature, ErrSchemeDisabled, ErrTimestampTooOld, ErrTimestampTooNew} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("Verify error %v outside the vocabulary", err)
		}
		if m.ID != id || strconv.FormatInt(m.Timestamp.Unix(), 10) != strings.TrimLeft(tsText, "0") && tsText != "0" {
			t.Fatalf("Verify accepted with message %+v for id %q ts %q", m, id, tsText)
		}
		// Accepted: some token must verify by an independent computation.
		content := []byte(id + "." + tsText + "." + string(body))
		for _, tok := range strings.Split(sig, " ") {
			switch {
			case m.Scheme == SchemeV1 && strings.HasPrefix(tok, "v1,"):
				mac := hmac.New(sha256.New, []byte("geminihook-test-secret-000000001"))
				mac.Write(content)
				want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
				if tok[3:] == want || tok[3:] == strings.TrimRight(want, "=") {
					return
				}
			case m.Scheme == SchemeV1a && strings.HasPrefix(tok, "v1a,"):
				raw, err := base64.StdEncoding.DecodeString(tok[4:])
				if err != nil {
					raw, err = base64.RawStdEncoding.DecodeString(tok[4:])
				}
				if err == nil && len(raw) == ed25519.SignatureSize && ed25519.Verify(pubEd, content, raw) {
					return
				}
			case m.Scheme == SchemeJWT && strings.Count(tok, ".") == 2:
				i := strings.LastIndexByte(tok, '.')
				raw, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
				d := sha256.Sum256([]byte(tok[:i]))
				if err == nil && rsa.VerifyPKCS1v15(&a.RSA.PublicKey, crypto.SHA256, d[:], raw) == nil {
					return
				}
			}
		}
		t.Fatalf("Verify accepted %+v without a valid token: id %q ts %q sig %q body %q", m, id, tsText, sig, body)
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(verifytest.JWKS(verifytest.NewSigner(), verifytest.NewSecondSigner()))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":""}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := ParseJWKS(b)
		if (err == nil) != (ks.Len() > 0) {
			t.Fatalf("ParseJWKS = %d keys, %v", ks.Len(), err)
		}
		if err != nil && !errors.Is(err, ErrInvalidJWKS) {
			t.Fatalf("ParseJWKS error %v does not wrap ErrInvalidJWKS", err)
		}
		for _, k := range ks.Ed25519() {
			if len(k.Key) != ed25519.PublicKeySize {
				t.Fatalf("Ed25519 key of %d bytes", len(k.Key))
			}
		}
	})
}
