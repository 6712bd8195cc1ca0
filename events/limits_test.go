package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkLimits checks a message against Pub/Sub's documented limits,
// written out here rather than taken from the package's constants.
func checkLimits(tb testing.TB, m Message) {
	tb.Helper()
	if len(m.Data) == 0 {
		tb.Errorf("empty data")
	}
	if len(m.Attributes) > 100 {
		tb.Errorf("%d attributes, limit 100", len(m.Attributes))
	}
	size := len(m.Data)
	for k, v := range m.Attributes {
		switch {
		case k == "" || len(k) > 256:
			tb.Errorf("attribute key %q: %d bytes, want 1..256", k, len(k))
		case strings.HasPrefix(k, "goog"):
			tb.Errorf("attribute key %q is reserved", k)
		case v == "":
			tb.Errorf("attribute %q is empty", k)
		case len(v) > 1024:
			tb.Errorf("attribute %q: %d bytes, limit 1024", k, len(v))
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			tb.Errorf("attribute %q is not UTF-8", k)
		}
		size += len(k) + len(v)
	}
	if size > 10_000_000 {
		tb.Errorf("message of %d bytes, limit 10 MB", size)
	}
}

func TestAttributesOversized(t *testing.T) {
	long := func(unit string, bytes int) string { return strings.Repeat(unit, bytes/len(unit)) }
	tests := []struct {
		name          string
		webhookID     string
		typ           string
		jobID         string
		wantTruncated []string
	}{
		{"all at limit", long("a", 1024), long("t", 1024-len(CETypePrefix)), long("j", 1024), nil},
		{"webhook id one over", long("a", 1025), "batch.succeeded", "j", []string{AttrID}},
		{"type over: ce-type and event_type", "id", long("t", 1025), "j", []string{AttrType, AttrEventType}},
		{"only ce-type over (prefix)", "id", long("t", 1024), "j", []string{AttrType}},
		{"job id of 2-byte runes", "id", "x", long("é", 1100*2), []string{AttrSubject}},
		{"job id of 3-byte runes", "id", "x", long("€", 3*1000), []string{AttrSubject}},
		{"job id of 4-byte runes", "id", "x", long("😀", 4*400), []string{AttrSubject}},
		{"everything huge", long("i", 1<<20), long("t", 1<<20), long("j", 1<<20), []string{AttrID, AttrType, AttrSubject, AttrEventType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"type": tt.typ, "data": map[string]any{"id": tt.jobID}})
			ev, err := Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			ev.WebhookID = tt.webhookID
			m, err := ev.Message()
			if err != nil {
				t.Fatal(err)
			}
			checkLimits(t, m)

			full := map[string]string{AttrID: tt.webhookID, AttrType: CETypePrefix + tt.typ, AttrSubject: tt.jobID, AttrEventType: tt.typ}
			var truncated []string
			for key, value := range full {
				got := m.Attributes[key]
				if got == value {
					continue
				}
				truncated = append(truncated, key)
				kept, ok := strings.CutSuffix(got, TruncationMarker)
				if !ok || !strings.HasPrefix(value, kept) || len(got) > 1024 || len(got) < 1024-utf8.UTFMax-len(TruncationMarker) {
					t.Errorf("%s = %d bytes %.20q…, want a prefix of the value cut near 1024 bytes plus the marker", key, len(got), got)
				}
			}
			slices.Sort(truncated)
			want := slices.Sorted(slices.Values(tt.wantTruncated))
			if !slices.Equal(truncated, want) {
				t.Errorf("cut attributes %v, want %v", truncated, want)
			}
			var listed []string
			if s := m.Attributes[AttrTruncated]; s != "" {
				listed = strings.Split(s, ",")
			}
			slices.Sort(listed)
			if !slices.Equal(listed, want) {
				t.Errorf("%s = %q, want %v", AttrTruncated, m.Attributes[AttrTruncated], want)
			}

			// Nothing is lost: the data has every value in full.
			got, err := Decode(m.Data, m.Attributes)
			if err != nil {
				t.Fatal(err)
			}
			if got.WebhookID != tt.webhookID || got.Type != tt.typ || got.JobID != tt.jobID {
				t.Errorf("decoded event lost a value")
			}
		})
	}
}

