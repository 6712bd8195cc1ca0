package secrets_test

import (
	"context"
	"errors"
	"testing"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestVerifierRotation runs the real verifier on a Source: a delivery
// signed with a secret added after the first load verifies through the
// verifier's Refresh, and one signed with a disabled secret stops
// verifying after MaxAge.
func TestVerifierRotation(t *testing.T) {
	f := newFixture(t)
	v1 := f.add(sec1)
	v, err := verify.New(verify.Options{Secrets: f.src, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"batch.succeeded"}`)
	deliver := func(secret string) error {
		ts := f.clock.Now()
		h := verifytest.Headers("msg_1", ts, verifytest.V1Token(secret, "msg_1", ts, body))
		_, err := v.Verify(context.Background(), h, body)
		return err
	}

	if err := deliver(sec1); err != nil {
		t.Fatalf("sec1: %v", err)
	}
	f.add(sec2)
	f.clock.Advance(cooldown)
	if err := deliver(sec2); err != nil {
		t.Fatalf("sec2 after rotation: %v", err)
	}
	f.srv.Disable(v1)
	if err := deliver(sec1); err != nil {
		t.Fatalf("sec1 within MaxAge of its disabling: %v", err)
	}
	f.clock.Advance(maxAge)
	if err := deliver(sec1); !errors.Is(err, verify.ErrNoMatchingSignature) {
		t.Fatalf("sec1 after disabling and MaxAge = %v, want ErrNoMatchingSignature", err)
	}
	if err := deliver(sec2); err != nil {
		t.Fatalf("sec2: %v", err)
	}

}

// TestVerifierSecretManagerDown: with Secret Manager down and nothing
// cached, the verifier reports a server-side failure, not a forgery.
func TestVerifierSecretManagerDown(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.srv.SetDown(true)
	v, err := verify.New(verify.Options{Secrets: f.src, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{}`)
	ts := f.clock.Now()
	h := verifytest.Headers("msg_2", ts, verifytest.V1Token(sec1, "msg_2", ts, body))
	if _, err := v.Verify(context.Background(), h, body); !errors.Is(err, verify.ErrKeysUnavailable) {
		t.Fatalf("Verify with Secret Manager down = %v, want ErrKeysUnavailable", err)
	}
}
