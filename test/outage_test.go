package test

import (
	"context"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
)

// TestFirestoreUnreachable (item 5): with Firestore unreachable (its
// client pointed at a closed port) an authentic delivery is answered 503
// with Retry-After within the request deadline, and nothing is published.
func TestFirestoreUnreachable(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	s := newStack(t, setup{
		firestoreAddr: closedAddr(t),
		env:           map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": timeout.String(), "GEMINIHOOK_LEASE": "3s"},
	})
	for _, scheme := range schemes {
		r := s.send(scheme, newID(), s.body(events.TypeBatchSucceeded, "batch_fs_"+scheme))
		if r.status != 503 || r.retryAfter == "" {
			t.Errorf("%s: %d %q Retry-After %q, want 503 with Retry-After", scheme, r.status, r.body, r.retryAfter)
		}
		// The deadline plus a margin for a loaded 2-core machine.
		if r.latency > timeout+time.Second {
			t.Errorf("%s: answered after %v, want within the %v deadline", scheme, r.latency, timeout)
		}
		t.Logf("%s: 503 after %v", scheme, r.latency)
	}
	if s.fsCalls.Count("") == 0 {
		t.Error("no Firestore call was attempted: the test does not test an outage")
	}
	if n := s.psCalls.Count(""); n != 0 {
		t.Errorf("%d Pub/Sub calls with the ledger down, want 0: %v", n, s.psCalls.Snapshot())
	}
	if ms := s.messages(0); len(ms) != 0 {
		t.Errorf("%d messages published with the ledger down, want 0", len(ms))
	}
	if n := len(s.accessLines(t, geminihook.ResultBackendUnavailable)); n != len(schemes) {
		t.Errorf("%d access lines with result %s, want %d:\n%s", n, geminihook.ResultBackendUnavailable, len(schemes), s.logs)
	}
}

// TestSecretManagerDownAtStart (item 5): an instance that starts while
// Secret Manager is down answers v1 deliveries 503 (so that Gemini retries
// them; an authentic delivery must never get 401), logs why, and recovers
// without a restart once Secret Manager is back. Per-request deliveries
// need their route tokens, also in Secret Manager: they are answered 503
// too (retried, never 401), and recover with it.
func TestSecretManagerDownAtStart(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{secretsDown: true})
	id := newID()
	body := s.body(events.TypeBatchFailed, "batch_sm")
	r := s.send("v1", id, body)
	if r.status != 503 || r.retryAfter == "" {
		t.Fatalf("v1 with Secret Manager down: %d %q Retry-After %q, want 503 with Retry-After", r.status, r.body, r.retryAfter)
	}
	t.Logf("v1 with Secret Manager down: 503 after %v", r.latency)
	if n := len(s.accessLines(t, geminihook.ResultKeysUnavailable)); n != 1 {
		t.Errorf("%d access lines with result %s, want 1:\n%s", n, geminihook.ResultKeysUnavailable, s.logs)
	}
	// The load logs its failure on its own goroutine: allow it a moment.
	if _, ok := waitFor(2*time.Second, func() bool { return hasLine(s.lines(t), "ERROR", "secrets: ", s.cfg.Secret) }); !ok {
		t.Errorf("no ERROR line naming the secret %s:\n%s", s.cfg.Secret, s.logs)
	}
	if n := s.fsCalls.Count("") + s.psCalls.Count(""); n != 0 {
		t.Errorf("%d Firestore and Pub/Sub calls for an unverified delivery, want 0", n)
	}

	// Per-request webhooks need the route tokens: 503, retried.
	jwtID, jwtBody := newID(), s.body(events.TypeVideoGenerated, "op_sm")
	if r := s.send("jwt", jwtID, jwtBody); r.status != 503 || r.retryAfter == "" {
		t.Errorf("jwt with Secret Manager down: %d %q, want 503 with Retry-After", r.status, r.body)
	}
	if n := s.fsCalls.Count("") + s.psCalls.Count("") + s.jwks.Requests(); n != 0 {
		t.Errorf("%d Firestore, Pub/Sub and JWKS calls for a delivery whose route cannot be checked, want 0", n)
	}

	s.sm.SetDown(false)
	var last reply
	took, ok := waitFor(10*time.Second, func() bool {
		last = s.send("v1", id, body)
		return last.status == 200
	})
	if !ok {
		t.Fatalf("v1 still %d %q %v after Secret Manager came back", last.status, last.body, took)
	}
	t.Logf("v1 verified %v after Secret Manager came back", took)
	if took > 3*time.Second {
		t.Errorf("recovery took %v, want about secrets.DefaultRetryInterval (1 s)", took)
	}
	if r := s.send("jwt", jwtID, jwtBody); r.status != 200 {
		t.Errorf("jwt after Secret Manager came back: %d %q, want 200", r.status, r.body)
	}
	got := byID(s.messages(2))
	for _, want := range []string{id, jwtID} {
		if ms := got[want]; len(ms) != 1 {
			t.Errorf("%d messages with ce-id %s, want exactly 1", len(ms), want)
		}
	}
}

// hasLine reports whether a log line has the severity and a message
// starting with prefix and containing every one of the substrings.
func hasLine(lines []logLine, severity, prefix string, substrings ...string) bool {
next:
	for _, l := range lines {
		msg, _ := l.m["message"].(string)
		if l.m["severity"] != severity || !strings.HasPrefix(msg, prefix) {
			continue
		}
		for _, s := range substrings {
			if !strings.Contains(l.text, s) {
				continue next
			}
		}
		return true
	}
	return false
}

// TestFirestoreLostAfterPublish: Firestore goes away between the publish
// and the Complete that records it. The event is out, so the answer is
// 200 (a 503 would make Gemini's retry publish it again at once); the lost
// Complete is reported as an error, and the record stays processing until
// its lease ends (a retry after that publishes again: consumers dedupe on
// ce-id). The handler retries Complete once on a deadline of its own, so
// the answer comes at most about 2 s after the request's deadline.
func TestFirestoreLostAfterPublish(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second // room for claim and publish on a loaded machine
	s := newStack(t, setup{flaky: true, firestoreProxy: true,
		env: map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": timeout.String(), "GEMINIHOOK_LEASE": "4s"}})
	s.warmUp()
	cut := s.fsProxy.close
	s.flaky.afterPublish.Store(&cut)
	id := newID()
	r := s.send("v1", id, s.body(events.TypeInteractionFailed, "v1_lost"))
	t.Logf("answered %d after %v", r.status, r.latency)
	if r.status != 200 {
		t.Fatalf("Firestore lost after the publish: %d %q, want 200 (the event is out)", r.status, r.body)
	}
	if st, _ := r.answer(t); st != "published" {
		t.Errorf("answer %q, want published", r.body)
	}
	if r.latency > timeout+2*time.Second+time.Second {
		t.Errorf("answered after %v, want within the deadline (%v) plus the 2 s Complete retry", r.latency, timeout)
	}
	if ms := byID(s.messages(1))[id]; len(ms) != 1 {
		t.Errorf("%d messages with ce-id %s, want exactly 1", len(ms), id)
	}
	if !hasLine(s.lines(t), "ERROR", "published but could not mark the delivery published", id) {
		t.Errorf("no ERROR report of the lost Complete naming %s:\n%s", id, s.logs)
	}
	rec, err := s.ledger.Lookup(context.Background(), id)
	if err != nil || rec.State != ledger.StateProcessing {
		t.Errorf("ledger record = %+v, %v; want still processing (the Complete was lost)", rec, err)
	}
}
