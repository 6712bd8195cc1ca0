package test

import (
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestSecretRotation (item 6): a secret version added to Secret Manager
// while the function runs verifies without a restart, both versions verify
// while both are enabled, and a version that is disabled stops verifying
// within GEMINIHOOK_SECRET_REFRESH.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	const refresh = time.Second
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_SECRET_REFRESH": refresh.String()}})
	oldSigner := s.signer
	newSigner := &verifytest.Signer{Secrets: []string{verifytest.SecondSecret}}
	body := func() []byte { return s.body(events.TypeBatchSucceeded, "batch_rot") }
	sendWith := func(sg *verifytest.Signer) reply {
		b := body()
		return s.post(s.signWith(sg, "v1", newID(), time.Now(), b), b)
	}

	if r := sendWith(oldSigner); r.status != 200 {
		t.Fatalf("before the rotation: %d %q, want 200", r.status, r.body)
	}
	if r := sendWith(newSigner); r.status != 401 {
		t.Fatalf("new secret before it is added: %d %q, want 401", r.status, r.body)
	}

	v2 := s.sm.AddVersion(s.cfg.Secret, []byte(verifytest.SecondSecret))
	var last reply
	took, ok := waitFor(refresh+3*time.Second, func() bool { last = sendWith(newSigner); return last.status == 200 })
	if !ok {
		t.Fatalf("new version %s still refused after %v: %d %q", v2, took, last.status, last.body)
	}
	t.Logf("new version verified %v after it was added", took)
	if r := sendWith(oldSigner); r.status != 200 {
		t.Errorf("old version while both are enabled: %d %q, want 200", r.status, r.body)
	}

	s.sm.Disable(s.version)
	took, ok = waitFor(refresh+3*time.Second, func() bool { last = sendWith(oldSigner); return last.status == 401 })
	if !ok {
		t.Fatalf("disabled version %s still verifies after %v: %d %q", s.version, took, last.status, last.body)
	}
	t.Logf("disabled version refused %v after it was disabled", took)
	if r := sendWith(newSigner); r.status != 200 {
		t.Errorf("new version after the old one was disabled: %d %q, want 200", r.status, r.body)
	}
	if !hasLine(s.lines(t), "INFO", "secrets: ", v2) {
		t.Errorf("no INFO line naming the new version %s:\n%s", v2, s.logs)
	}
}
