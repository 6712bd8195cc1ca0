package geminihook

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// completeFailsOnce is a Ledger whose first Complete fails with
// ledger.ErrUnavailable without reaching the ledger, as a Firestore blip
// would; every later call goes through.
type completeFailsOnce struct {
	Ledger
	mu    sync.Mutex
	calls int
}

func (l *completeFailsOnce) Complete(ctx context.Context, lease *ledger.Lease, messageID string) error {
	l.mu.Lock()
	l.calls++
	first := l.calls == 1
	l.mu.Unlock()
	if first {
		return ledger.ErrUnavailable
	}
	return l.Ledger.Complete(ctx, lease, messageID)
}

func (l *completeFailsOnce) completes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// testSigner signs v1 deliveries with the handler fixture's secret.
func testSigner() *verifytest.Signer { return &verifytest.Signer{Secrets: []string{testSecret}} }

// TestHandlerCompleteRetried checks that one failed Complete after the
// publish is retried: the delivery ends published in the ledger, so that a
// retry of it is a duplicate instead of waiting out the lease (409) and
// then publishing the event a second time, and nothing is reported as an
// error.
func TestHandlerCompleteRetried(t *testing.T) {
	var led *completeFailsOnce
	f := newFixture(t, func(l Ledger) Ledger {
		led = &completeFailsOnce{Ledger: l}
		return led
	})
	mem, ok := led.Ledger.(*ledger.Memory)
	if !ok {
		t.Fatalf("the fixture's ledger is a %T, want the in-memory ledger", led.Ledger)
	}
	body := []byte(batchBody)
	const id = "msg_complete_retried"

	w := f.do("POST", testSigner().V1(id, testNow, body), body)
	if a := decodeAnswer(t, w); w.Code != 200 || a.Status != ResultPublished || a.ID != id {
		t.Fatalf("first delivery: %d %q, want 200 published", w.Code, w.Body)
	}
	if n := led.completes(); n != 2 {
		t.Errorf("Complete called %d times, want 2 (the failed one and its retry)", n)
	}
	rec, err := mem.Lookup(context.Background(), id)
	if err != nil {
		t.Fatalf("ledger lookup: %v", err)
	}
	if rec.State != ledger.StatePublished || rec.MessageID != "1" {
		t.Errorf("ledger record: state %q, message id %q; want %q with the publish's id \"1\"", rec.State, rec.MessageID, ledger.StatePublished)
	}

	// Gemini's retry of the same delivery (a new timestamp, inside the
	// lease) must be answered as a duplicate, not published again.
	w = f.do("POST", testSigner().V1(id, testNow.Add(time.Second), body), body)
	if a := decodeAnswer(t, w); w.Code != 200 || a.Status != ResultDuplicate || a.ID != id {
		t.Errorf("retry: %d %q, want 200 duplicate", w.Code, w.Body)
	}
	if n := f.pub.count(); n != 1 {
		t.Errorf("published %d messages in all, want exactly 1", n)
	}
	checkNoErrorLines(t, f.logs.String(), 2)
}

// TestHandlerReceivedAtIsHandlerClock checks that the time of receipt is
// the handler's clock (Deps.Now) and not webhook-timestamp, which the
// sender sets and which may lag by up to the tolerance: a delivery signed
// two minutes before the handler's clock, within the five-minute
// tolerance, is published with received_at at the handler's clock, and a
// quarantined one (a JSON body that is not an object) with that ce-time.
func TestHandlerReceivedAtIsHandlerClock(t *testing.T) {
	signedAt := testNow.Add(-2 * time.Minute)
	for _, tt := range []struct {
		name, body string
		quarantine bool
	}{
		{"event", batchBody, false},
		{"quarantined", `["not", "an", "object"]`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			body := []byte(tt.body)
			w := f.do("POST", testSigner().V1("msg_received_"+tt.name, signedAt, body), body)
			if w.Code != 200 || f.pub.count() != 1 {
				t.Fatalf("status %d %q with %d messages, want 200 and 1", w.Code, w.Body, f.pub.count())
			}
			p := f.pub.msgs[0]
			if p.quarantine != tt.quarantine {
				t.Fatalf("quarantined = %v, want %v", p.quarantine, tt.quarantine)
			}
			var got time.Time
			if tt.quarantine {
				var err error
				if got, err = time.Parse(time.RFC3339Nano, p.msg.Attributes[events.AttrTime]); err != nil {
					t.Fatalf("quarantine %s %q: %v", events.AttrTime, p.msg.Attributes[events.AttrTime], err)
				}
			} else {
				ev, err := events.Decode(p.msg.Data, p.msg.Attributes)
				if err != nil {
					t.Fatalf("decoding the published event: %v", err)
				}
				got = ev.ReceivedAt
			}
			if !got.Equal(testNow) {
				t.Errorf("time of receipt = %v, want the handler's clock %v (webhook-timestamp was %v)", got, testNow.UTC(), signedAt.UTC())
			}
		})
	}
}

func decodeAnswer(t *testing.T, w *httptest.ResponseRecorder) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Errorf("answer %q is not JSON: %v", w.Body, err)
	}
	return a
}

// checkNoErrorLines fails on a log line of severity ERROR or above, and
// when there are fewer than atLeast lines (the access lines must be there).
func checkNoErrorLines(t *testing.T, logs string, atLeast int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < atLeast {
		t.Fatalf("%d log lines, want at least %d:\n%s", len(lines), atLeast, logs)
	}
	for _, l := range lines {
		var rec struct{ Severity string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Severity == "" {
			t.Errorf("log line without a severity: %q", l)
			continue
		}
		if rec.Severity == "ERROR" || rec.Severity == "CRITICAL" {
			t.Errorf("%s log line: %s", rec.Severity, l)
		}
	}
}
