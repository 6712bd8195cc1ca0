package test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestLogs (item 9) sends one request of every outcome and checks the log:
// one access line per request, JSON with the severity of its status
// (INFO 2xx, WARNING 4xx, ERROR 5xx), httpRequest, the result label and the
// request's trace; and, as at the end of every test of this package
// (checkLogs), no secret, signature token or body content anywhere.
func TestLogs(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{flaky: true, env: map[string]string{"GEMINIHOOK_MAX_BODY_BYTES": "4096"}})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	type req struct {
		name     string
		method   string
		header   http.Header
		body     []byte
		status   int
		result   string
		severity string
		before   func()
	}
	id, busy := newID(), newID()
	body := s.body(events.TypeBatchFailed, "batch_log")
	notJSON := []byte("<xml>" + strings.TrimSuffix(strings.TrimPrefix(string(s.body("x", "y")), "{"), "}") + "</xml>")
	big := []byte(strings.Repeat(string(body), 4096/len(body)+1))
	forger := verifytest.NewSecondSigner()
	now := time.Now()
	reqs := []req{
		{"published v1", "POST", s.sign("v1", id, now, body), body, 200, "published", "INFO", nil},
		{"duplicate v1a", "POST", s.sign("v1a", id, now, body), body, 200, "duplicate", "INFO", nil},
		{"published jwt", "POST", s.sign("jwt", newID(), now, body), body, 200, "published", "INFO", nil},
		{"quarantined", "POST", s.sign("v1", newID(), now, notJSON), notJSON, 200, "quarantined", "INFO", nil},
		{"in flight", "POST", s.sign("v1", busy, now, body), body, 409, "in_flight", "WARNING", func() {
			if _, err := s.ledger.Claim(context.Background(), ledger.Delivery{WebhookID: busy}); err != nil {
				t.Fatal(err)
			}
		}},
		{"forged", "POST", s.signWith(forger, "v1", newID(), now, body), body, 401, "bad_signature", "WARNING", nil},
		{"stale", "POST", s.sign("v1a", newID(), now.Add(-time.Hour), body), body, 401, "stale_timestamp", "WARNING", nil},
		{"no headers", "POST", http.Header{}, body, 400, "invalid_headers", "WARNING", nil},
		{"GET", "GET", s.sign("v1", newID(), now, nil), nil, 405, "method_not_allowed", "WARNING", nil},
		{"oversized", "POST", s.sign("v1", newID(), now, big), big, 413, "too_large", "WARNING", nil},
		{"publish fails", "POST", s.sign("jwt", newID(), now, body), body, 503, "backend_unavailable", "ERROR", func() {
			s.flaky.failing.Store(true)
		}},
	}
	for i := range reqs {
		r := &reqs[i]
		r.header.Set("traceparent", fmt.Sprintf("00-%s-%016x-01", traceID, i+1))
		if r.before != nil {
			r.before()
		}
		if got := s.do(r.method, r.header, r.body); got.status != r.status {
			t.Errorf("%s: status %d %q, want %d", r.name, got.status, got.body, r.status)
		}
	}

	access := s.accessLines(t, "")
	if len(access) != len(reqs) {
		t.Fatalf("%d access lines for %d requests:\n%s", len(access), len(reqs), s.logs)
	}
	for i, r := range reqs {
		l := access[i]
		if l.m["severity"] != r.severity || l.label("result") != r.result {
			t.Errorf("%s: access line severity %v result %q, want %s %s: %s", r.name, l.m["severity"], l.label("result"), r.severity, r.result, l.text)
		}
		hr, _ := l.m["httpRequest"].(map[string]any)
		if hr["status"] != float64(r.status) || hr["requestMethod"] != r.method || hr["latency"] == nil {
			t.Errorf("%s: httpRequest %v, want status %d method %s and a latency", r.name, hr, r.status, r.method)
		}
		wantTrace := "projects/" + s.project + "/traces/" + traceID
		if l.m["logging.googleapis.com/trace"] != wantTrace || l.m["logging.googleapis.com/spanId"] != fmt.Sprintf("%016x", i+1) {
			t.Errorf("%s: trace %v span %v, want %s %016x", r.name, l.m["logging.googleapis.com/trace"], l.m["logging.googleapis.com/spanId"], wantTrace, i+1)
		}
	}
	s.checkLogs(t) // now as well, to name this test in a failure
}

// leakRecorder is an errorReporter that records the errors it is given.
type leakRecorder struct{ errs []string }

func (r *leakRecorder) Helper() {}
func (r *leakRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckLogsCatches shows that the log check of every test can fail:
// for a line that is not JSON, one without a severity, and a leaked
// secret, signature or body marker.
func TestCheckLogsCatches(t *testing.T) {
	s := &stack{logs: &cloudlogtest.Buffer{}}
	s.forbid("whsec_secret", "SIGNATURE", "body-marker-1")
	tests := []struct{ name, log string }{
		{"not JSON", "delivery ok\n"},
		{"no severity", `{"message":"delivery"}` + "\n"},
		{"unknown severity", `{"severity":"LOUD","message":"delivery"}` + "\n"},
		{"no message", `{"severity":"INFO"}` + "\n"},
		{"secret", `{"severity":"INFO","message":"loaded whsec_secret"}` + "\n"},
		{"signature in an error", `{"severity":"WARNING","message":"delivery","error":"bad token v1,SIGNATURE"}` + "\n"},
		{"body", `{"severity":"ERROR","message":"delivery","error":"json: body-marker-1"}` + "\n"},
	}
	for _, tt := range tests {
		s.logs = &cloudlogtest.Buffer{}
		s.logs.Write([]byte(`{"severity":"INFO","message":"fine"}` + "\n" + tt.log))
		var r leakRecorder
		s.checkLogs(&r)
		if len(r.errs) == 0 {
			t.Errorf("%s: checkLogs passed %q", tt.name, tt.log)
		}
	}
	s.logs = &cloudlogtest.Buffer{}
	s.logs.Write([]byte(`{"severity":"INFO","message":"fine","logging.googleapis.com/labels":{"result":"published"}}` + "\n"))
	var r leakRecorder
	if s.checkLogs(&r); len(r.errs) != 0 {
		t.Errorf("checkLogs failed a clean log: %v", r.errs)
	}
}
