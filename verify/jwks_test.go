package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func newJWKS(t *testing.T, o verify.JWKSOptions) (*verify.JWKS, *verifytest.JWKSServer, *clock) {
	t.Helper()
	srv := verifytest.NewJWKSServer(verifytest.JWKS(verifytest.NewSigner()))
	t.Cleanup(srv.Close)
	c := newClock(t0)
	o.URL, o.Now = srv.URL, c.Now
	j, err := verify.NewJWKS(o)
	if err != nil {
		t.Fatal(err)
	}
	return j, srv, c
}

func TestNewJWKS(t *testing.T) {
	for _, tt := range []struct {
		o    verify.JWKSOptions
		want error
	}{
		{verify.JWKSOptions{URL: "https://generativelanguage.googleapis.com/.well-known/jwks.json"}, nil},
		{verify.JWKSOptions{URL: ""}, verify.ErrInvalidOptions},
		{verify.JWKSOptions{URL: "file:///jwks.json"}, verify.ErrInvalidOptions},
		{verify.JWKSOptions{URL: "http://x/", Cooldown: -1}, verify.ErrInvalidOptions},
		{verify.JWKSOptions{URL: "http://x/", MaxAge: -1}, verify.ErrInvalidOptions},
		{verify.JWKSOptions{URL: "http://x/", Timeout: -1}, verify.ErrInvalidOptions},
	} {
		if _, err := verify.NewJWKS(tt.o); !errors.Is(err, tt.want) {
			t.Errorf("NewJWKS(%+v) = %v, want %v", tt.o, err, tt.want)
		}
	}
}

func TestJWKSCache(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		cacheControl string
		steps        []time.Duration // clock advances; one Keys call after each
		wantRequests []int
	}{
		{"default max-age 1h", "", []time.Duration{0, 59 * time.Minute, time.Minute - time.Second, time.Second}, []int{1, 1, 1, 2}},
		{"max-age 600", "public, max-age=600", []time.Duration{0, 599 * time.Second, time.Second}, []int{1, 1, 2}},
		{"max-age quoted, other directives", `must-revalidate, MAX-AGE="120", s-maxage=9`, []time.Duration{0, 119 * time.Second, time.Second}, []int{1, 1, 2}},
		{"max-age 0 limited by cooldown", "max-age=0", []time.Duration{0, 59 * time.Second, time.Second, time.Second}, []int{1, 1, 2, 2}},
		{"no-store limited by cooldown", "no-store", []time.Duration{0, 30 * time.Second, 30 * time.Second}, []int{1, 1, 2}},
		{"huge max-age capped at 24h", "max-age=999999999", []time.Duration{0, 24*time.Hour - time.Second, time.Second}, []int{1, 1, 2}},
		{"garbage max-age uses default", "max-age=soon", []time.Duration{0, 59 * time.Minute, time.Minute}, []int{1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, srv, c := newJWKS(t, verify.JWKSOptions{})
			srv.SetCacheControl(tt.cacheControl)
			for i, d := range tt.steps {
				c.Add(d)
				ks, err := j.Keys(ctx)
				if err != nil || ks.Len() != 2 {
					t.Fatalf("step %d: Keys = %v keys, %v", i, ks.Len(), err)
				}
				if n := srv.Requests(); n != tt.wantRequests[i] {
					t.Fatalf("step %d (+%v): requests = %d, want %d", i, d, n, tt.wantRequests[i])
				}
			}
		})
	}
}

