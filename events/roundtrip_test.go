package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// pushBody is what a Pub/Sub push subscription POSTs for m.
func pushBody(tb testing.TB, m Message) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString(m.Data),
			"attributes":  m.Attributes,
			"messageId":   "2070443601311540",
			"message_id":  "2070443601311540",
			"publishTime": "2026-01-22T12:00:02.123Z",
		},
		"subscription": "projects/p/subscriptions/jobs-push",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// structured renders m as a structured-mode CloudEvent (JSON format).
// With asBase64 the event goes into data_base64 instead of data.
func structured(tb testing.TB, m Message, asBase64 bool) []byte {
	tb.Helper()
	ce := map[string]any{"datacontenttype": m.Attributes[AttrContentType]}
	for k, v := range m.Attributes {
		if name, ok := strings.CutPrefix(k, "ce-"); ok {
			ce[name] = v
		}
	}
	if asBase64 {
		ce["data_base64"] = base64.StdEncoding.EncodeToString(m.Data)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		tb.Fatal(err)
	}
	if !asBase64 {
		// Spliced in by hand: json.Marshal would compact the data and
		// escape HTML in it, and the envelope would no longer be verbatim.
		b = append(append(append(b[:len(b)-1], `,"data":`...), m.Data...), '}')
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			want, m := parseDelivered(t, c.body)
			structAttrs := map[string]string{AttrContentType: "application/cloudevents+json; charset=utf-8"}

			decoders := []struct {
				name   string
				decode func() (*Event, error)
			}{
				{"Decode binary", func() (*Event, error) { return Decode(m.Data, m.Attributes) }},
				{"Decode data only", func() (*Event, error) { return Decode(m.Data, nil) }},
				{"Decode structured data", func() (*Event, error) { return Decode(structured(t, m, false), structAttrs) }},
				{"Decode structured data_base64", func() (*Event, error) { return Decode(structured(t, m, true), structAttrs) }},
				{"json.Unmarshal", func() (*Event, error) {
					var ev Event
					return &ev, json.Unmarshal(m.Data, &ev)
				}},
				{"DecodePush envelope", func() (*Event, error) {
					r := httptest.NewRequest(http.MethodPost, "/push", bytes.NewReader(pushBody(t, m)))
					r.Header.Set("Content-Type", "application/json")
					return DecodePush(r)
				}},
				{"DecodePush envelope around structured", func() (*Event, error) {
					sm := Message{Data: structured(t, m, false), Attributes: structAttrs}
					return DecodePush(httptest.NewRequest(http.MethodPost, "/push", bytes.NewReader(pushBody(t, sm))))
				}},
				{"DecodePush HTTP structured", func() (*Event, error) {
					r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(structured(t, m, false)))
					r.Header.Set("Content-Type", "application/cloudevents+json")
					return DecodePush(r)
				}},
				{"DecodePush HTTP binary", func() (*Event, error) {
					r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(m.Data))
					for k, v := range m.Attributes {
						r.Header.Set(k, v)
					}
					return DecodePush(r)
				}},
			}
			for _, d := range decoders {
				got, err := d.decode()
				if err != nil {
					t.Errorf("%s: %v", d.name, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", d.name, *got, *want)
				}
			}

			// MarshalJSON agrees with the data, up to what encoding/json
			// does to a MarshalJSON result (compact, escape HTML).
			viaJSON, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var compact, escaped bytes.Buffer
			if err := json.Compact(&compact, m.Data); err != nil {
				t.Fatal(err)
			}
			json.HTMLEscape(&escaped, compact.Bytes())
			if !bytes.Equal(viaJSON, escaped.Bytes()) {
				t.Errorf("json.Marshal(event) = %s\nwant compacted data %s", viaJSON, escaped.Bytes())
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := func() []byte {
		_, m := parseDelivered(t, []byte(`{"type":"batch.succeeded","data":{"id":"b"}}`))
		return m.Data
	}()
	replace := func(old, new string) []byte { return bytes.Replace(valid, []byte(old), []byte(new), 1) }
	structAttrs := map[string]string{AttrContentType: "application/cloudevents+json"}
	tests := []struct {
		name  string
		data  []byte
		attrs map[string]string
		want  error
	}{
		{"empty", nil, nil, ErrMalformed},
		{"not JSON", []byte("{"), nil, ErrMalformed},
		{"array", []byte("[]"), nil, ErrNotObject},
		{"no schema_version", replace(`"schema_version":"1",`, ``), nil, ErrSchemaVersion},
		{"schema_version 2", replace(`"schema_version":"1"`, `"schema_version":"2"`), nil, ErrSchemaVersion},
		{"schema_version number", replace(`"schema_version":"1"`, `"schema_version":1`), nil, ErrMalformed},
		{"terminal as string", replace(`"terminal":true`, `"terminal":"yes"`), nil, ErrMalformed},
		{"bad time", replace(`"received_at":"2026-01-22T12:00:01.5Z"`, `"received_at":"yesterday"`), nil, ErrMalformed},
		{"time out of range in UTC", replace(`"received_at":"2026-01-22T12:00:01.5Z"`, `"received_at":"0000-01-01T00:00:00+01:00"`), nil, ErrMalformed},
		{"quarantine", []byte("raw"), map[string]string{AttrType: CETypeQuarantine, AttrReason: "r"}, ErrQuarantined},
		{"structured without data", []byte(`{"specversion":"1.0","id":"x"}`), structAttrs, ErrMalformed},
		{"structured bad base64", []byte(`{"data_base64":"!!"}`), structAttrs, ErrMalformed},
		{"structured data not an event", []byte(`{"data":[1]}`), structAttrs, ErrNotObject},
		{"structured quarantine", []byte(`{"type":"` + CETypeQuarantine + `","data_base64":"eA=="}`), structAttrs, ErrQuarantined},
		{"structured but not JSON", []byte(`nope`), structAttrs, ErrMalformed},
		{"other CloudEvents format is binary", []byte(`{"data":{}}`), map[string]string{AttrContentType: "application/cloudevents+avro"}, ErrSchemaVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.data, tt.attrs)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			if ev != nil {
				t.Errorf("event returned with error")
			}
		})
	}
}

func TestDecodePushErrors(t *testing.T) {
	_, m := parseDelivered(t, []byte(`{"type":"batch.succeeded","data":{"id":"b"}}`))
	errRead := errors.New("connection reset")
	tests := []struct {
		name string
		req  func() *http.Request
		want error
	}{
		{"bad base64", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"message":{"data":"%%%"}}`))
		}, ErrMalformed},
		{"empty body", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", http.NoBody)
		}, ErrMalformed},
		{"nil body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body = nil
			return r
		}, ErrMalformed},
		{"declared too large", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(pushBody(t, m)))
			r.ContentLength = MaxPushBytes + 1
			return r
		}, ErrTooLarge},
		{"streamed too large", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(`{"message":{"data":"`), neverEnding('A')))
			r.ContentLength = -1
			return r
		}, ErrTooLarge},
		{"read error", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", iotest.ErrReader(errRead))
		}, errRead},
		{"quarantine message", func() *http.Request {
			q := QuarantineMessage([]byte("[]"), "id", "v1", ErrNotObject, goldenReceivedAt)
			return httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(pushBody(t, q)))
		}, ErrQuarantined},
		{"push envelope without message is read as an event", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"subscription":"s"}`))
		}, ErrSchemaVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodePush(tt.req())
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodePush error = %v, want %v", err, tt.want)
			}
			if ev != nil {
				t.Errorf("event returned with error")
			}
		})
	}
}

// neverEnding is an endless reader of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
