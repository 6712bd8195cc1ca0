package geminihook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
)

// The handler tests run the real verify package and the in-memory ledger;
// the publisher is a recorder at the Publisher seam, so failures can be
// injected. The real Pub/Sub and Firestore adapters are exercised through
// the same handler in test/ against the official emulators.

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var testNow = time.Unix(1780000000, 0)

type published struct {
	kind       events.Kind
	quarantine bool
	msg        events.Message
}

// recorder is a Publisher that records what it is given and fails while
// fail is set; refuse fails Publish alone (not Quarantine).
type recorder struct {
	mu     sync.Mutex
	msgs   []published
	fail   error
	refuse error
}

func (r *recorder) Publish(ctx context.Context, k events.Kind, m events.Message) (string, error) {
	r.mu.Lock()
	refuse := r.refuse
	r.mu.Unlock()
	if refuse != nil {
		return "", refuse
	}
	return r.add(published{kind: k, msg: m})
}

func (r *recorder) Quarantine(ctx context.Context, m events.Message) (string, error) {
	return r.add(published{quarantine: true, msg: m})
}

func (r *recorder) add(p published) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	r.msgs = append(r.msgs, p)
	return strconv.Itoa(len(r.msgs)), nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// failingLedger wraps a Ledger and fails the named operations.
type failingLedger struct {
	Ledger
	claim, complete error
}

func (f *failingLedger) Claim(ctx context.Context, d ledger.Delivery) (*ledger.Lease, error) {
	if f.claim != nil {
		return nil, f.claim
	}
	return f.Ledger.Claim(ctx, d)
}

func (f *failingLedger) Complete(ctx context.Context, l *ledger.Lease, id string) error {
	if f.complete != nil {
		return f.complete
	}
	return f.Ledger.Complete(ctx, l, id)
}

type fixture struct {
	h      http.Handler
	pub    *recorder
	ledger Ledger
	logs   *cloudlogtest.Buffer
}

func newFixture(t *testing.T, wrap func(Ledger) Ledger) *fixture {
	t.Helper()
	now := func() time.Time { return testNow }
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(testSecret), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pub: &recorder{}, logs: &cloudlogtest.Buffer{}}
	f.ledger = ledger.NewMemory(ledger.Options{Now: now})
	if wrap != nil {
		f.ledger = wrap(f.ledger)
	}
	f.h = NewHandler(Deps{
		Verifier: v, Ledger: f.ledger, Publisher: f.pub, Now: now, MaxBodyBytes: 4096,
		Logger: slog.New(cloudlog.NewHandler(f.logs, &cloudlog.Options{ProjectID: "p"})),
	})
	return f
}

