package test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/rawpost"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestOwnership: a delivery is accepted only when it is authentic AND meant
// for this deployment. Per-request deliveries (v1a, JWT: Google's keys,
// shared by every Gemini customer) come only to /r/<route token>; a JWT
// needs our audience, an exp, a short lifetime, and authenticates one
// delivery only. Every refusal costs no Firestore and no Pub/Sub call, and
// the logs hold no token, secret, signature or body (checkLogs).
func TestOwnership(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	for _, scheme := range schemes { // load the secret, the tokens and the JWKS, as a running instance has
		if r := s.send(scheme, newID(), s.body(events.TypeBatchExpired, "batch_warm")); r.status != 200 {
			t.Fatalf("warm-up %s: %d %q", scheme, r.status, r.body)
		}
	}
	s.messages(len(schemes))
	if !hasLine(s.lines(t), "INFO", "secrets: route tokens loaded", s.cfg.RouteTokens) {
		t.Errorf("no line saying the route tokens of %s were loaded:\n%s", s.cfg.RouteTokens, s.logs)
	}
	now := time.Now()
	body := s.body(events.TypeBatchSucceeded, "batch_own")
	root, routed, wrong := "/", "/r/"+routeToken, "/r/"+routeToken[:len(routeToken)-1]+"x"
	jwtWith := func(claims map[string]any) http.Header {
		c := map[string]any{"aud": audience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		for k, v := range claims {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		tok := s.signer.SignJWT(map[string]any{"alg": "RS256", "kid": verifytest.RSAKeyID}, c)
		s.forbid(tok)
		return verifytest.Headers(newID(), now, tok)
	}
	unpadded := func(scheme string) http.Header {
		h := s.sign(scheme, newID(), now, body)
		h.Set(verify.HeaderSignature, strings.TrimRight(h.Get(verify.HeaderSignature), "="))
		return h
	}
	tests := []struct {
		name, path string
		h          http.Header
		status     int
		result     string
	}{
		{"v1 at /", root, s.sign("v1", newID(), now, body), 200, geminihook.ResultPublished},
		{"v1 at /r/<token>", routed, s.sign("v1", newID(), now, body), 200, geminihook.ResultPublished},
		{"v1a at /r/<token>", routed, s.sign("v1a", newID(), now, body), 200, geminihook.ResultPublished},
		{"jwt at /r/<token>", routed, s.sign("jwt", newID(), now, body), 200, geminihook.ResultPublished},
		{"v1a at /", root, s.sign("v1a", newID(), now, body), 401, geminihook.ResultBadRouteToken},
		{"jwt at /", root, s.sign("jwt", newID(), now, body), 401, geminihook.ResultBadRouteToken},
		{"v1a at /r/<wrong>", wrong, s.sign("v1a", newID(), now, body), 401, geminihook.ResultBadRouteToken},
		{"v1 at /r/<wrong>", wrong, s.sign("v1", newID(), now, body), 401, geminihook.ResultBadRouteToken},
		{"jwt, wrong aud", routed, jwtWith(map[string]any{"aud": "https://someone-else.example.test/"}), 401, geminihook.ResultBadSignature},
		{"jwt, no exp", routed, jwtWith(map[string]any{"exp": nil}), 401, geminihook.ResultBadSignature},
		{"jwt, 2-hour lifetime", routed, jwtWith(map[string]any{"exp": now.Add(2 * time.Hour).Unix()}), 401, geminihook.ResultBadSignature},
		{"unpadded v1", root, unpadded("v1"), 401, geminihook.ResultBadSignature},
		{"unpadded v1a", routed, unpadded("v1a"), 401, geminihook.ResultBadSignature},
		{"POST to /other", "/other", s.sign("v1", newID(), now, body), 404, geminihook.ResultNotFound},
		{"POST to /r/<token>/x", routed + "/x", s.sign("v1", newID(), now, body), 404, geminihook.ResultNotFound},
		{"webhook-id not UTF-8", root, s.sign("v1", "msg_\xff\xfe", now, body), 400, geminihook.ResultInvalidHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.fsCalls.Reset()
			s.psCalls.Reset()
			jwks0 := s.jwks.Requests()
			r := s.doAt(http.MethodPost, tt.path, tt.h, body)
			if r.status != tt.status {
				t.Fatalf("%s: %d %q, want %d", tt.name, r.status, r.body, tt.status)
			}
			if lines := s.accessLines(t, tt.result); len(lines) == 0 {
				t.Errorf("no access line with result %s", tt.result)
			}
			if tt.status == 200 {
				return
			}
			if n := s.fsCalls.Count("") + s.psCalls.Count(""); n != 0 {
				t.Errorf("%d Firestore and Pub/Sub calls for a refused delivery, want 0 (%v %v)", n, s.fsCalls.Snapshot(), s.psCalls.Snapshot())
			}
			if tt.result == geminihook.ResultBadRouteToken {
				if n := s.jwks.Requests() - jwks0; n != 0 {
					t.Errorf("%d JWKS fetches for a delivery without a valid route token, want 0", n)
				}
			}
		})
	}
	// Go's client refuses to send a control character in a header: by hand.
	s.fsCalls.Reset()
	if code, _ := s.rawPost(t, "/", s.sign("v1", "msg_\x7f1", now, body), len(body), body, false); code != 400 {
		t.Errorf("webhook-id with a control character: %d, want 400", code)
	}
	if n := s.fsCalls.Count(""); n != 0 {
		t.Errorf("%d Firestore calls for a webhook-id with a control character, want 0", n)
	}
	if got := len(s.messages(4)); got != 4 {
		t.Errorf("%d messages published, want the 4 accepted deliveries", got)
	}
	for _, l := range s.lines(t) {
		if strings.Contains(l.text, routeToken[:len(routeToken)-1]) {
			t.Errorf("a log line holds a route token: %s", l.text)
		}
	}
}

// TestJWTOneDelivery: a JWT signs its claims, not the body. Once it has
// authenticated one delivery it is refused for any other webhook-id and
// body, on this instance without a backend call, and through the ledger on
// another instance (a second stack on the same Firestore project).
func TestJWTOneDelivery(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	id := newID()
	body := s.body(events.TypeVideoGenerated, "op_once")
	h := s.sign("jwt", id, time.Now(), body)
	if r := s.post(h, body); r.status != 200 {
		t.Fatalf("first use: %d %q", r.status, r.body)
	}
	// A retry of the same delivery with the same token is a duplicate.
	if r := s.post(h, body); r.status != 200 || !strings.Contains(r.body, "duplicate") {
		t.Errorf("retry with the same token: %d %q, want 200 duplicate", r.status, r.body)
	}
	s.fsCalls.Reset()
	s.psCalls.Reset()
	for i := range 3 {
		replay := h.Clone()
		replay.Set(verify.HeaderID, newID())
		forged := []byte(fmt.Sprintf(`{"type":"batch.succeeded","data":{"id":"batch_attacker_%d","output_file_uri":"gs://attacker/x"}}`, i))
		if r := s.post(replay, forged); r.status != 401 {
			t.Errorf("replay %d with a new webhook-id and body: %d %q, want 401", i, r.status, r.body)
		}
	}
	if n := s.fsCalls.Count("") + s.psCalls.Count(""); n != 0 {
		t.Errorf("%d Firestore and Pub/Sub calls for replays seen by this instance, want 0", n)
	}
	if n := len(s.accessLines(t, geminihook.ResultTokenReused)); n != 3 {
		t.Errorf("%d access lines with result %s, want 3", n, geminihook.ResultTokenReused)
	}
	// Another instance has not seen the token: the ledger refuses it.
	other := newStack(t, setup{project: s.project, noTopics: true})
	replay := h.Clone()
	replay.Set(verify.HeaderID, newID())
	if r := other.post(replay, []byte(`{"type":"batch.succeeded","data":{"id":"batch_attacker"}}`)); r.status != 401 {
		t.Errorf("replay at another instance: %d %q, want 401", r.status, r.body)
	}
	if ms := s.messages(1); len(ms) != 1 || ms[0].msg.Attributes[events.AttrID] != id {
		t.Errorf("published %d messages, want only the first delivery %s", len(ms), id)
	}
}

// TestNoRouteTokens: without GEMINIHOOK_ROUTE_TOKENS every per-request
// delivery is refused, wherever it comes, whatever the JWKS setting; and
// without an audience every JWT is.
func TestNoRouteTokens(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_ROUTE_TOKENS": "", "GEMINIHOOK_JWT_AUDIENCE": ""}})
	body := s.body(events.TypeBatchFailed, "batch_nort")
	for _, path := range []string{"/", "/r/" + routeToken} {
		for _, scheme := range []string{"v1a", "jwt"} {
			if r := s.doAt(http.MethodPost, path, s.sign(scheme, newID(), time.Now(), body), body); r.status != 401 {
				t.Errorf("%s at %s without route tokens: %d %q, want 401", scheme, path, r.status, r.body)
			}
		}
	}
	if r := s.send("v1", newID(), body); r.status != 200 {
		t.Errorf("v1 without route tokens: %d %q, want 200", r.status, r.body)
	}
	if n := s.jwks.Requests(); n != 0 {
		t.Errorf("%d JWKS fetches with per-request deliveries off, want 0", n)
	}
	if !hasLine(s.lines(t), "INFO", "geminihook: per-request deliveries (v1a, JWT) are off", "GEMINIHOOK_ROUTE_TOKENS") {
		t.Errorf("no start-up line saying per-request deliveries are off and how to turn them on:\n%s", s.logs)
	}

	jwtOff := newStack(t, setup{env: map[string]string{"GEMINIHOOK_JWT_AUDIENCE": ""}})
	if r := jwtOff.send("jwt", newID(), body); r.status != 401 {
		t.Errorf("jwt without an audience configured: %d %q, want 401", r.status, r.body)
	}
	if r := jwtOff.send("v1a", newID(), body); r.status != 200 {
		t.Errorf("v1a without an audience configured: %d %q, want 200", r.status, r.body)
	}
	if !hasLine(jwtOff.lines(t), "INFO", "geminihook: JWT deliveries are off", "GEMINIHOOK_JWT_AUDIENCE") {
		t.Errorf("no start-up line saying JWT is off and which setting turns it on:\n%s", jwtOff.logs)
	}
}

// rawPost sends a POST to the stack by hand (internal/rawpost): headers
// (Content-Length as given), then the first bytes of a body, and then,
// when closeWrite is set, the end of the client's side.
func (s *stack) rawPost(t *testing.T, path string, h http.Header, contentLength int, first []byte, closeWrite bool) (int, time.Duration) {
	t.Helper()
	code, took, err := rawpost.Post(strings.TrimPrefix(s.url, "http://"), rawpost.Request{
		Path: path, Header: h, ContentLength: contentLength, First: first, CloseWrite: closeWrite,
	})
	if err != nil {
		t.Fatal(err)
	}
	return code, took
}

// TestSlowAndBrokenBodies: an unauthenticated request costs no more than a
// moment of a request slot. Headers are checked before the body is read, a
// declared body over the limit is refused unread, a stalled body is
// answered 408 within the request deadline and a truncated one 400, each
// logged as the client's fault (WARNING), never as a backend failure.
func TestSlowAndBrokenBodies(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": "2s"}})
	body := s.body(events.TypeBatchSucceeded, "batch_slow")
	signed := s.sign("v1", newID(), time.Now(), body)

	code, took := s.rawPost(t, "/", http.Header{}, 100, nil, false)
	if code != 400 || took > time.Second {
		t.Errorf("no webhook headers, body never sent: %d after %v, want 400 in under 1 s", code, took)
	}
	code, took = s.rawPost(t, "/", signed, 5<<20, nil, false)
	if code != 413 || took > time.Second {
		t.Errorf("Content-Length 5 MiB, body never sent: %d after %v, want 413 in under 1 s", code, took)
	}
	code, took = s.rawPost(t, "/", signed, len(body), body[:5], false)
	if code != 408 || took > 2*time.Second {
		t.Errorf("body stalled after 5 bytes: %d after %v, want 408 within the 2 s request deadline", code, took)
	}
	code, _ = s.rawPost(t, "/", signed, len(body), body[:len(body)/2], true)
	if code != 400 {
		t.Errorf("truncated body: %d, want 400", code)
	}
	for result, want := range map[string]int{geminihook.ResultInvalidHeaders: 1, geminihook.ResultTooLarge: 1, geminihook.ResultTimeout: 1, geminihook.ResultTruncatedBody: 1} {
		lines := s.accessLines(t, result)
		if len(lines) != want {
			t.Errorf("%d access lines with result %s, want %d", len(lines), result, want)
		}
		for _, l := range lines {
			if sev, _ := l.m["severity"].(string); sev != "WARNING" {
				t.Errorf("%s logged at %s, want WARNING (the client's fault)", result, sev)
			}
		}
	}
	if n := len(s.accessLines(t, geminihook.ResultBackendUnavailable)); n != 0 {
		t.Errorf("%d backend_unavailable lines for client faults, want 0", n)
	}
	if n := s.fsCalls.Count("") + s.psCalls.Count(""); n != 0 {
		t.Errorf("%d Firestore and Pub/Sub calls, want 0", n)
	}
}
