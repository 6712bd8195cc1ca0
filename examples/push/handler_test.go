package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

const (
	testAudience = "https://gemini-events-push.example.test/events"
	testAccount  = "gemini-push@example-project.iam.gserviceaccount.com"
)

var testNow = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// google stands in for Google's token service: a signing key and its JWKS
// on a loopback server, nothing over the network.
type google struct {
	signer *verifytest.Signer
	jwks   *verifytest.JWKSServer
}

func newGoogle(t *testing.T) *google {
	t.Helper()
	g := &google{signer: verifytest.NewSigner()}
	g.jwks = verifytest.NewJWKSServer(verifytest.JWKS(g.signer))
	t.Cleanup(g.jwks.Close)
	return g
}

// claims are those of a push subscription's token, as Google issues them.
func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": testAudience, "azp": "1234567890",
		"email": testAccount, "email_verified": true, "sub": "1234567890",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func (g *google) token(c map[string]any) string {
	return g.signer.SignJWT(map[string]any{"alg": "RS256", "kid": g.signer.RSAKeyID, "typ": "JWT"}, c)
}

func (g *google) handler(t *testing.T, process func(context.Context, *events.Event) error) (*Handler, *bytes.Buffer) {
	t.Helper()
	keys, err := verify.NewJWKS(verify.JWKSOptions{URL: g.jwks.URL, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	return &Handler{
		Tokens:  &TokenVerifier{Keys: keys, Audience: testAudience, ServiceAccount: testAccount, Now: func() time.Time { return testNow }},
		Process: process,
		Log:     slog.New(slog.NewJSONHandler(&logs, nil)),
	}, &logs
}

// pushBody is the JSON a push subscription POSTs for m.
func pushBody(t *testing.T, m events.Message) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(m.Data), "attributes": m.Attributes,
			"messageId": "1", "publishTime": "2026-01-22T12:00:00Z",
		},
		"subscription": "projects/example-project/subscriptions/gemini-job-events-push",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eventMessage(t *testing.T) events.Message {
	t.Helper()
	ev, err := events.Parse([]byte(`{"type":"batch.succeeded","data":{"id":"batches/7","output_file_uri":"gs://b/o.jsonl","user_metadata":{"tenant":"acme"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme, ev.ReceivedAt = "msg_push_1", "v1", testNow
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHandler: a request is processed only with a valid token of the
// subscription; every other request is refused before its body is read,
// with the status Pub/Sub push treats as it should.
func TestHandler(t *testing.T) {
	g := newGoogle(t)
	stranger := verifytest.NewSecondSigner()                                     // a key Google does not publish
	forger := &verifytest.Signer{RSA: stranger.RSA, RSAKeyID: g.signer.RSAKeyID} // Google's key id, another key
	good := pushBody(t, eventMessage(t))
	quarantine := pushBody(t, events.QuarantineMessage([]byte("x"), "msg_q", "v1", events.ErrNotObject, testNow))
	with := func(k string, v any) map[string]any { c := claims(testNow); c[k] = v; return c }
	without := func(k string) map[string]any { c := claims(testNow); delete(c, k); return c }

	tests := []struct {
		name    string
		auth    string
		body    []byte
		fail    bool // the work fails
		want    int
		process bool // the work is called
	}{
		{"valid", "Bearer " + g.token(claims(testNow)), good, false, http.StatusNoContent, true},
		{"audience as a list", "Bearer " + g.token(with("aud", []string{"other", testAudience})), good, false, http.StatusNoContent, true},
		{"work fails: retried", "Bearer " + g.token(claims(testNow)), good, true, http.StatusServiceUnavailable, true},
		{"quarantine message: acknowledged", "Bearer " + g.token(claims(testNow)), quarantine, false, http.StatusNoContent, false},
		{"undecodable: dead-lettered", "Bearer " + g.token(claims(testNow)), []byte(`{"message":{"data":"bm90IGpzb24="}}`), false, http.StatusBadRequest, false},
		{"no token", "", good, false, http.StatusUnauthorized, false},
		{"not bearer", "Basic dXNlcjpwYXNz", good, false, http.StatusUnauthorized, false},
		{"garbage", "Bearer a.b.c", good, false, http.StatusUnauthorized, false},
		{"forged signature", "Bearer " + forger.SignJWT(map[string]any{"alg": "RS256", "kid": g.signer.RSAKeyID}, claims(testNow)), good, false, http.StatusUnauthorized, false},
		{"unknown key", "Bearer " + stranger.SignJWT(map[string]any{"alg": "RS256", "kid": stranger.RSAKeyID}, claims(testNow)), good, false, http.StatusUnauthorized, false},
		{"alg none", "Bearer " + verifytest.EncodeJWTPart(map[string]any{"alg": "none"}) + "." + verifytest.EncodeJWTPart(claims(testNow)) + ".", good, false, http.StatusUnauthorized, false},
		{"alg HS256", "Bearer " + g.signer.SignJWT(map[string]any{"alg": "HS256", "kid": g.signer.RSAKeyID}, claims(testNow)), good, false, http.StatusUnauthorized, false},
		{"expired", "Bearer " + g.token(with("exp", testNow.Add(-2*time.Minute).Unix())), good, false, http.StatusUnauthorized, false},
		{"no exp", "Bearer " + g.token(without("exp")), good, false, http.StatusUnauthorized, false},
		{"issued in the future", "Bearer " + g.token(with("iat", testNow.Add(time.Hour).Unix())), good, false, http.StatusUnauthorized, false},
		{"another issuer", "Bearer " + g.token(with("iss", "https://evil.example")), good, false, http.StatusUnauthorized, false},
		{"another audience", "Bearer " + g.token(with("aud", "https://other-service.example/events")), good, false, http.StatusForbidden, false},
		{"another service account", "Bearer " + g.token(with("email", "someone@example-project.iam.gserviceaccount.com")), good, false, http.StatusForbidden, false},
		{"email not verified", "Bearer " + g.token(with("email_verified", false)), good, false, http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*events.Event
			h, logs := g.handler(t, func(_ context.Context, ev *events.Event) error {
				got = append(got, ev)
				if tt.fail {
					return errors.New("downstream down")
				}
				return nil
			})
			body := &readCounter{r: bytes.NewReader(tt.body)}
			r := httptest.NewRequest(http.MethodPost, "/events", body)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d; log:\n%s", w.Code, tt.want, logs)
			}
			if (len(got) == 1) != tt.process {
				t.Errorf("work called %d times, want it called: %v", len(got), tt.process)
			}
			if tt.process && (got[0].WebhookID != "msg_push_1" || got[0].JobID != "batches/7") {
				t.Errorf("event %+v", got[0])
			}
			if (tt.want == http.StatusUnauthorized || tt.want == http.StatusForbidden) && body.n > 0 {
				t.Errorf("%d bytes of the body read before the token was refused", body.n)
			}
		})
	}
}

// TestHandlerKeysUnavailable: when Google's keys cannot be fetched the
// answer is 503 (Pub/Sub retries), not 401.
func TestHandlerKeysUnavailable(t *testing.T) {
	g := newGoogle(t)
	g.jwks.SetStatus(http.StatusInternalServerError)
	h, _ := g.handler(t, nil)
	r := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(pushBody(t, eventMessage(t))))
	r.Header.Set("Authorization", "Bearer "+g.token(claims(testNow)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", w.Code)
	}
}

// TestNewHandler: the environment must name the subscription's identity.
func TestNewHandler(t *testing.T) {
	if _, err := newHandler(func(string) string { return "" }, slog.Default()); err == nil || !strings.Contains(err.Error(), "PUSH_AUDIENCE") {
		t.Errorf("without configuration: %v", err)
	}
	env := map[string]string{"PUSH_AUDIENCE": testAudience, "PUSH_SERVICE_ACCOUNT": testAccount, "GOOGLE_JWKS_URL": "http://keys.example.com/certs"}
	if _, err := newHandler(func(k string) string { return env[k] }, slog.Default()); err == nil {
		t.Error("plain http JWKS URL accepted")
	}
	delete(env, "GOOGLE_JWKS_URL")
	h, err := newHandler(func(k string) string { return env[k] }, slog.Default())
	if err != nil || h.Tokens.Audience != testAudience || h.Tokens.ServiceAccount != testAccount {
		t.Errorf("newHandler = %+v, %v", h, err)
	}
}

// readCounter counts the bytes read from a body.
type readCounter struct {
	mu sync.Mutex
	r  *bytes.Reader
	n  int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
