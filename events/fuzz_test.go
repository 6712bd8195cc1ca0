package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse: Parse never panics; it refuses exactly the bodies that are not
// a JSON object (or too large); what it accepts encodes within Pub/Sub's
// limits and decodes back to the same Event; what it refuses still makes a
// valid quarantine message.
func FuzzParse(f *testing.F) {
	for _, c := range goldenCases(f) {
		f.Add(c.body, goldenWebhookID)
	}
	f.Add([]byte(`[]`), "")
	f.Add([]byte(""), "msg_\xff")
	f.Add([]byte(`{"type":"batch.succeeded","data":{"id":"\ud800"}}`), "x")
	f.Add([]byte(`{"timestamp":"0000-01-01T00:00:00+01:00","data":{"error_code":1e999}}`), "x")

	f.Fuzz(func(t *testing.T, body []byte, webhookID string) {
		if len(webhookID) > 8<<10 { // HTTP servers refuse larger headers
			webhookID = webhookID[:8<<10]
		}
		ev, err := Parse(body)
		if err != nil {
			if ev != nil {
				t.Fatal("event returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotObject) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("undocumented error %v", err)
			}
			trimmed := bytes.Trim(body, " \t\r\n")
			if len(body) <= MaxBodyBytes && utf8.Valid(body) && json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{' {
				t.Fatalf("Parse refused a JSON object: %v", err)
			}
			checkLimits(t, QuarantineMessage(body, webhookID, "v1", err, goldenReceivedAt))
			return
		}

		if want := bytes.Trim(body, " \t\r\n"); !bytes.Equal(ev.Envelope, want) {
			t.Fatalf("Envelope is not the body")
		}
		// Parse's scanner agrees with a reading by encoding/json.
		ref, err := parseReference(body)
		if err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(ev, ref) {
			t.Fatalf("Parse and encoding/json differ:\n got %+v\nwant %+v", *ev, *ref)
		}
		if kind, outcome := Classify(ev.Type); ev.Kind != kind || ev.Outcome != outcome || ev.Terminal != outcome.Terminal() {
			t.Fatalf("kind %s outcome %s terminal %v for type %q", ev.Kind, ev.Outcome, ev.Terminal, ev.Type)
		}

		ev.WebhookID, ev.Scheme, ev.ReceivedAt = webhookID, "v1a", goldenReceivedAt
		m, err := ev.Message()
		if err != nil {
			t.Fatalf("Message: %v", err)
		}
		checkLimits(t, m)
		if !json.Valid(m.Data) || !utf8.Valid(m.Data) {
			t.Fatalf("data is not UTF-8 JSON")
		}
		got, err := Decode(m.Data, m.Attributes)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !utf8.ValidString(webhookID) {
			ev.WebhookID = validUTF8(ev.WebhookID) // JSON cannot carry invalid UTF-8
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, *ev)
		}
	})
}

// FuzzDecode: Decode and DecodePush never panic, and an Event they return
// encodes within Pub/Sub's limits and decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, c := range goldenCases(f) {
		_, m := parseDelivered(f, c.body)
		f.Add(m.Data, "")
		f.Add(structured(f, m, false), "application/cloudevents+json")
		f.Add(structured(f, m, true), "application/cloudevents+json; charset=utf-8")
		f.Add(pushBody(f, m), "application/json")
	}
	f.Add([]byte(`{"schema_version":"1","received_at":"2026-01-01T00:00:00+14:00","envelope":7,"user_metadata":null}`), "")

	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		ev, err := Decode(data, map[string]string{AttrContentType: contentType})
		checkDecoded(t, ev, err)

		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(data))
		r.Header.Set("Content-Type", contentType)
		ev, err = DecodePush(r)
		checkDecoded(t, ev, err)
	})
}

func checkDecoded(t *testing.T, ev *Event, err error) {
	t.Helper()
	if err != nil {
		if ev != nil {
			t.Fatal("event returned with an error")
		}
		return
	}
	m, err := ev.Message()
	if err != nil {
		t.Fatalf("Message of a decoded event: %v", err)
	}
	checkLimits(t, m)
	again, err := Decode(m.Data, m.Attributes)
	if err != nil {
		t.Fatalf("Decode(Message(Decode(x))): %v", err)
	}
	// The trace context of a structured event is not part of the event:
	// Message does not write it.
	again.TraceParent, again.TraceState = ev.TraceParent, ev.TraceState
	if !reflect.DeepEqual(again, ev) {
		t.Fatalf("not stable:\n got %+v\nwant %+v", *again, *ev)
	}
}

// parseReference is Parse written plainly with encoding/json maps: the
// oracle for FuzzParse and TestParseMatchesReference.
func parseReference(body []byte) (*Event, error) {
	env := bytes.Trim(body, " \t\r\n")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(env, &top); err != nil {
		return nil, err
	}
	var data map[string]json.RawMessage
	if raw := top["data"]; len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &data); err != nil {
			return nil, err
		}
	}
	str := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	scalar := func(raw json.RawMessage) string {
		var n json.Number
		if len(raw) > 0 && raw[0] != '"' && json.Unmarshal(raw, &n) == nil && n != "" {
			return string(raw)
		}
		return str(raw)
	}
	first := func(m map[string]json.RawMessage, keys ...string) string {
		for _, k := range keys {
			if s := str(m[k]); s != "" {
				return s
			}
		}
		return ""
	}
	ev := &Event{Type: str(top["type"]), Version: str(top["version"]), Envelope: json.RawMessage(env)}
	ev.Kind, ev.Outcome = Classify(ev.Type)
	ev.Terminal = ev.Outcome.Terminal()
	if t, err := time.Parse(time.RFC3339Nano, str(top["timestamp"])); err == nil && t.UTC().Year() >= 0 && t.UTC().Year() <= 9999 {
		ev.EventTime = t.UTC()
	}
	ev.JobID = scalar(data["id"])
	ev.OutputURI = first(data, "output_file_uri", "outputFileUri", "video_uri", "videoUri")
	ev.FileName = first(data, "file_name", "fileName")
	if ev.ErrorCode = scalar(data["error_code"]); ev.ErrorCode == "" {
		ev.ErrorCode = scalar(data["errorCode"])
	}
	ev.ErrorMessage = first(data, "error_message", "errorMessage")
	for _, raw := range []json.RawMessage{data["user_metadata"], data["userMetadata"], top["user_metadata"], top["userMetadata"]} {
		if len(raw) > 0 && string(raw) != "null" {
			ev.UserMetadata = raw
			break
		}
	}
	return ev, nil
}

func TestParseMatchesReference(t *testing.T) {
	bodies := [][]byte{
		[]byte(`{"\u0074ype":"batch.failed","data":{"\u0069d":"esc","error_\u0063ode":"c"}}`),
		[]byte(` {"data" : { "id" : "x" , "nested" : {"id":"inner","a":[{"}":"]"}]} , "error_code" : -0.5e+2 } , "type" : "video.generated" } `),
		[]byte(`{"type":"a\"b","data":{"id":"\\","error_message":"\"}\""}}`),
		[]byte(`{"data":{"id":null,"errorCode":true,"file_name":false},"userMetadata":{}}`),
	}
	for _, c := range goldenCases(t) {
		bodies = append(bodies, c.body)
	}
	for _, body := range bodies {
		got, err := Parse(body)
		if err != nil {
			t.Fatalf("Parse(%s): %v", body, err)
		}
		want, err := parseReference(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%s)\n got %+v\nwant %+v", body, *got, *want)
		}
	}
}
