package events_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
)

// The webhook handler's side: parse a verified body, add the delivery
// facts, and get the Pub/Sub message.
func ExampleParse() {
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",` +
		`"data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`)

	ev, err := events.Parse(body)
	if err != nil {
		panic(err) // see ExampleQuarantineMessage
	}
	ev.WebhookID = "msg_p5jXN8AQM9LWM0D4loKWxJek" // webhook-id header
	ev.Scheme = "v1"                              // the scheme that verified it
	ev.ReceivedAt = time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)

	m, err := ev.Message()
	if err != nil {
		panic(err)
	}
	fmt.Println("topic for:", ev.Kind)
	for _, k := range []string{"ce-id", "ce-type", "ce-subject", "ce-time", "event_type", "job_kind", "outcome"} {
		fmt.Printf("%s=%s\n", k, m.Attributes[k])
	}
	fmt.Println(string(m.Data))
	// Output:
	// topic for: batch
	// ce-id=msg_p5jXN8AQM9LWM0D4loKWxJek
	// ce-type=dev.geminihook.gemini.batch.succeeded
	// ce-subject=batch_123456
	// ce-time=2026-01-22T12:00:00Z
	// event_type=batch.succeeded
	// job_kind=batch
	// outcome=succeeded
	// {"schema_version":"1","webhook_id":"msg_p5jXN8AQM9LWM0D4loKWxJek","scheme":"v1","received_at":"2026-01-22T12:00:01Z","type":"batch.succeeded","kind":"batch","outcome":"succeeded","terminal":true,"job_id":"batch_123456","event_time":"2026-01-22T12:00:00Z","version":"v1","output_uri":"gs://my-bucket/results.jsonl","envelope":{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}}
}

// An authentic body that Parse refuses is published to the quarantine
// topic as it came, with the reason in an attribute.
func ExampleQuarantineMessage() {
	body := []byte(`["not", "an", "object"]`)
	_, err := events.Parse(body)
	fmt.Println(errors.Is(err, events.ErrNotObject))

	m := events.QuarantineMessage(body, "msg_1", "v1a", err, time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC))
	fmt.Println(string(m.Data))
	fmt.Println(m.Attributes["ce-type"])
	fmt.Println(m.Attributes["quarantine_reason"])

	empty := events.QuarantineMessage(nil, "msg_2", "v1", events.ErrMalformed, time.Time{})
	fmt.Printf("%s (%s=%s)\n", empty.Data, "geminihook-empty-body", empty.Attributes["geminihook-empty-body"])
	// Output:
	// true
	// ["not", "an", "object"]
	// dev.geminihook.quarantined
	// events: JSON value is not an object: array
	// geminihook: empty body (geminihook-empty-body=true)
}

// A consumer that pulls from a subscription passes the message's data and
// attributes (from any Pub/Sub client) to Decode.
func ExampleDecode() {
	// What a pulled message holds (here made by the producer side).
	ev, _ := events.Parse([]byte(`{"type":"video.generated","data":{"id":"operations/op1",` +
		`"output_file_uri":"gs://b/v.mp4","user_metadata":{"tenant":"acme"}}}`))
	ev.WebhookID = "msg_1"
	published, _ := ev.Message()
	data, attributes := published.Data, published.Attributes

	got, err := events.Decode(data, attributes)
	switch {
	case errors.Is(err, events.ErrQuarantined):
		return // a raw body on the quarantine topic
	case err != nil:
		return // not an event of this schema: ack and log, or dead-letter
	}
	// Delivery is at least once: dedupe on got.WebhookID.
	fmt.Println(got.WebhookID, got.Kind, got.Outcome, got.Terminal)
	fmt.Println(got.JobID, got.OutputURI, string(got.UserMetadata))
	// Output:
	// msg_1 video succeeded true
	// operations/op1 gs://b/v.mp4 {"tenant":"acme"}
}

// A push subscription's endpoint hands the request to DecodePush, which
// unwraps the push envelope (base64 data) with a bounded read.
func ExampleDecodePush() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := events.DecodePush(r)
		if err != nil {
			// 2xx would drop the message; 4xx makes Pub/Sub retry it and,
			// with a dead-letter topic, set it aside.
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		fmt.Println(ev.Type, ev.JobID, ev.ErrorCode, ev.ErrorMessage)
		w.WriteHeader(http.StatusNoContent)
	})

	// The request Pub/Sub sends.
	data := `{"schema_version":"1","webhook_id":"msg_2","scheme":"jwt","received_at":"2026-01-22T12:00:01Z",` +
		`"type":"batch.failed","kind":"batch","outcome":"failed","terminal":true,"job_id":"batches/42",` +
		`"error_code":"13","error_message":"internal","envelope":{"type":"batch.failed","data":{"id":"batches/42","error_code":13,"error_message":"internal"}}}`
	push, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString([]byte(data)),
			"attributes":  map[string]string{"ce-id": "msg_2", "Content-Type": "application/json"},
			"messageId":   "2070443601311540",
			"publishTime": "2026-01-22T12:00:02Z",
		},
		"subscription": "projects/my-project/subscriptions/gemini-batch-push",
	})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(string(push))))
	fmt.Println(rec.Code)

	// A structured-mode CloudEvent works as well.
	ce := `{"specversion":"1.0","id":"msg_2","source":"//generativelanguage.googleapis.com",` +
		`"type":"dev.geminihook.gemini.batch.failed","datacontenttype":"application/json","data":` + data + `}`
	req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(ce))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// batch.failed batches/42 13 internal
	// 204
	// batch.failed batches/42 13 internal
	// 204
}

func ExampleClassify() {
	for _, typ := range []string{"interaction.completed", "interaction.requires_action", "batch.paused"} {
		kind, outcome := events.Classify(typ)
		fmt.Println(typ, kind, outcome, outcome.Terminal())
	}
	// Output:
	// interaction.completed interaction succeeded true
	// interaction.requires_action interaction requires_action false
	// batch.paused unknown unknown false
}
