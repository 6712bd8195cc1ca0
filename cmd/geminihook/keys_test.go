package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// makeKeys runs `keys --out DIR` in-process and returns DIR.
func makeKeys(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	code, stdout, stderr := runInProcess(t, "", "keys", "--out", dir)
	if code != exitOK {
		t.Fatalf("keys: exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"geminihook serve --secret-file", "--jwks-file", "--scheme v1a --ed25519-seed", "--scheme jwt --rsa-key"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("keys output lacks the command %q:\n%s", want, stdout)
		}
	}
	return dir
}

func TestKeysFiles(t *testing.T) {
	dir := makeKeys(t)
	for name, mode := range map[string]os.FileMode{fileSecret: 0o600, fileEd25519: 0o600, fileRSA: 0o600, fileJWKS: 0o644, fileRoute: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("keys wrote no %s: %v", name, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	doc, err := os.ReadFile(filepath.Join(dir, fileJWKS))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.ParseJWKS(doc)
	if err != nil {
		t.Fatalf("verify.ParseJWKS(jwks.json) = %v", err)
	}
	if ks.RSA(defaultRSAKeyID) == nil || len(ks.Ed25519()) != 1 {
		t.Errorf("jwks.json holds RSA key %q: %v, %d Ed25519 keys; want both", defaultRSAKeyID, ks.RSA(defaultRSAKeyID) != nil, len(ks.Ed25519()))
	}
	if strings.Contains(string(doc), `"d"`) {
		t.Errorf("jwks.json holds a private member: %s", doc)
	}
	if _, err := readSecretFile(filepath.Join(dir, fileSecret)); err != nil {
		t.Errorf("secret.txt: %v", err)
	}

	before, _ := os.ReadFile(filepath.Join(dir, fileSecret))
	if code, _, stderr := runInProcess(t, "", "keys", "--out", dir); code != exitFailure || !strings.Contains(stderr, "--force") {
		t.Errorf("keys over existing files: exit %d, stderr %q; want 1 and a hint at --force", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, fileSecret)); string(after) != string(before) {
		t.Errorf("keys without --force replaced secret.txt")
	}
	if code, _, stderr := runInProcess(t, "", "keys", "--out", dir, "--force"); code != exitOK {
		t.Errorf("keys --force: exit %d; stderr:\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, fileSecret)); string(after) == string(before) {
		t.Errorf("keys --force kept the old secret")
	}
}

// TestKeysSignVerify signs with send's signer built from the files of
// keys, and verifies with package verify against keys' jwks.json: the
// three schemes round-trip.
func TestKeysSignVerify(t *testing.T) {
	dir := makeKeys(t)
	doc, err := os.ReadFile(filepath.Join(dir, fileJWKS))
	if err != nil {
		t.Fatal(err)
	}
	jwks := verifytest.NewJWKSServer(doc)
	defer jwks.Close()
	secret, err := readSecretFile(filepath.Join(dir, fileSecret))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(secret), JWKSURL: jwks.URL, Audience: "aud-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scheme string
		args   []string // send's key flags
	}{
		{"v1", []string{"--secret-file", filepath.Join(dir, fileSecret)}},
		{"v1a", []string{"--ed25519-seed", filepath.Join(dir, fileEd25519)}},
		{"jwt", []string{"--rsa-key", filepath.Join(dir, fileRSA), "--kid", defaultRSAKeyID, "--audience", "aud-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.scheme, func(t *testing.T) {
			o, err := parseSend(tt.args, env{stdout: io.Discard, stderr: io.Discard})
			if err != nil {
				t.Fatalf("parseSend(%q) = %v", tt.args, err)
			}
			sg, err := o.signer()
			if err != nil {
				t.Fatalf("signer() = %v", err)
			}
			scheme := o.scheme
			if scheme != tt.scheme {
				t.Errorf("scheme chosen from the key flags = %q, want %q", scheme, tt.scheme)
			}
			body := sampleBody("batch.succeeded", time.Now())
			id := verifytest.NewWebhookID()
			m, err := v.Verify(context.Background(), sg.Header(scheme, id, time.Now(), body), body)
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if string(m.Scheme) != tt.scheme || m.ID != id {
				t.Errorf("Verify = scheme %q id %q, want %q %q", m.Scheme, m.ID, tt.scheme, id)
			}
		})
	}
}
