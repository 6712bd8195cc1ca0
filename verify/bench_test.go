package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// benchBody is a JSON-shaped body of n bytes.
func benchBody(n int) []byte {
	head := []byte(`{"type":"batch.succeeded","data":{"id":"batch_123456","pad":"`)
	b := append(head, bytes.Repeat([]byte("x"), n-len(head)-3)...)
	return append(b, `"}}`...)
}

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// BenchmarkV1 compares Verify (v1 HMAC-SHA256, one secret, one token) with
// the Standard Webhooks reference Go library and with a bare HMAC-SHA256 of
// the same bytes (hmac: a fresh hmac.New per call, what a minimal verifier
// does; hmac-reused: one pre-keyed HMAC reset per call, the floor). Read with
// benchstat -col /impl.
func BenchmarkV1(b *testing.B) {
	key, err := verify.ParseSecret(verifytest.Secret)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now() // the reference library reads time.Now itself
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(strings.TrimPrefix(verifytest.Secret, "whsec_"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, size := range benchSizes {
		body := benchBody(size.n)
		h := verifytest.NewSigner().V1(id, now, body)
		prefix := []byte(id + "." + strconv.FormatInt(now.Unix(), 10) + ".")
		want := mustB64(strings.TrimPrefix(h.Get(verify.HeaderSignature), "v1,"))
		sum := make([]byte, 0, sha256.Size)
		bareHMAC := func(m hashWriter) bool {
			m.Write(prefix)
			m.Write(body)
			return hmac.Equal(m.Sum(sum[:0]), want)
		}
		b.Run("body="+size.name+"/impl=hmac", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				if !bareHMAC(hmac.New(sha256.New, key)) {
					b.Fatal("mismatch")
				}
			}
		})
		b.Run("body="+size.name+"/impl=hmac-reused", func(b *testing.B) {
			m := hmac.New(sha256.New, key)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				m.Reset()
				if !bareHMAC(m) {
					b.Fatal("mismatch")
				}
			}
		})
		b.Run("body="+size.name+"/impl=geminihook", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("body="+size.name+"/impl=standardwebhooks", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := wh.Verify(body, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type hashWriter interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// BenchmarkAsymmetric measures v1a and jwt (1 KiB body, keys cached) beside
// the bare signature checks ed25519.Verify and rsa.VerifyPKCS1v15.
func BenchmarkAsymmetric(b *testing.B) {
	s := verifytest.NewSigner()
	srv := verifytest.NewJWKSServer(verifytest.JWKS(s))
	defer srv.Close()
	now := time.Now()
	v, err := verify.New(verify.Options{JWKSURL: srv.URL, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	body := benchBody(1 << 10)
	content := verifytest.Content(id, now, body)
	edSig := mustB64(strings.TrimPrefix(s.V1aToken(id, now, body), "v1a,"))
	pub := s.Ed25519.Public().(ed25519.PublicKey)
	b.Run("scheme=v1a/impl=bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, content, edSig) {
				b.Fatal("mismatch")
			}
		}
	})
	tok := s.JWTToken(id, now)
	i := strings.LastIndexByte(tok, '.')
	rsaSig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	b.Run("scheme=jwt/impl=bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256([]byte(tok[:i]))
			if rsa.VerifyPKCS1v15(&s.RSA.PublicKey, crypto.SHA256, d[:], rsaSig) != nil {
				b.Fatal("mismatch")
			}
		}
	})
	for _, scheme := range []string{"v1a", "jwt"} {
		h := s.Header(scheme, id, now, body)
		if _, err := v.Verify(ctx, h, body); err != nil {
			b.Fatal(err)
		}
		b.Run("scheme="+scheme+"/impl=geminihook", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
