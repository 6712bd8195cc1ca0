package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/rawpost"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// serveControlled are the variables whose values serve takes from its own
// flags (its secrets and tokens are static, its project is local).
var serveControlled = map[string]bool{
	"GOOGLE_CLOUD_PROJECT": true, "GEMINIHOOK_SECRET": true, "GEMINIHOOK_ROUTE_TOKENS": true, "GEMINIHOOK_JWKS_URL": true,
}

// TestServeReadsEveryVariable: serve and the Cloud Function share one
// composition, and serve reads the function's configuration: every
// variable of geminihook.Variables (a new one too, with no change here)
// changes serve's Config the way it changes the function's.
func TestServeReadsEveryVariable(t *testing.T) {
	o, err := parseServe(nil, env{stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	base, err := o.config(env{getenv: func(string) string { return "" }}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range geminihook.Variables() {
		if serveControlled[v.Name] {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			if v.Example == "" {
				t.Fatalf("%s has no Example in config.go", v.Name)
			}
			getenv := func(k string) string {
				if k == v.Name {
					return v.Example
				}
				return ""
			}
			got, err := o.config(env{getenv: getenv}, true, true)
			if err != nil {
				t.Fatalf("%s=%s: %v", v.Name, v.Example, err)
			}
			if got == base {
				t.Errorf("%s=%s does not reach serve's configuration", v.Name, v.Example)
			}
			// The function reads the same value into the same field.
			fn, err := geminihook.LoadConfig(func(k string) string {
				if k == "GOOGLE_CLOUD_PROJECT" {
					return defaultProject
				}
				return getenv(k)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !sameSetting(got, fn, v.Name) {
				t.Errorf("%s: serve's configuration differs from the function's:\nserve    %+v\nfunction %+v", v.Name, got, fn)
			}
		})
	}
	// A flag given on the command line wins over the environment.
	o, err = parseServe([]string{"--topic", "from-flag"}, env{stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.config(env{getenv: func(k string) string {
		if k == "GEMINIHOOK_TOPIC" {
			return "from-env"
		}
		return ""
	}}, true, false)
	if err != nil || c.Topic != "from-flag" {
		t.Errorf("--topic from-flag with GEMINIHOOK_TOPIC=from-env: topic %q, %v; want from-flag", c.Topic, err)
	}
}

// sameSetting reports whether a and b agree on what the variable sets:
// compared field by field through the fmt form of the config, after
// neutralising the fields serve controls.
func sameSetting(a, b geminihook.Config, _ string) bool {
	for _, c := range []*geminihook.Config{&a, &b} {
		c.ProjectID, c.Secret, c.RouteTokens, c.JWKSURL = "", "", "", ""
		c.Database = ""
	}
	return a == b
}

// TestParseServe: serve's flags are parsed apart from running it.
func TestParseServe(t *testing.T) {
	e := env{stdout: io.Discard, stderr: io.Discard}
	o, err := parseServe([]string{"--route-token", "a", "--route-token", "b", "--audience", "x", "--tolerance", "90s"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.routes) != 2 || o.audience != "x" || o.tolerance != 90*time.Second || !o.given["tolerance"] || o.given["topic"] {
		t.Errorf("parseServe = %+v", o)
	}
	for _, args := range [][]string{{"--tolerance", "soon"}, {"--nope"}, {"extra"}} {
		if _, err := parseServe(args, e); exitCode(io.Discard, "serve", err) != exitUsage {
			t.Errorf("parseServe(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestServeOwnership: serve refuses what the Cloud Function refuses, from
// the same composition: per-request deliveries only at /r/<token>, JWTs
// only for our audience and once, 404 elsewhere, unpadded signatures,
// invalid ids, and bodies that never come, come too big or stop short.
// GEMINIHOOK_REQUEST_TIMEOUT=2s from the environment reaches serve (the
// 408 comes within it).
func TestServeOwnership(t *testing.T) {
	const token = "c2VydmUtb3duZXJzaGlwLXRlc3QtdG9rZW4"
	signer := verifytest.NewSigner()
	signer.Audience = localAudience
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, verifytest.JWKS(signer), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _, _, logs := serveInProcess(t, map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": "2s"},
		"--secret", verifytest.Secret, "--jwks-file", jwksFile, "--route-token", token, "--audience", localAudience)
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batch_serve_own"}}`)
	post := func(path string, h http.Header, b []byte) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(base, "/")+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	now := time.Now()
	routed := "/r/" + token
	jwt := signer.JWT(verifytest.NewWebhookID(), now, body)
	replay := jwt.Clone()
	replay.Set(verify.HeaderID, verifytest.NewWebhookID())
	wrongAud := verifytest.NewSigner()
	wrongAud.Audience = "someone-else"
	unpadded := signer.V1(verifytest.NewWebhookID(), now, body)
	unpadded.Set(verify.HeaderSignature, strings.TrimRight(unpadded.Get(verify.HeaderSignature), "="))
	for _, tt := range []struct {
		name, path string
		h          http.Header
		want       int
	}{
		{"v1 at /", "/", signer.V1(verifytest.NewWebhookID(), now, body), 200},
		{"v1a at /", "/", signer.V1a(verifytest.NewWebhookID(), now, body), 401},
		{"v1a at /r/<wrong>", "/r/" + token[1:] + "x", signer.V1a(verifytest.NewWebhookID(), now, body), 401},
		{"v1a at /r/<token>", routed, signer.V1a(verifytest.NewWebhookID(), now, body), 200},
		{"jwt at /r/<token>", routed, jwt, 200},
		{"jwt again, another id and body", routed, replay, 401},
		{"jwt, wrong aud", routed, wrongAud.JWT(verifytest.NewWebhookID(), now, body), 401},
		{"POST /other", "/other", signer.V1(verifytest.NewWebhookID(), now, body), 404},
		{"unpadded v1", "/", unpadded, 401},
		{"webhook-id not UTF-8", "/", signer.V1("msg_\xff", now, body), 400},
	} {
		b := body
		if tt.name == "jwt again, another id and body" {
			b = []byte(`{"type":"batch.succeeded","data":{"id":"batch_attacker"}}`)
		}
		if got := post(tt.path, tt.h, b); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}

	addr := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/")
	signed := signer.V1(verifytest.NewWebhookID(), now, body)
	for _, tt := range []struct {
		name   string
		h      http.Header
		length int
		first  []byte
		close  bool
		want   int
		within time.Duration
	}{
		{"no headers, body never sent", http.Header{}, 100, nil, false, 400, time.Second},
		{"Content-Length 5 MiB", signed, 5 << 20, nil, false, 413, time.Second},
		{"body stalls after 5 bytes", signed, len(body), body[:5], false, 408, 2 * time.Second},
		{"body truncated", signed, len(body), body[:10], true, 400, 2 * time.Second},
	} {
		code, took := rawPost(t, addr, "/", tt.h, tt.length, tt.first, tt.close)
		if code != tt.want || took > tt.within {
			t.Errorf("%s: %d after %v, want %d within %v", tt.name, code, took, tt.want, tt.within)
		}
	}
	for _, secret := range []string{token, verifytest.Secret, jwt.Get(verify.HeaderSignature)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("serve's log holds a secret, token or signature %.12s…", secret)
		}
	}
}

// rawPost sends a POST by hand (internal/rawpost): the headers, then
// first, then (close) the end of the client's side. It returns the
// answer's status and how long it took.
func rawPost(t *testing.T, addr, path string, h http.Header, length int, first []byte, closeWrite bool) (int, time.Duration) {
	t.Helper()
	code, took, err := rawpost.Post(addr, rawpost.Request{Path: path, Header: h, ContentLength: length, First: first, CloseWrite: closeWrite})
	if err != nil {
		t.Fatal(err)
	}
	return code, took
}
