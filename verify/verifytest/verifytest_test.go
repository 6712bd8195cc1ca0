package verifytest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func TestV1TokenStandardVector(t *testing.T) {
	got := verifytest.V1Token("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("V1Token = %q, want %q", got, want)
	}
}

func TestSigner(t *testing.T) {
	s := verifytest.NewSigner()
	ts := time.Unix(1767000000, 0)
	body := []byte(`{}`)
	for _, scheme := range []string{"v1", "v1a", "jwt"} {
		h := s.Header(scheme, "msg_1", ts, body)
		if h.Get(verify.HeaderID) != "msg_1" || h.Get(verify.HeaderTimestamp) != "1767000000" || h.Get(verify.HeaderSignature) == "" {
			t.Errorf("Header(%s) = %v", scheme, h)
		}
		for _, name := range []string{verify.HeaderID, verify.HeaderTimestamp, verify.HeaderSignature} {
			if _, ok := h[http.CanonicalHeaderKey(name)]; !ok {
				t.Errorf("Header(%s) = %v: no %s under its canonical key", scheme, h, name)
			}
		}
	}
	sig := strings.TrimPrefix(s.V1aToken("msg_1", ts, body), "v1a,")
	if len(sig) != 88 {
		t.Errorf("v1a signature %q: want 88 base64 characters", sig)
	}
	if !ed25519.PublicKey(s.Ed25519.Public().(ed25519.PublicKey)).Equal(ed25519.NewKeyFromSeed(verifytest.Ed25519Seed).Public()) {
		t.Error("Ed25519 key not from Ed25519Seed")
	}
	two := &verifytest.Signer{Secrets: []string{verifytest.Secret, verifytest.SecondSecret}}
	if toks := strings.Fields(two.V1("msg_1", ts, body).Get(verify.HeaderSignature)); len(toks) != 2 || toks[0] == toks[1] {
		t.Errorf("V1 with two secrets = %q, want two different tokens", toks)
	}
	b := verifytest.NewSecondSigner()
	if s.RSA.Equal(b.RSA) || s.RSAKeyID == b.RSAKeyID || s.Ed25519KeyID == b.Ed25519KeyID || s.Secrets[0] == b.Secrets[0] {
		t.Error("the two signers share material")
	}
	defer func() {
		if recover() == nil {
			t.Error("Header(\"v2\") did not panic")
		}
	}()
	s.Header("v2", "msg_1", ts, body)
}

func TestJWKS(t *testing.T) {
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(verifytest.JWKS(verifytest.NewSigner(), verifytest.NewSecondSigner()), &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k["kid"])
		if k["d"] != "" || k["p"] != "" {
			t.Errorf("JWK %s carries private material", k["kid"])
		}
	}
	if want := "test-ed25519-1 test-rsa-1 test-ed25519-2 test-rsa-2"; strings.Join(kids, " ") != want {
		t.Errorf("kids = %v, want %s", kids, want)
	}
}

func TestJWKSServer(t *testing.T) {
	srv := verifytest.NewJWKSServer([]byte(`{"keys":[]}`))
	defer srv.Close()
	get := func() (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get(); resp.StatusCode != 200 || body != `{"keys":[]}` || resp.Header.Get("Cache-Control") != "" {
		t.Errorf("default answer = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	srv.SetMaxAge(90 * time.Second)
	srv.SetStatus(http.StatusBadGateway)
	srv.SetBody([]byte("down"))
	if resp, body := get(); resp.StatusCode != 502 || body != "down" || resp.Header.Get("Cache-Control") != "public, max-age=90" {
		t.Errorf("changed answer = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	srv.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("delayed request answered before the client's deadline")
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestNewWebhookID(t *testing.T) {
	re := regexp.MustCompile(`^msg_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := verifytest.NewWebhookID(), verifytest.NewWebhookID()
	if !re.MatchString(a) || a == b {
		t.Errorf("NewWebhookID() = %q, %q; want two different msg_<uuid v4>", a, b)
	}
}
