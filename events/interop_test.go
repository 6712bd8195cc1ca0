package events

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestContentTypeAttribute: the attribute is written as the CloudEvents
// Pub/Sub binding spells it, and read in any case, so that messages of
// earlier releases ("content-type") and of other producers decode alike.
func TestContentTypeAttribute(t *testing.T) {
	want, m := parseDelivered(t, []byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`))
	if m.Attributes["Content-Type"] != ContentType {
		t.Errorf("attributes = %v, want Content-Type %q", m.Attributes, ContentType)
	}
	if _, ok := m.Attributes["content-type"]; ok {
		t.Error("the lower-case content-type attribute is still written")
	}
	q := QuarantineMessage([]byte("x"), "id", "v1", ErrNotObject, goldenReceivedAt)
	if q.Attributes["Content-Type"] != QuarantineContentType {
		t.Errorf("quarantine attributes = %v, want Content-Type %q", q.Attributes, QuarantineContentType)
	}

	sm := structured(t, m, false)
	for _, key := range []string{"Content-Type", "content-type", "CONTENT-TYPE", "content-Type"} {
		t.Run(key, func(t *testing.T) {
			got, err := Decode(sm, map[string]string{key: StructuredContentType + "; charset=utf-8"})
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("structured with %s: %+v, %v", key, got, err)
			}
			binary := map[string]string{}
			for k, v := range m.Attributes {
				if k == AttrContentType {
					k = key
				}
				binary[k] = v
			}
			got, err = Decode(m.Data, binary)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("binary with %s: %+v, %v", key, got, err)
			}
		})
	}
	// The exact spelling wins over another case, whatever the map order.
	for range 20 {
		got, err := Decode(sm, map[string]string{"Content-Type": StructuredContentType, "content-type": ContentType, "CONTENT-TYPE": ContentType})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("exact key beside other spellings: %+v, %v", got, err)
		}
	}
	if v, ok := attribute(map[string]string{"content-type": "a", "Content-type": "b"}, AttrContentType); !ok || v != "b" {
		t.Errorf("attribute without the exact key = %q, %v; want the first key in byte order (Content-type)", v, ok)
	}
}

// TestStructuredWithoutContentType: a structured-mode message published
// without a Content-Type attribute (as CloudEvents SDK Pub/Sub writers do)
// is recognized by its "specversion" member; with a ce-specversion
// attribute the data is the event itself (binary mode).
func TestStructuredWithoutContentType(t *testing.T) {
	want, m := parseDelivered(t, []byte(`{"type":"video.generated","data":{"id":"op/1"}}`))
	for _, asBase64 := range []bool{false, true} {
		got, err := Decode(structured(t, m, asBase64), nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("structured (base64 %v), no attributes: %+v, %v", asBase64, got, err)
		}
		got, err = Decode(structured(t, m, asBase64), map[string]string{AttrReplay: "r1"})
		if err != nil || got.Replay != "r1" {
			t.Errorf("structured (base64 %v) with other attributes: %+v, %v", asBase64, got, err)
		}
	}
	// Binary mode, announced: not sniffed.
	if _, err := Decode(structured(t, m, false), map[string]string{AttrSpecVersion: SpecVersion}); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("structured data with a ce-specversion attribute = %v, want ErrSchemaVersion (read as binary)", err)
	}
	// An event that happens to hold a "specversion" member stays an event.
	withMember := bytes.Replace(m.Data, []byte(`{"schema_version":"1"`), []byte(`{"specversion":"1.0","schema_version":"1"`), 1)
	if got, err := Decode(withMember, nil); err != nil || got.WebhookID != want.WebhookID {
		t.Errorf("event with a specversion member: %+v, %v", got, err)
	}
	if looksStructured([]byte(`{"specversion":`)) || looksStructured([]byte(`["specversion"]`)) || looksStructured(nil) {
		t.Error("looksStructured accepts something that is not a JSON object")
	}
}

// TestReplayAttribute: Decode and DecodePush expose the replay run of a
// republished message; an original has none.
func TestReplayAttribute(t *testing.T) {
	_, m := parseDelivered(t, []byte(`{"type":"batch.failed","data":{"id":"b"}}`))
	if ev, err := Decode(m.Data, m.Attributes); err != nil || ev.Replay != "" {
		t.Fatalf("original: %+v, %v", ev, err)
	}
	m.Attributes[AttrReplay] = "replay-2026-01-22-a1"
	ev, err := Decode(m.Data, m.Attributes)
	if err != nil || ev.Replay != "replay-2026-01-22-a1" || ev.WebhookID != goldenWebhookID {
		t.Fatalf("replayed: %+v, %v", ev, err)
	}
	r := httptest.NewRequest(http.MethodPost, "/push", bytes.NewReader(pushBody(t, m)))
	if ev, err := DecodePush(r); err != nil || ev.Replay != "replay-2026-01-22-a1" {
		t.Errorf("DecodePush replayed: %+v, %v", ev, err)
	}
	// HTTP binary mode (push with payload unwrapping and metadata headers).
	r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(m.Data))
	for k, v := range m.Attributes {
		r.Header.Set(k, v)
	}
	if ev, err := DecodePush(r); err != nil || ev.Replay != "replay-2026-01-22-a1" {
		t.Errorf("DecodePush HTTP binary replayed: %+v, %v", ev, err)
	}
	// The replay mark is not part of the event: the data is unchanged.
	again, err := ev.Message()
	if err != nil || !bytes.Equal(again.Data, m.Data) || again.Attributes[AttrReplay] != "" {
		t.Errorf("Message of a replayed event: %v, replay attribute %q; want the original data without the mark", err, again.Attributes[AttrReplay])
	}
}

func TestOrderingKeyOfEvent(t *testing.T) {
	_, m := parseDelivered(t, []byte(`{"type":"batch.succeeded","data":{"id":"batches/9"}}`))
	if m.OrderingKey != "batches/9" {
		t.Errorf("OrderingKey = %q, want the job id", m.OrderingKey)
	}
	if _, m := parseDelivered(t, []byte(`{"type":"batch.succeeded"}`)); m.OrderingKey != "" {
		t.Errorf("OrderingKey without a job id = %q, want none", m.OrderingKey)
	}
	if q := QuarantineMessage([]byte("x"), "id", "v1", nil, goldenReceivedAt); q.OrderingKey != "" {
		t.Errorf("quarantine OrderingKey = %q, want none", q.OrderingKey)
	}
	// Cut to Pub/Sub's limit at a UTF-8 boundary; two long ids stay apart
	// only by their first 1024 bytes, which is all Pub/Sub allows.
	long := strings.Repeat("é", 600) // 1200 bytes
	ev := Event{JobID: long}
	k := ev.OrderingKey()
	if len(k) > MaxOrderingKeyBytes || !utf8.ValidString(k) || !strings.HasPrefix(long, k) || len(k) < MaxOrderingKeyBytes-1 {
		t.Errorf("OrderingKey of a 1200-byte id: %d bytes, valid %v", len(k), utf8.ValidString(k))
	}
	if k := (Event{JobID: "a\xffb"}).OrderingKey(); k != "a\uFFFDb" {
		t.Errorf("OrderingKey of invalid UTF-8 = %q", k)
	}
}
