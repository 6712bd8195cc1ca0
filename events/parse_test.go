package events

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		typ      string
		kind     Kind
		outcome  Outcome
		terminal bool
	}{
		{"batch.succeeded", KindBatch, OutcomeSucceeded, true},
		{"batch.failed", KindBatch, OutcomeFailed, true},
		{"batch.expired", KindBatch, OutcomeExpired, true},
		{"batch.cancelled", KindBatch, OutcomeCancelled, true},
		{"interaction.requires_action", KindInteraction, OutcomeRequiresAction, false},
		{"interaction.completed", KindInteraction, OutcomeSucceeded, true},
		{"interaction.failed", KindInteraction, OutcomeFailed, true},
		{"interaction.cancelled", KindInteraction, OutcomeCancelled, true},
		{"video.generated", KindVideo, OutcomeSucceeded, true},
		{"", KindUnknown, OutcomeUnknown, false},
		{"ping", KindUnknown, OutcomeUnknown, false},
		{"batch.paused", KindUnknown, OutcomeUnknown, false},
		{"Batch.Succeeded", KindUnknown, OutcomeUnknown, false},
		{"batch.succeeded ", KindUnknown, OutcomeUnknown, false},
	}
	for _, tt := range tests {
		kind, outcome := Classify(tt.typ)
		if kind != tt.kind || outcome != tt.outcome || outcome.Terminal() != tt.terminal {
			t.Errorf("Classify(%q) = %s, %s (terminal %v), want %s, %s (terminal %v)",
				tt.typ, kind, outcome, outcome.Terminal(), tt.kind, tt.outcome, tt.terminal)
		}
	}
	if len(classes) != 9 {
		t.Errorf("%d documented types, want the 9 of Gemini's webhook guide", len(classes))
	}
}