// signV1 returns the webhook headers of a v1 delivery, signed with key.
func signV1(t testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := verify.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + stamp + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set(verify.HeaderID, id)
	h.Set(verify.HeaderTimestamp, stamp)
	h.Set(verify.HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

func (f *fixture) do(method string, h http.Header, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

const batchBody = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_1","output_file_uri":"gs://b/r.jsonl"}}`

func TestHandlerAnswers(t *testing.T) {
	good := []byte(batchBody)
	tests := []struct {
		name   string
		method string
		header func() http.Header
		body   []byte
		status int
		result string
	}{
		{"published", "POST", func() http.Header { return signV1(t, testSecret, "msg_1", testNow, good) }, good, 200, ResultPublished},
		{"GET", "GET", func() http.Header { return signV1(t, testSecret, "msg_1", testNow, good) }, good, 405, ResultMethodNotAllowed},
		{"no headers", "POST", func() http.Header { return http.Header{} }, good, 400, ResultInvalidHeaders},
		{"bad timestamp", "POST", func() http.Header {
			h := signV1(t, testSecret, "msg_1", testNow, good)
			h.Set(verify.HeaderTimestamp, "soon")
			return h
		}, good, 400, ResultInvalidHeaders},
		{"forged", "POST", func() http.Header {
			return signV1(t, "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32)), "msg_1", testNow, good)
		}, good, 401, ResultBadSignature},
		{"body changed", "POST", func() http.Header { return signV1(t, testSecret, "msg_1", testNow, good) }, append([]byte(" "), good...), 401, ResultBadSignature},
		{"stale", "POST", func() http.Header { return signV1(t, testSecret, "msg_1", testNow.Add(-6*time.Minute), good) }, good, 401, ResultStaleTimestamp},
		{"future", "POST", func() http.Header { return signV1(t, testSecret, "msg_1", testNow.Add(6*time.Minute), good) }, good, 401, ResultStaleTimestamp},
		{"oversized", "POST", func() http.Header { return signV1(t, testSecret, "msg_1", testNow, make([]byte, 5000)) }, make([]byte, 5000), 413, ResultTooLarge},
		{"not JSON: quarantined", "POST", func() http.Header { return signV1(t, testSecret, "msg_q", testNow, []byte("<xml/>")) }, []byte("<xml/>"), 200, ResultQuarantined},
		{"unknown type: published", "POST", func() http.Header {
			return signV1(t, testSecret, "msg_u", testNow, []byte(`{"type":"webhook.ping"}`))
		}, []byte(`{"type":"webhook.ping"}`), 200, ResultPublished},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			w := f.do(tt.method, tt.header(), tt.body)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			wantMsgs := 0
			if tt.status == 200 {
				wantMsgs = 1
				var a answer
				if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.Status != strings.Replace(tt.result, ResultQuarantined, ResultPublished, 1) {
					t.Errorf("answer = %q (%v), want status %q", w.Body, err, tt.result)
				}
			} else if strings.Contains(w.Body.String(), "{") {
				t.Errorf("error answer %q is not a fixed phrase", w.Body)
			}
			if n := f.pub.count(); n != wantMsgs {
				t.Errorf("published %d messages, want %d", n, wantMsgs)
			}
			if !strings.Contains(f.logs.String(), `"result":"`+tt.result+`"`) {
				t.Errorf("log has no result %q:\n%s", tt.result, f.logs)
			}
			if tt.status == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

func TestHandlerDuplicate(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte(batchBody)
	for i, want := range []string{ResultPublished, ResultDuplicate, ResultDuplicate} {
		// Each retry carries a new timestamp, as Gemini's do.
		w := f.do("POST", signV1(t, testSecret, "msg_dup", testNow.Add(time.Duration(i)*time.Second), body), body)
		var a answer
		json.Unmarshal(w.Body.Bytes(), &a)
		if w.Code != 200 || a.Status != want || a.ID != "msg_dup" {
			t.Errorf("attempt %d: %d %q, want 200 %s", i, w.Code, w.Body, want)
		}
	}
	if n := f.pub.count(); n != 1 {
		t.Errorf("published %d messages, want 1", n)
	}
}

func TestHandlerInFlight(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.ledger.Claim(context.Background(), ledger.Delivery{WebhookID: "msg_busy"}); err != nil {
		t.Fatal(err)
	}
	body := []byte(batchBody)
	w := f.do("POST", signV1(t, testSecret, "msg_busy", testNow, body), body)
	if w.Code != 409 {
		t.Fatalf("status = %d, want 409", w.Code)
	}
	// The lease has 30 s left, but the holder answers within its request
	// deadline: Retry-After points there.
	if got, want := w.Header().Get("Retry-After"), strconv.Itoa(int(DefaultRequestTimeout/time.Second)); got != want {
		t.Errorf("Retry-After = %q, want %s (the request deadline, shorter than the lease)", got, want)
	}
	if f.pub.count() != 0 {
		t.Error("published while another holder had the lease")
	}
}

func TestHandlerPublishFailureReleases(t *testing.T) {
	f := newFixture(t, nil)
	f.pub.fail = publish.ErrUnavailable
	body := []byte(batchBody)
	w := f.do("POST", signV1(t, testSecret, "msg_pf", testNow, body), body)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	// Released: the very next retry, inside the lease, publishes.
	f.pub.fail = nil
	w = f.do("POST", signV1(t, testSecret, "msg_pf", testNow.Add(time.Second), body), body)
	if w.Code != 200 || f.pub.count() != 1 {
		t.Fatalf("retry: status %d, %d messages; want 200 and 1", w.Code, f.pub.count())
	}
}

func TestHandlerLedgerDown(t *testing.T) {
	f := newFixture(t, func(l Ledger) Ledger {
		return &failingLedger{Ledger: l, claim: ledger.ErrUnavailable}
	})
	body := []byte(batchBody)
	w := f.do("POST", signV1(t, testSecret, "msg_ld", testNow, body), body)
	if w.Code != 503 || f.pub.count() != 0 {
		t.Fatalf("status %d, %d messages; want 503 and none", w.Code, f.pub.count())
	}
}

// TestHandlerRefusedEventQuarantined checks that an event Pub/Sub refuses
// as invalid (which no retry can change) is quarantined with its body and
// answered 200, while a transient failure stays a 503.
func TestHandlerRefusedEventQuarantined(t *testing.T) {
	for _, tt := range []struct {
		err        error
		status     int
		quarantine bool
	}{
		{fmt.Errorf("%w: projects/p/topics/t: rpc error: code = InvalidArgument", publish.ErrInvalidMessage), 200, true},
		{publish.ErrUnavailable, 503, false},
		{publish.ErrTopicNotFound, 503, false},
	} {
		t.Run(tt.err.Error(), func(t *testing.T) {
			f := newFixture(t, nil)
			f.pub.refuse = tt.err
			body := []byte(batchBody)
			w := f.do("POST", signV1(t, testSecret, "msg_refused", testNow, body), body)
			if w.Code != tt.status {
				t.Fatalf("status = %d %q, want %d", w.Code, w.Body, tt.status)
			}
			if !tt.quarantine {
				if f.pub.count() != 0 {
					t.Errorf("published %d messages, want none", f.pub.count())
				}
				return
			}
			if f.pub.count() != 1 {
				t.Fatalf("published %d messages, want 1 (quarantined)", f.pub.count())
			}
			p := f.pub.msgs[0]
			if !p.quarantine || string(p.msg.Data) != batchBody || p.msg.Attributes[events.AttrID] != "msg_refused" ||
				!strings.Contains(p.msg.Attributes[events.AttrReason], "invalid message") {
				t.Errorf("quarantined %+v, want the body with its id and the reason", p)
			}
			if !strings.Contains(f.logs.String(), `"result":"`+ResultQuarantined+`"`) || !strings.Contains(f.logs.String(), `"severity":"ERROR"`) {
				t.Errorf("log lacks the quarantined result or the ERROR report:\n%s", f.logs)
			}
			// A retry is a duplicate: the delivery is recorded published.
			w = f.do("POST", signV1(t, testSecret, "msg_refused", testNow.Add(time.Second), body), body)
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicate"`) || f.pub.count() != 1 {
				t.Errorf("retry: %d %q with %d messages, want 200 duplicate and still 1", w.Code, w.Body, f.pub.count())
			}
		})
	}
}

// TestHandlerCompleteFails checks that a published event is acknowledged
// even when the ledger cannot record it: a 503 would make Gemini retry and
// publish it twice.
func TestHandlerCompleteFails(t *testing.T) {
	f := newFixture(t, func(l Ledger) Ledger {
		return &failingLedger{Ledger: l, complete: ledger.ErrUnavailable}
	})
	body := []byte(batchBody)
	w := f.do("POST", signV1(t, testSecret, "msg_cf", testNow, body), body)
	if w.Code != 200 || f.pub.count() != 1 {
		t.Fatalf("status %d, %d messages; want 200 and 1", w.Code, f.pub.count())
	}
	if !strings.Contains(f.logs.String(), `"severity":"ERROR"`) {
		t.Errorf("no ERROR line for the lost Complete:\n%s", f.logs)
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{nil, 200},
		{errMethod, 405},
		{errTooLarge, 413},
		{verify.ErrMissingHeaders, 400},
		{verify.ErrInvalidHeaders, 400},
		{verify.ErrNoMatchingSignature, 401},
		{verify.ErrTimestampTooOld, 401},
		{verify.ErrTimestampTooNew, 401},
		{verify.ErrKeysUnavailable, 503},
		{ledger.ErrPublished, 200},
		{ledger.ErrInFlight, 409},
		{&ledger.InFlightError{}, 409},
		{ledger.ErrUnavailable, 503},
		{publish.ErrTopicNotFound, 503},
		{publish.ErrUnavailable, 503},
		{context.DeadlineExceeded, 503},
		{ErrConfig, 503},
		{errors.New("surprise"), 503},
	}
	for _, tt := range tests {
		if got, _ := statusFor(tt.err); got != tt.status {
			t.Errorf("statusFor(%v) = %d, want %d", tt.err, got, tt.status)
		}
		if got, _ := statusFor(errors.Join(errors.New("wrapped"), tt.err)); tt.err != nil && got != tt.status {
			t.Errorf("statusFor(wrapped %v) = %d, want %d", tt.err, got, tt.status)
		}
	}
}

// TestHandlerLogs checks that every line is Cloud Logging JSON with a
// severity and that no secret, signature or body reaches the log.
func TestHandlerLogs(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte(`{"type":"batch.failed","data":{"id":"batch_secretive","error_message":"BODY-MARKER"}}`)
	h := signV1(t, testSecret, "msg_log", testNow, body)
	f.do("POST", h, body)
	f.do("POST", signV1(t, "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32)), "msg_log2", testNow, body), body)
	f.do("POST", h, []byte("not json BODY-MARKER"))
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("got %d log lines, want at least 3", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["severity"] == nil {
			t.Errorf("log line without severity: %s", l)
		}
	}
	sig := strings.TrimPrefix(h.Get(verify.HeaderSignature), "v1,")
	for _, secret := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sig, "BODY-MARKER"} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}