// TestJWKSCooldownFlood: a thousand concurrent lookups of unknown key ids
// cost one fetch, and the next ones within the cooldown none.
func TestJWKSCooldownFlood(t *testing.T) {
	e := newEnv(t, verify.Options{})
	ctx := context.Background()
	if _, err := e.v.Verify(ctx, e.a.JWT(id, t0, body), body); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(verify.DefaultJWKSCooldown) // a refetch is now allowed
	e.srv.SetDelay(50 * time.Millisecond)   // keep the fetch in flight while the flood arrives
	forged := e.b.SignJWT(map[string]any{"alg": "RS256", "kid": "forged-kid"}, map[string]any{"exp": t0.Unix() + 600})
	h := verifytest.Headers(id, e.clock.Now(), forged)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.v.Verify(ctx, h, body); !errors.Is(err, verify.ErrNoMatchingSignature) {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wrong != 0 {
		t.Errorf("%d of 1000 forged requests did not fail with ErrNoMatchingSignature", wrong)
	}
	if n := e.srv.Requests(); n != 2 {
		t.Errorf("JWKS requests = %d, want 2 (initial + one refetch for the flood)", n)
	}
	// The same flood again within the cooldown: no fetch at all.
	for range 100 {
		e.v.Verify(ctx, h, body)
	}
	if n := e.srv.Requests(); n != 2 {
		t.Errorf("JWKS requests after a second flood = %d, want 2", n)
	}
}

func TestJWKSSingleFlight(t *testing.T) {
	j, srv, c := newJWKS(t, verify.JWKSOptions{})
	srv.SetDelay(50 * time.Millisecond)
	ctx := context.Background()
	if _, err := j.Keys(ctx); err != nil {
		t.Fatal(err)
	}
	c.Add(verify.DefaultJWKSCooldown)
	var wg sync.WaitGroup
	var loaded, errs int
	var mu sync.Mutex
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := j.Refresh(ctx)
			mu.Lock()
			if ok {
				loaded++
			}
			if err != nil {
				errs++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := srv.Requests(); n != 2 || errs != 0 || loaded == 0 {
		t.Errorf("requests %d, errors %d, loaded %d; want 2 requests, no error, some loaded", n, errs, loaded)
	}
	if ok, err := j.Refresh(ctx); ok || err != nil {
		t.Errorf("Refresh within cooldown = %v, %v; want false, nil", ok, err)
	}
}

func TestJWKSStaleOnError(t *testing.T) {
	big := append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), verify.MaxJWKSBytes)...)
	big = append(big, `"}`...)
	tests := []struct {
		name    string
		break_  func(*verifytest.JWKSServer)
		wantErr error
	}{
		{"500", func(s *verifytest.JWKSServer) { s.SetStatus(http.StatusInternalServerError) }, verify.ErrKeysUnavailable},
		{"404", func(s *verifytest.JWKSServer) { s.SetStatus(http.StatusNotFound) }, verify.ErrKeysUnavailable},
		{"204", func(s *verifytest.JWKSServer) { s.SetStatus(http.StatusNoContent); s.SetBody(nil) }, verify.ErrKeysUnavailable},
		{"not JSON", func(s *verifytest.JWKSServer) { s.SetBody([]byte("<html>")) }, verify.ErrInvalidJWKS},
		{"no usable key", func(s *verifytest.JWKSServer) { s.SetBody([]byte(`{"keys":[{"kty":"EC"}]}`)) }, verify.ErrInvalidJWKS},
		{"oversized", func(s *verifytest.JWKSServer) { s.SetBody(big) }, verify.ErrInvalidJWKS},
		{"timeout", func(s *verifytest.JWKSServer) { s.SetDelay(time.Second) }, verify.ErrKeysUnavailable},
		{"server gone", func(s *verifytest.JWKSServer) { s.Close() }, verify.ErrKeysUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, srv, c := newJWKS(t, verify.JWKSOptions{Timeout: 100 * time.Millisecond})
			ctx := context.Background()
			if _, err := j.Keys(ctx); err != nil {
				t.Fatal(err)
			}
			tt.break_(srv)
			c.Add(2 * verify.DefaultJWKSMaxAge)
			ok, err := j.Refresh(ctx)
			if ok || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Refresh = %v, %v; want false, %v", ok, err, tt.wantErr)
			}
			ks, err := j.Keys(ctx) // expired, in cooldown: the stale set
			if err != nil || ks.RSA(verifytest.RSAKeyID) == nil {
				t.Fatalf("Keys after failed refetch = %v, %v; want the last good set", ks, err)
			}
			c.Add(verify.DefaultJWKSCooldown) // expired, cooldown over: refetch fails, stale set
			if ks, err := j.Keys(ctx); err != nil || ks.Len() != 2 {
				t.Fatalf("Keys after second failed refetch = %v, %v; want the last good set", ks, err)
			}
		})
	}
}