func TestDocumentedTypes(t *testing.T) {
	types := DocumentedTypes()
	seen := map[string]bool{}
	for _, typ := range types {
		if _, ok := classes[typ]; !ok || seen[typ] {
			t.Errorf("DocumentedTypes has %q, which is not classified or is repeated", typ)
		}
		seen[typ] = true
	}
	if len(types) != len(classes) {
		t.Errorf("DocumentedTypes has %d types, Classify knows %d", len(types), len(classes))
	}
	types[0] = "changed"
	if DocumentedTypes()[0] == "changed" {
		t.Error("DocumentedTypes returns a shared slice")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"whitespace", " \r\n\t", ErrMalformed},
		{"syntax", `{"type":`, ErrMalformed},
		{"trailing garbage", `{"type":"batch.succeeded"} x`, ErrMalformed},
		{"two objects", `{}{}`, ErrMalformed},
		{"not UTF-8", "{\"type\":\"batch.succeeded\",\"x\":\"\xff\"}", ErrMalformed},
		{"single quotes", `{'type':'x'}`, ErrMalformed},
		{"raw control char in string", "{\"type\":\"a\x01\"}", ErrMalformed},
		{"array", `[{"type":"batch.succeeded"}]`, ErrNotObject},
		{"string", `"batch.succeeded"`, ErrNotObject},
		{"number", `42`, ErrNotObject},
		{"null", `null`, ErrNotObject},
		{"boolean", ` true `, ErrNotObject},
		{"not JSON at all", `type=batch.succeeded`, ErrMalformed},
		{"too large", `{"x":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%.40q) error = %v, want %v", tt.body, err, tt.want)
			}
			if ev != nil {
				t.Errorf("Parse returned an event with error %v", err)
			}
		})
	}
}

// TestParseErrorsHideBody keeps body content out of error texts, which
// end up in logs.
func TestParseErrorsHideBody(t *testing.T) {
	for _, body := range []string{`{"secret_token": sk-LEAK}`, `["sk-LEAK"]`, `"sk-LEAK"`, "{\"k\":\"sk-LEAK\xff\"}"} {
		_, err := Parse([]byte(body))
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", body)
		}
		if strings.Contains(err.Error(), "LEAK") || strings.Contains(err.Error(), "sk-") {
			t.Errorf("Parse(%q) error %q quotes the body", body, err)
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Event
	}{
		{
			name: "documented example",
			body: `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`,
			want: Event{Type: "batch.succeeded", Kind: KindBatch, Outcome: OutcomeSucceeded, Terminal: true,
				JobID: "batch_123456", EventTime: time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC), Version: "v1",
				OutputURI: "gs://my-bucket/results.jsonl"},
		},
		{
			name: "numeric error code kept as written",
			body: `{"type":"interaction.failed","data":{"id":"i","error_code":-1.5e3,"error_message":"x"}}`,
			want: Event{Type: "interaction.failed", Kind: KindInteraction, Outcome: OutcomeFailed, Terminal: true,
				JobID: "i", ErrorCode: "-1.5e3", ErrorMessage: "x"},
		},
		{
			name: "video_uri when output_file_uri is empty",
			body: `{"type":"video.generated","data":{"id":"op","output_file_uri":"","video_uri":"gs://v"}}`,
			want: Event{Type: "video.generated", Kind: KindVideo, Outcome: OutcomeSucceeded, Terminal: true,
				JobID: "op", OutputURI: "gs://v"},
		},
		{
			name: "escapes decoded",
			body: `{"type":"batch.failed","data":{"id":"a\/b","error_message":"\u00e9\n\"q\""}}`,
			want: Event{Type: "batch.failed", Kind: KindBatch, Outcome: OutcomeFailed, Terminal: true,
				JobID: "a/b", ErrorMessage: "é\n\"q\""},
		},
		{
			name: "timestamp with offset to UTC",
			body: `{"type":"x","timestamp":"2026-01-22T13:00:00.25+01:00"}`,
			want: Event{Type: "x", Kind: KindUnknown, Outcome: OutcomeUnknown,
				EventTime: time.Date(2026, 1, 22, 12, 0, 0, 250_000_000, time.UTC)},
		},
		{
			name: "timestamp whose UTC year has no RFC 3339 form",
			body: `{"timestamp":"0000-01-01T00:00:00+01:00"}`,
			want: Event{Kind: KindUnknown, Outcome: OutcomeUnknown},
		},
		{
			name: "keys are case-sensitive",
			body: `{"Type":"batch.succeeded","DATA":{"id":"x"}}`,
			want: Event{Kind: KindUnknown, Outcome: OutcomeUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Envelope = []byte(tt.body)
			if !equalEvents(ev, &tt.want) {
				t.Errorf("Parse(%s)\n got %+v\nwant %+v", tt.body, *ev, tt.want)
			}
		})
	}
}

// TestParseUserMetadata checks the precedence of the four places and that
// the value is kept verbatim.
func TestParseUserMetadata(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"data":{"user_metadata":{"a": 1}}}`, `{"a": 1}`},
		{`{"data":{"userMetadata":{"b":2}}}`, `{"b":2}`},
		{`{"user_metadata":{"c":3}}`, `{"c":3}`},
		{`{"userMetadata":[1, 2]}`, `[1, 2]`},
		{`{"userMetadata":{"d":4},"user_metadata":{"c":3},"data":{"userMetadata":{"b":2},"user_metadata":{"a":1}}}`, `{"a":1}`},
		{`{"user_metadata":{"c":3},"data":{"user_metadata":null}}`, `{"c":3}`},
		{`{"user_metadata":null}`, ``},
		{`{"data":{"user_metadata":"s"}}`, `"s"`},
		{`{}`, ``},
	}
	for _, tt := range tests {
		ev, err := Parse([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.UserMetadata) != tt.want {
			t.Errorf("Parse(%s).UserMetadata = %q, want %q", tt.body, ev.UserMetadata, tt.want)
		}
	}
}

// TestParseCopies makes sure the Event does not share memory with the body,
// which the caller may reuse.
func TestParseCopies(t *testing.T) {
	body := []byte(`{"type":"batch.succeeded","data":{"id":"b","user_metadata":{"k":"v"}}}`)
	ev, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	orig := string(body)
	for i := range body {
		body[i] = ' '
	}
	if string(ev.Envelope) != orig || string(ev.UserMetadata) != `{"k":"v"}` {
		t.Errorf("event changed with the body: %q, %q", ev.Envelope, ev.UserMetadata)
	}
}

// equalEvents compares events field by field; times with Equal.
func equalEvents(a, b *Event) bool {
	x, y := *a, *b
	if !x.ReceivedAt.Equal(y.ReceivedAt) || !x.EventTime.Equal(y.EventTime) {
		return false
	}
	if !bytes.Equal(x.UserMetadata, y.UserMetadata) || !bytes.Equal(x.Envelope, y.Envelope) {
		return false
	}
	x.ReceivedAt, y.ReceivedAt, x.EventTime, y.EventTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	x.UserMetadata, y.UserMetadata, x.Envelope, y.Envelope = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}
