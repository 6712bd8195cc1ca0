package events

import (
	"encoding/json"
	"testing"
	"time"
)

var benchBody = []byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","user_metadata":{"tenant":"acme","run":42},` +
	`"data":{"id":"batches/123456","error_code":13,"error_message":"internal error while writing results","output_file_uri":"gs://my-bucket/results.jsonl"}}`)

// BenchmarkParseMessage is the request path: Parse, set the delivery
// fields, Message.
func BenchmarkParseMessage(b *testing.B) {
	now := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := Parse(benchBody)
		if err != nil {
			b.Fatal(err)
		}
		ev.WebhookID, ev.Scheme, ev.ReceivedAt = "msg_p5jXN8AQM9LWM0D4loKWxJek", "v1", now
		if _, err := ev.Message(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMessageBaseline is the same work done the usual way with
// encoding/json structs both ways (reflection, a case-insensitive decode,
// and an envelope that json.Marshal compacts), for comparison only.
func BenchmarkParseMessageBaseline(b *testing.B) {
	now := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)
	type wire struct {
		Type         string          `json:"type"`
		Version      string          `json:"version"`
		Timestamp    string          `json:"timestamp"`
		UserMetadata json.RawMessage `json:"user_metadata"`
		Data         struct {
			ID            json.RawMessage `json:"id"`
			OutputFileURI string          `json:"output_file_uri"`
			ErrorCode     json.RawMessage `json:"error_code"`
			ErrorMessage  string          `json:"error_message"`
		} `json:"data"`
	}
	type out struct {
		SchemaVersion string          `json:"schema_version"`
		WebhookID     string          `json:"webhook_id"`
		Scheme        string          `json:"scheme"`
		ReceivedAt    time.Time       `json:"received_at"`
		Type          string          `json:"type"`
		Kind          Kind            `json:"kind"`
		Outcome       Outcome         `json:"outcome"`
		Terminal      bool            `json:"terminal"`
		JobID         string          `json:"job_id,omitempty"`
		EventTime     time.Time       `json:"event_time,omitzero"`
		Version       string          `json:"version,omitempty"`
		OutputURI     string          `json:"output_uri,omitempty"`
		ErrorCode     string          `json:"error_code,omitempty"`
		ErrorMessage  string          `json:"error_message,omitempty"`
		UserMetadata  json.RawMessage `json:"user_metadata,omitempty"`
		Envelope      json.RawMessage `json:"envelope"`
	}
	b.ReportAllocs()
	for b.Loop() {
		var w wire
		if err := json.Unmarshal(benchBody, &w); err != nil {
			b.Fatal(err)
		}
		kind, outcome := Classify(w.Type)
		ts, _ := time.Parse(time.RFC3339Nano, w.Timestamp)
		o := out{SchemaVersion: SchemaVersion, WebhookID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Scheme: "v1", ReceivedAt: now,
			Type: w.Type, Kind: kind, Outcome: outcome, Terminal: outcome.Terminal(), JobID: string(w.Data.ID),
			EventTime: ts, Version: w.Version, OutputURI: w.Data.OutputFileURI, ErrorCode: string(w.Data.ErrorCode),
			ErrorMessage: w.Data.ErrorMessage, UserMetadata: w.UserMetadata, Envelope: benchBody}
		data, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		attrs := map[string]string{"ce-specversion": SpecVersion, "ce-id": o.WebhookID, "ce-source": Source,
			"ce-type": CETypePrefix + o.Type, "ce-time": ts.Format(time.RFC3339Nano), "ce-subject": o.JobID,
			"ce-dataschema": DataSchema, "content-type": ContentType, "event_type": o.Type,
			"job_kind": string(kind), "outcome": string(outcome)}
		_ = Message{Data: data, Attributes: attrs}
	}
}

func BenchmarkDecode(b *testing.B) {
	ev, err := Parse(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	m, err := ev.Message()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(m.Data, m.Attributes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseValidatedMessage is BenchmarkParseMessage through
// ParseValidated, whose Message does not validate the envelope and the
// user_metadata again: the handler's path.
func BenchmarkParseValidatedMessage(b *testing.B) {
	now := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := ParseValidated(benchBody)
		if err != nil {
			b.Fatal(err)
		}
		ev.WebhookID, ev.Scheme, ev.ReceivedAt = "msg_p5jXN8AQM9LWM0D4loKWxJek", "v1", now
		if _, err := ev.Message(); err != nil {
			b.Fatal(err)
		}
	}
}