func TestAttributesInvalidUTF8(t *testing.T) {
	ev, err := Parse([]byte(`{"type":"batch.succeeded","data":{"id":"b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID = "msg_\xff\xfe_x"
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	checkLimits(t, m)
	const want = "msg_\uFFFD\uFFFD_x"
	if m.Attributes[AttrID] != want {
		t.Errorf("ce-id = %q, want %q", m.Attributes[AttrID], want)
	}
	got, err := Decode(m.Data, m.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	if got.WebhookID != want {
		t.Errorf("decoded webhook id = %q, want %q (as in the attribute)", got.WebhookID, want)
	}
}

func TestAttributesOmitEmpty(t *testing.T) {
	ev, err := Parse([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	a := ev.Attributes()
	for _, k := range []string{AttrID, AttrSubject, AttrTime, AttrEventType, AttrTruncated} {
		if v, ok := a[k]; ok {
			t.Errorf("attribute %s = %q, want it absent", k, v)
		}
	}
	if a[AttrType] != CETypeUntyped || a[AttrJobKind] != "unknown" || a[AttrOutcome] != "unknown" {
		t.Errorf("attributes of {} = %v", a)
	}
}

func TestMessageErrors(t *testing.T) {
	base := func() *Event {
		ev, err := Parse([]byte(`{"type":"batch.succeeded","data":{"id":"b"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	tests := []struct {
		name   string
		change func(*Event)
		want   error
	}{
		{"envelope not JSON", func(e *Event) { e.Envelope = []byte(`{"a":`) }, ErrInvalidEvent},
		{"user metadata not JSON", func(e *Event) { e.UserMetadata = []byte(`{x}`) }, ErrInvalidEvent},
		{"webhook id over the message limit", func(e *Event) { e.WebhookID = strings.Repeat("a", 10_000_000) }, ErrTooLarge},
		{"nil envelope is fine", func(e *Event) { e.Envelope = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base()
			tt.change(ev)
			m, err := ev.Message()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Message() error = %v, want %v", err, tt.want)
			}
			if err == nil {
				checkLimits(t, m)
			}
		})
	}
}

// TestMessageLargestBody shows the size argument of MaxBodyBytes: the
// worst case copies nearly the whole body into fields once more.
func TestMessageLargestBody(t *testing.T) {
	quarter := strings.Repeat("x", MaxBodyBytes/4-40)
	body := fmt.Sprintf(`{"type":"batch.failed","data":{"id":"%s","error_message":"%s","output_file_uri":"%s","user_metadata":"%s"}}`,
		quarter, quarter, quarter, quarter)
	if len(body) > MaxBodyBytes {
		t.Fatalf("test body of %d bytes is over MaxBodyBytes", len(body))
	}
	ev, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID = strings.Repeat("w", 8<<10) // about the largest header value servers accept
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	checkLimits(t, m)
	if len(m.Data) < 2*len(body) {
		t.Errorf("data of %d bytes for a body of %d: the worst case was not exercised", len(m.Data), len(body))
	}
}

func TestQuarantineMessage(t *testing.T) {
	received := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)
	tests := []struct {
		name      string
		body      []byte
		reason    error
		wantData  []byte
		wantAttrs map[string]string // subset
	}{
		{
			name:     "not an object",
			body:     []byte(`["x"]`),
			reason:   fmt.Errorf("%w: array", ErrNotObject),
			wantData: []byte(`["x"]`),
			wantAttrs: map[string]string{
				AttrSpecVersion: "1.0", AttrID: "msg_1", AttrSource: Source, AttrType: CETypeQuarantine,
				AttrTime: "2026-01-22T12:00:01Z", AttrContentType: "application/octet-stream", AttrScheme: "v1a",
				AttrReason: "events: JSON value is not an object: array", AttrBodyBytes: "5",
			},
		},
		{
			name:      "empty body gets the placeholder",
			body:      nil,
			reason:    ErrMalformed,
			wantData:  []byte(EmptyBodyPlaceholder),
			wantAttrs: map[string]string{AttrEmptyBody: "true", AttrBodyBytes: "0"},
		},
		{
			name:      "nil reason",
			body:      []byte("x"),
			wantData:  []byte("x"),
			wantAttrs: map[string]string{AttrReason: "unspecified"},
		},
		{
			name:      "long reason is cut",
			body:      []byte("x"),
			reason:    errors.New(strings.Repeat("r", 3000)),
			wantData:  []byte("x"),
			wantAttrs: map[string]string{AttrTruncated: AttrReason, AttrReason: strings.Repeat("r", 1024-len(TruncationMarker)) + TruncationMarker},
		},
		{
			name:      "body over the message limit is cut",
			body:      bytes.Repeat([]byte("b"), 11_000_000),
			reason:    ErrTooLarge,
			wantData:  bytes.Repeat([]byte("b"), MaxQuarantineDataBytes),
			wantAttrs: map[string]string{AttrTruncated: "data", AttrBodyBytes: "11000000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := QuarantineMessage(tt.body, "msg_1", "v1a", tt.reason, received)
			checkLimits(t, m)
			if !bytes.Equal(m.Data, tt.wantData) {
				t.Errorf("data = %.40q (%d bytes), want %.40q (%d bytes)", m.Data, len(m.Data), tt.wantData, len(tt.wantData))
			}
			for k, want := range tt.wantAttrs {
				if got := m.Attributes[k]; got != want {
					t.Errorf("attribute %s = %.60q, want %.60q", k, got, want)
				}
			}
			if _, err := Decode(m.Data, m.Attributes); !errors.Is(err, ErrQuarantined) {
				t.Errorf("Decode(quarantine message) error = %v, want ErrQuarantined", err)
			}
		})
	}
}

func TestQuarantineMessageZeroValues(t *testing.T) {
	m := QuarantineMessage([]byte("{"), "", "", ErrMalformed, time.Time{})
	checkLimits(t, m)
	for _, k := range []string{AttrID, AttrScheme, AttrTime, AttrEmptyBody, AttrTruncated} {
		if v, ok := m.Attributes[k]; ok {
			t.Errorf("attribute %s = %q, want it absent", k, v)
		}
	}
}