func TestJWKSNothingCached(t *testing.T) {
	j, srv, c := newJWKS(t, verify.JWKSOptions{})
	srv.SetStatus(http.StatusServiceUnavailable)
	ctx := context.Background()
	for i := range 3 {
		if ks, err := j.Keys(ctx); !errors.Is(err, verify.ErrKeysUnavailable) || ks != nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("call %d: Keys = %v, %v; want ErrKeysUnavailable naming the 503", i, ks, err)
		}
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("requests = %d, want 1 (cooldown after a failure)", n)
	}
	srv.SetStatus(http.StatusOK)
	c.Add(verify.DefaultJWKSCooldown)
	if _, err := j.Keys(ctx); err != nil || srv.Requests() != 2 {
		t.Errorf("Keys after cooldown = %v with %d requests; want nil with 2", err, srv.Requests())
	}
}

func TestJWKSCallerGivesUp(t *testing.T) {
	j, srv, _ := newJWKS(t, verify.JWKSOptions{})
	srv.SetDelay(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := j.Keys(ctx); !errors.Is(err, verify.ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Keys = %v, want ErrKeysUnavailable wrapping DeadlineExceeded", err)
	}
	// The fetch itself went on and fills the cache for later callers.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ks, err := j.Keys(context.Background())
		if err == nil && ks.Len() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache never filled: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestParseJWKS(t *testing.T) {
	a := verifytest.NewSigner()
	edJWK, rsaJWK := a.JWK()[0], a.JWK()[1]
	mod := func(k map[string]string, kv ...string) map[string]string {
		c := map[string]string{}
		for k, v := range k {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(c, kv[i])
			} else {
				c[kv[i]] = kv[i+1]
			}
		}
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	odd := func(n int) string { m := bytes.Repeat([]byte{0xff}, n); return b64(m) }
	tests := []struct {
		name     string
		doc      []byte
		rsa, ed  int
		wantErr  error
		wantKids []string
	}{
		{"both", verifytest.JWKSOf(edJWK, rsaJWK), 1, 1, nil, []string{"test-rsa-1"}},
		{"no alg, no use", verifytest.JWKSOf(mod(edJWK, "alg", "", "use", ""), mod(rsaJWK, "alg", "", "use", "")), 1, 1, nil, nil},
		{"alg Ed25519", verifytest.JWKSOf(mod(edJWK, "alg", "Ed25519")), 0, 1, nil, nil},
		{"padded base64url", verifytest.JWKSOf(mod(rsaJWK, "n", rsaJWK["n"]+"==")), 1, 0, nil, nil},
		{"EC key ignored", verifytest.JWKSOf(map[string]string{"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"}, rsaJWK), 1, 0, nil, nil},
		{"RS512 ignored", verifytest.JWKSOf(mod(rsaJWK, "alg", "RS512"), edJWK), 0, 1, nil, nil},
		{"PS256 ignored", verifytest.JWKSOf(mod(rsaJWK, "alg", "PS256"), edJWK), 0, 1, nil, nil},
		{"use enc ignored", verifytest.JWKSOf(mod(rsaJWK, "use", "enc"), edJWK), 0, 1, nil, nil},
		{"RSA without kid ignored", verifytest.JWKSOf(mod(rsaJWK, "kid", ""), edJWK), 0, 1, nil, nil},
		{"RSA 1024 bits ignored", verifytest.JWKSOf(mod(rsaJWK, "n", odd(128)), edJWK), 0, 1, nil, nil},
		{"RSA 2040 bits ignored", verifytest.JWKSOf(mod(rsaJWK, "n", odd(255)), edJWK), 0, 1, nil, nil},
		{"RSA 8192 bits kept", verifytest.JWKSOf(mod(rsaJWK, "n", odd(1024))), 1, 0, nil, nil},
		{"RSA 8200 bits ignored", verifytest.JWKSOf(mod(rsaJWK, "n", odd(1025)), edJWK), 0, 1, nil, nil},
		{"RSA even exponent ignored", verifytest.JWKSOf(mod(rsaJWK, "e", b64([]byte{1, 0, 0})), edJWK), 0, 1, nil, nil},
		{"RSA exponent 1 ignored", verifytest.JWKSOf(mod(rsaJWK, "e", b64([]byte{1})), edJWK), 0, 1, nil, nil},
		{"RSA exponent 5 bytes ignored", verifytest.JWKSOf(mod(rsaJWK, "e", b64([]byte{1, 0, 0, 0, 1})), edJWK), 0, 1, nil, nil},
		{"RSA n not base64 ignored", verifytest.JWKSOf(mod(rsaJWK, "n", "!!"), edJWK), 0, 1, nil, nil},
		{"X25519 ignored", verifytest.JWKSOf(mod(edJWK, "crv", "X25519"), rsaJWK), 1, 0, nil, nil},
		{"Ed448 ignored", verifytest.JWKSOf(mod(edJWK, "crv", "Ed448"), rsaJWK), 1, 0, nil, nil},
		{"Ed25519 x 31 bytes ignored", verifytest.JWKSOf(mod(edJWK, "x", b64(make([]byte, 31))), rsaJWK), 1, 0, nil, nil},
		{"Ed25519 alg ES256 ignored", verifytest.JWKSOf(mod(edJWK, "alg", "ES256"), rsaJWK), 1, 0, nil, nil},
		{"Ed25519 without kid kept", verifytest.JWKSOf(mod(edJWK, "kid", "")), 0, 1, nil, nil},
		{"oct key ignored", verifytest.JWKSOf(map[string]string{"kty": "oct", "k": "c2VjcmV0", "kid": "test-rsa-1"}, rsaJWK), 1, 0, nil, nil},
		{"duplicate RSA kid: first wins", verifytest.JWKSOf(rsaJWK, mod(verifytest.NewSecondSigner().JWK()[1], "kid", rsaJWK["kid"])), 1, 0, nil, nil},
		{"duplicate Ed25519 kid: first wins", verifytest.JWKSOf(edJWK, mod(verifytest.NewSecondSigner().JWK()[0], "kid", edJWK["kid"])), 0, 1, nil, nil},
		{"entry not an object", []byte(`{"keys":[1,"x",null,` + string(verifytest.JWKSOf(rsaJWK)[9:len(verifytest.JWKSOf(rsaJWK))-2]) + `]}`), 1, 0, nil, nil},
		{"empty set", []byte(`{"keys":[]}`), 0, 0, verify.ErrInvalidJWKS, nil},
		{"only ignored keys", verifytest.JWKSOf(mod(rsaJWK, "alg", "RS384")), 0, 0, verify.ErrInvalidJWKS, nil},
		{"no keys member", []byte(`{"kty":"RSA"}`), 0, 0, verify.ErrInvalidJWKS, nil},
		{"keys not an array", []byte(`{"keys":{}}`), 0, 0, verify.ErrInvalidJWKS, nil},
		{"array document", []byte(`[]`), 0, 0, verify.ErrInvalidJWKS, nil},
		{"not JSON", []byte(`<html>`), 0, 0, verify.ErrInvalidJWKS, nil},
		{"too many keys", verifytest.JWKSOf(repeat(edJWK, verify.MaxJWKSKeys+1)...), 0, 0, verify.ErrInvalidJWKS, nil},
		{"too large", append(verifytest.JWKSOf(rsaJWK), bytes.Repeat([]byte(" "), verify.MaxJWKSBytes)...), 0, 0, verify.ErrInvalidJWKS, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := verify.ParseJWKS(tt.doc)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseJWKS = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			rsaN := ks.Len() - len(ks.Ed25519())
			if rsaN != tt.rsa || len(ks.Ed25519()) != tt.ed {
				t.Errorf("ParseJWKS: %d RSA, %d Ed25519 keys; want %d, %d", rsaN, len(ks.Ed25519()), tt.rsa, tt.ed)
			}
			for _, kid := range tt.wantKids {
				if ks.RSA(kid) == nil {
					t.Errorf("RSA(%q) = nil", kid)
				}
			}
		})
	}
	// First of duplicate kids wins: key 1, not key 2.
	ks, _ := verify.ParseJWKS(verifytest.JWKSOf(rsaJWK, mod(verifytest.NewSecondSigner().JWK()[1], "kid", rsaJWK["kid"])))
	if !ks.RSA(rsaJWK["kid"]).Equal(&a.RSA.PublicKey) {
		t.Error("duplicate kid: the second key replaced the first")
	}
}

func repeat(k map[string]string, n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		c := map[string]string{}
		for kk, v := range k {
			c[kk] = v
		}
		c["kid"] = "k" + strconv.Itoa(i)
		out[i] = c
	}
	return out
}
