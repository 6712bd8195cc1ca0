package test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestRejectedCostNoBackendCall (item 7): forged, stale, oversized,
// malformed-header and non-POST requests get their status, and not one
// Firestore or Pub/Sub call: verification comes before any database I/O.
// Once the keys are loaded they cause no Secret Manager or JWKS request
// either (a verification miss may refresh, but at most once per cooldown,
// and the warm-up has just loaded).
func TestRejectedCostNoBackendCall(t *testing.T) {
	t.Parallel()
	const maxBody = 64 << 10
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_MAX_BODY_BYTES": "65536"}})

	// Warm-up: load the secret and the JWKS, as a running instance has.
	for _, scheme := range []string{"v1", "v1a"} {
		if r := s.send(scheme, newID(), s.body(events.TypeBatchExpired, "batch_warm")); r.status != 200 {
			t.Fatalf("warm-up %s: %d %q", scheme, r.status, r.body)
		}
	}
	s.fsCalls.Reset()
	s.psCalls.Reset()
	smCalls := func() int { return s.sm.Calls("ListSecretVersions") + s.sm.Calls("AccessSecretVersion") }
	sm0, jwks0 := smCalls(), s.jwks.Requests()

	forger := verifytest.NewSecondSigner()
	forger.Audience = audience
	wrongAud := verifytest.NewSigner()
	wrongAud.Audience = "https://someone-else.example.test/"
	body := s.body(events.TypeBatchSucceeded, "batch_rej")
	id := newID()
	now := time.Now()
	big := bytes.Repeat([]byte{'a'}, maxBody+1)
	copy(big, body)

	tests := []struct {
		name   string
		method string
		header func() http.Header
		body   []byte
		status int
		result string
	}{
		{"forged v1", "POST", func() http.Header { return s.signWith(forger, "v1", id, now, body) }, body, 401, geminihook.ResultBadSignature},
		{"forged v1a", "POST", func() http.Header { return s.signWith(forger, "v1a", id, now, body) }, body, 401, geminihook.ResultBadSignature},
		{"forged jwt, unknown kid", "POST", func() http.Header { return s.signWith(forger, "jwt", id, now, body) }, body, 401, geminihook.ResultBadSignature},
		{"jwt for another audience", "POST", func() http.Header { return s.signWith(wrongAud, "jwt", id, now, body) }, body, 401, geminihook.ResultBadSignature},
		{"jwt alg none", "POST", func() http.Header {
			tok := verifytest.EncodeJWTPart(map[string]any{"alg": "none", "kid": verifytest.RSAKeyID}) + "." +
				verifytest.EncodeJWTPart(map[string]any{"sub": id, "aud": audience, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}) + "."
			return verifytest.Headers(id, now, tok)
		}, body, 401, geminihook.ResultBadSignature},
		{"body changed after signing", "POST", func() http.Header { return s.sign("v1", id, now, body) }, append(bytes.Clone(body), ' '), 401, geminihook.ResultBadSignature},
		{"v1 signature of another id", "POST", func() http.Header {
			h := s.sign("v1", "msg_other", now, body)
			h.Set(verify.HeaderID, id)
			return h
		}, body, 401, geminihook.ResultBadSignature},
		{"stale", "POST", func() http.Header { return s.sign("v1", id, now.Add(-10*time.Minute), body) }, body, 401, geminihook.ResultStaleTimestamp},
		{"from the future", "POST", func() http.Header { return s.sign("v1a", id, now.Add(10*time.Minute), body) }, body, 401, geminihook.ResultStaleTimestamp},
		{"oversized", "POST", func() http.Header { return s.sign("v1", id, now, big) }, big, 413, geminihook.ResultTooLarge},
		{"no headers", "POST", func() http.Header { return http.Header{} }, body, 400, geminihook.ResultInvalidHeaders},
		{"no signature", "POST", func() http.Header {
			h := s.sign("v1", id, now, body)
			h.Del(verify.HeaderSignature)
			return h
		}, body, 400, geminihook.ResultInvalidHeaders},
		{"timestamp not a number", "POST", func() http.Header {
			h := s.sign("v1", id, now, body)
			h.Set(verify.HeaderTimestamp, "yesterday")
			return h
		}, body, 400, geminihook.ResultInvalidHeaders},
		{"repeated webhook-id", "POST", func() http.Header {
			h := s.sign("v1", id, now, body)
			h.Add(verify.HeaderID, "msg_second")
			return h
		}, body, 400, geminihook.ResultInvalidHeaders},
		{"id over its limit", "POST", func() http.Header {
			long := "msg_" + strings.Repeat("x", 2000)
			return s.sign("v1", long, now, body)
		}, body, 400, geminihook.ResultInvalidHeaders},
		{"GET", "GET", func() http.Header { return s.sign("v1", id, now, body) }, nil, 405, geminihook.ResultMethodNotAllowed},
		{"PUT, signed", "PUT", func() http.Header { return s.sign("v1", id, now, body) }, body, 405, geminihook.ResultMethodNotAllowed},
		{"DELETE", "DELETE", func() http.Header { return http.Header{} }, nil, 405, geminihook.ResultMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.accessLines(t, tt.result))
			r := s.do(tt.method, tt.header(), tt.body)
			if r.status != tt.status {
				t.Errorf("status %d %q, want %d", r.status, r.body, tt.status)
			}
			if strings.Contains(r.body, "{") || strings.Contains(r.body, id) {
				t.Errorf("error answer %q is not a fixed phrase", r.body)
			}
			if n := len(s.accessLines(t, tt.result)) - before; n != 1 {
				t.Errorf("%d new access lines with result %q, want 1", n, tt.result)
			}
			if n := s.fsCalls.Count(""); n != 0 {
				t.Errorf("%d Firestore calls, want 0: %v", n, s.fsCalls.Snapshot())
			}
			if n := s.psCalls.Count(""); n != 0 {
				t.Errorf("%d Pub/Sub calls, want 0: %v", n, s.psCalls.Snapshot())
			}
			if n := smCalls() - sm0; n != 0 {
				t.Errorf("%d Secret Manager calls after the warm-up, want 0", n)
			}
			if n := s.jwks.Requests() - jwks0; n != 0 {
				t.Errorf("%d JWKS requests after the warm-up, want 0", n)
			}
		})
	}
	if ms := s.messages(2); len(ms) != 2 {
		t.Errorf("%d messages, want only the 2 of the warm-up", len(ms))
	}

	// The counters do count: an authentic delivery afterwards reaches both.
	if r := s.send("jwt", newID(), body); r.status != 200 {
		t.Fatalf("authentic delivery after the rejects: %d %q", r.status, r.body)
	}
	if s.fsCalls.Count("") == 0 || s.psCalls.Count("Publish") != 1 {
		t.Errorf("authentic delivery: Firestore %v, Pub/Sub %v; want some and one Publish", s.fsCalls.Snapshot(), s.psCalls.Snapshot())
	}
}
