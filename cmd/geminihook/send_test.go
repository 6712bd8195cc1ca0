package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
)

func TestSampleBodies(t *testing.T) {
	types := events.DocumentedTypes()
	var sampled []string
	for _, s := range samples {
		sampled = append(sampled, s.typ)
	}
	if !slices.Equal(sampled, types) {
		t.Fatalf("samples has types %q, want events.DocumentedTypes() %q", sampled, types)
	}
	now := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	for _, typ := range append(types, "ping") {
		t.Run(typ, func(t *testing.T) {
			body := sampleBody(typ, now)
			ev, err := events.Parse(body)
			if err != nil {
				t.Fatalf("events.Parse(sampleBody(%q)) = %v; body %s", typ, err, body)
			}
			wantKind, wantOutcome := events.Classify(typ)
			if typ != "ping" && wantKind == events.KindUnknown {
				t.Errorf("events.Classify(%q) = unknown: not a documented type", typ)
			}
			if ev.Type != typ || ev.Kind != wantKind || ev.Outcome != wantOutcome {
				t.Errorf("Parse = type %q kind %q outcome %q, want %q %q %q", ev.Type, ev.Kind, ev.Outcome, typ, wantKind, wantOutcome)
			}
			if ev.JobID == "" || !ev.EventTime.Equal(now) || ev.Version != "v1" || len(ev.UserMetadata) == 0 {
				t.Errorf("Parse = job %q time %v version %q metadata %s, want a job id, %v, v1 and user_metadata",
					ev.JobID, ev.EventTime, ev.Version, ev.UserMetadata, now)
			}
			if ev.Outcome == events.OutcomeFailed && (ev.ErrorCode == "" || ev.ErrorMessage == "") {
				t.Errorf("failed event without error_code/error_message: %s", body)
			}
			if (typ == events.TypeBatchSucceeded || typ == events.TypeVideoGenerated) && ev.OutputURI == "" {
				t.Errorf("%s without output_file_uri: %s", typ, body)
			}
			if again := sampleBody(typ, now); string(again) == string(body) {
				t.Errorf("two sample bodies of %s are equal: job ids must be fresh", typ)
			}
		})
	}
}

// scripted is a receiver that answers attempt i (0-based, in arrival order)
// with answers[i] (the last one repeats), and records what it got.
type scripted struct {
	answers []answerSpec

	mu   sync.Mutex
	n    int
	ids  []string
	sigs []string
}

type answerSpec struct {
	status int
	body   string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	a := s.answers[min(s.n, len(s.answers)-1)]
	s.n++
	s.ids = append(s.ids, r.Header.Get(verify.HeaderID))
	s.sigs = append(s.sigs, r.Header.Get(verify.HeaderSignature))
	s.mu.Unlock()
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestSendOutcome checks the exit status and summary that send derives from
// the receiver's answers, against an HTTP receiver that plays a script.
func TestSendOutcome(t *testing.T) {
	published := answerSpec{200, `{"status":"published","id":"x"}`}
	duplicate := answerSpec{200, `{"status":"duplicate","id":"x"}`}
	inFlight := answerSpec{409, "delivery in progress, retry later\n"}
	tests := []struct {
		name     string
		args     []string
		answers  []answerSpec
		wantCode int
		want     []string // in stdout
	}{
		{"one published", nil, []answerSpec{published}, exitOK, []string{"batch.succeeded", "→ 200 published"}},
		{"repeat: one published, duplicates and 409s", []string{"--repeat", "6"},
			[]answerSpec{published, inFlight, duplicate, duplicate, inFlight, duplicate}, exitOK,
			[]string{"summary: 1 delivery, 6 attempts: 3 × 200 duplicate, 1 × 200 published, 2 × 409 in flight"}},
		{"only 409s", []string{"--repeat", "2"}, []answerSpec{inFlight}, exitFailure,
			[]string{"2 × 409 in flight", "failed: 1 of 1 delivery"}},
		{"401", nil, []answerSpec{{401, "no valid signature or timestamp outside tolerance\n"}}, exitFailure,
			[]string{"→ 401 no valid signature"}},
		{"a 503 among 200s", []string{"--repeat", "3"}, []answerSpec{published, {503, "temporarily unavailable, retry later\n"}, duplicate}, exitFailure,
			[]string{"1 × 503 Service Unavailable"}},
		{"all types", []string{"--all"}, []answerSpec{published}, exitOK,
			[]string{"summary: 9 deliveries, 9 attempts: 9 × 200 published", "video.generated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &scripted{answers: tt.answers}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			args := append([]string{"send", "--url", srv.URL, "--secret", testSecret}, tt.args...)
			code, stdout, stderr := runInProcess(t, "", args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			ids := slices.Compact(slices.Sorted(slices.Values(rec.ids)))
			wantIDs := 1
			if slices.Contains(tt.args, "--all") {
				wantIDs = 9
			}
			if len(ids) != wantIDs {
				t.Errorf("receiver saw webhook ids %q, want %d distinct", ids, wantIDs)
			}
		})
	}
}

func TestSendFixedIDAndBody(t *testing.T) {
	rec := &scripted{answers: []answerSpec{{200, `{"status":"published","id":"msg_fixed"}`}}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	code, stdout, stderr := runInProcess(t, `{"type":"ping"}`,
		"send", "--url", srv.URL, "--secret", testSecret, "--secret", "whsec_Z2VtaW5paG9vay10ZXN0LXNlY3JldC0wMDAwMDAwMDI=",
		"--id", "msg_fixed", "--body", "-", "--repeat", "2")
	if code != exitOK {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !slices.Equal(rec.ids, []string{"msg_fixed", "msg_fixed"}) {
		t.Errorf("webhook ids = %q, want msg_fixed twice", rec.ids)
	}
	if !strings.Contains(stdout, "ping ") {
		t.Errorf("stdout does not name the body's type ping:\n%s", stdout)
	}
	for _, sig := range rec.sigs {
		if n := strings.Count(sig, "v1,"); n != 2 {
			t.Errorf("webhook-signature %q has %d v1 tokens, want one per --secret (2)", sig, n)
		}
	}
}

func TestSendUnreachable(t *testing.T) {
	addr := deadAddr(t) // nothing listens there now
	code, _, stderr := runInProcess(t, "", "send", "--url", "http://"+addr+"/", "--secret", testSecret)
	if code != exitUnreachable {
		t.Errorf("exit %d, want %d (unreachable); stderr:\n%s", code, exitUnreachable, stderr)
	}
	if !strings.Contains(stderr, "start 'geminihook serve'") {
		t.Errorf("stderr does not say what to do next:\n%s", stderr)
	}

	code, _, stderr = runInProcess(t, "", "tail", "--pubsub-addr", addr)
	if code != exitUnreachable || !strings.Contains(stderr, "start 'geminihook serve'") {
		t.Errorf("tail: exit %d, want %d with a hint; stderr:\n%s", code, exitUnreachable, stderr)
	}
}
