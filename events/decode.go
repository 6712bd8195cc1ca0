package events

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxPushBytes bounds the request body DecodePush reads: a push envelope
// carries the data base64-encoded (4/3 of MaxMessageBytes) plus the
// attributes and a little metadata.
const MaxPushBytes = 16 << 20

// Decode returns the Event in a message pulled from a subscription. With
// a Content-Type attribute (matched in any case: "Content-Type" as the
// CloudEvents Pub/Sub binding writes it, "content-type" as geminihook
// wrote it before) of application/cloudevents+json, the data is a
// structured-mode CloudEvent whose "data" (or "data_base64") holds the
// event; so is a message with no Content-Type and no ce-specversion
// attribute whose data is a JSON object with a "specversion" member and no
// "schema_version" (what a producer that leaves the attribute out
// publishes). Otherwise (binary mode, as geminihook publishes) data is the
// event itself. Attributes are not needed otherwise: the data is complete,
// and attributes may be cut (AttrTruncated). Event.Metadata,
// Event.TraceParent, Event.TraceState and Event.Replay come from the
// attributes.
//
// Errors: ErrQuarantined for a QuarantineMessage (the error text holds the
// quarantine reason), ErrMalformed, ErrNotObject, ErrSchemaVersion.
func Decode(data []byte, attributes map[string]string) (*Event, error) {
	if attributes[AttrType] == CETypeQuarantine {
		return nil, fmt.Errorf("%w: %s", ErrQuarantined, attributes[AttrReason])
	}
	var ev *Event
	var err error
	ct, hasCT := attribute(attributes, AttrContentType)
	if isStructured(ct) || (!hasCT && attributes[AttrSpecVersion] == "" && looksStructured(data)) {
		ev, err = decodeStructured(data)
	} else {
		ev, err = decodeEvent(data)
	}
	if err != nil {
		return nil, err
	}
	ev.Metadata = metadataAttributes(attributes)
	if tp := attributes[AttrTraceParent]; tp != "" { // else structured mode's own, if any
		ev.TraceParent, ev.TraceState = tp, attributes[AttrTraceState]
	}
	ev.Replay = attributes[AttrReplay]
	return ev, nil
}

// attribute returns the value of the attribute key matched in any case:
// the exact key when present, else the first matching key in byte order,
// so that the answer does not depend on map order.
func attribute(attributes map[string]string, key string) (string, bool) {
	if v, ok := attributes[key]; ok {
		return v, true
	}
	found, value := "", ""
	for k, v := range attributes {
		if strings.EqualFold(k, key) && (found == "" || k < found) {
			found, value = k, v
		}
	}
	return value, found != ""
}

// looksStructured reports whether data is a JSON object in the
// CloudEvents JSON format rather than an event: a "specversion" member and
// no "schema_version".
func looksStructured(data []byte) bool {
	b := trimSpace(data)
	if len(b) == 0 || b[0] != '{' || checkObject(b) != nil {
		return false
	}
	var vals [2][]byte
	readMembers(b, structuredSniffKeys[:], vals[:])
	return vals[0] != nil && vals[1] == nil
}

var structuredSniffKeys = [...]string{"specversion", "schema_version"}

// DecodePush returns the Event in an HTTP request from a Pub/Sub push
// subscription: the JSON push envelope
//
//	{"message":{"data":"<base64>","attributes":{...},"messageId":"...","publishTime":"..."},"subscription":"..."}
//
// whose message is read as by Decode. It also accepts a request whose
// Content-Type is application/cloudevents+json (a structured-mode
// CloudEvent), and any other body as the event itself with ce-* headers as
// attributes (HTTP binary mode, or a push subscription with payload
// unwrapping). It reads at most MaxPushBytes and does not close r.Body.
//
// Errors: as Decode, plus ErrTooLarge, and a read error from r.Body.
func DecodePush(r *http.Request) (*Event, error) {
	if r.ContentLength > MaxPushBytes {
		return nil, fmt.Errorf("%w: push body of %d bytes, limit %d", ErrTooLarge, r.ContentLength, MaxPushBytes)
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, MaxPushBytes+1)); err != nil {
			return nil, fmt.Errorf("events: reading push body: %w", err)
		}
	}
	if len(body) > MaxPushBytes {
		return nil, fmt.Errorf("%w: push body over %d bytes", ErrTooLarge, MaxPushBytes)
	}
	if isStructured(r.Header.Get("Content-Type")) {
		return decodeStructured(body)
	}
	b := trimSpace(body)
	if err := checkObject(b); err != nil {
		return nil, err
	}
	var push struct {
		Message *struct {
			Data       []byte            `json:"data"`
			Attributes map[string]string `json:"attributes"`
		} `json:"message"`
	}
	if err := json.Unmarshal(b, &push); err != nil {
		return nil, malformed(err)
	}
	if push.Message != nil {
		return Decode(push.Message.Data, push.Message.Attributes)
	}
	attrs := map[string]string{}
	for k, v := range r.Header {
		if k = strings.ToLower(k); (strings.HasPrefix(k, "ce-") || k == contentTypeHeader || k == AttrReplay) && len(v) > 0 {
			attrs[k] = v[0]
		}
	}
	return Decode(b, attrs)
}

// contentTypeHeader is the Content-Type header as DecodePush keys it.
const contentTypeHeader = "content-type"

// isStructured reports whether a content type names the CloudEvents JSON
// event format (parameters such as charset are ignored).
func isStructured(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == StructuredContentType
}

// decodeStructured reads a CloudEvent in the JSON event format and
// decodes its data.
func decodeStructured(b []byte) (*Event, error) {
	b = trimSpace(b)
	if err := checkObject(b); err != nil {
		return nil, err
	}
	var ce struct {
		Type       string          `json:"type"`
		Data       json.RawMessage `json:"data"`
		DataBase64 *string         `json:"data_base64"`
		Reason     string          `json:"quarantine_reason"`
		// The distributed tracing extension, a member in this format.
		TraceParent json.RawMessage `json:"traceparent"`
		TraceState  json.RawMessage `json:"tracestate"`
	}
	if err := json.Unmarshal(b, &ce); err != nil {
		return nil, malformed(err)
	}
	var ev *Event
	var err error
	switch {
	case ce.Type == CETypeQuarantine:
		return nil, fmt.Errorf("%w: %s", ErrQuarantined, ce.Reason)
	case ce.DataBase64 != nil:
		data, derr := base64.StdEncoding.DecodeString(*ce.DataBase64)
		if derr != nil {
			return nil, fmt.Errorf("%w: data_base64 is not base64", ErrMalformed)
		}
		ev, err = decodeEvent(data)
	case len(ce.Data) > 0 && ce.Data[0] == '"':
		// Some producers put JSON data in a string.
		ev, err = decodeEvent([]byte(jsonString(ce.Data)))
	case len(ce.Data) == 0:
		return nil, fmt.Errorf("%w: CloudEvent without data", ErrMalformed)
	default:
		ev, err = decodeEvent(ce.Data)
	}
	if err != nil {
		return nil, err
	}
	if tp := jsonString(ce.TraceParent); tp != "" {
		ev.TraceParent, ev.TraceState = tp, jsonString(ce.TraceState)
	}
	return ev, nil
}

func decodeEvent(data []byte) (*Event, error) {
	b := trimSpace(data)
	if err := checkObject(b); err != nil {
		return nil, err
	}
	ev := new(Event)
	if err := ev.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return ev, nil
}

// UnmarshalJSON reads event JSON as written by AppendJSON. Unknown fields
// are ignored (later additive changes of schema version 1); times are
// returned in UTC (an instant whose UTC year is not 0–9999 is
// ErrMalformed); a null user_metadata or envelope becomes nil.
//
// Errors: ErrSchemaVersion when schema_version is absent or not
// SchemaVersion, ErrMalformed when a field has the wrong JSON type.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event // no methods: no recursion
	var ev Event
	w := struct {
		SchemaVersion *string `json:"schema_version"`
		*plain
	}{plain: (*plain)(&ev)}
	if err := json.Unmarshal(b, &w); err != nil {
		if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return fmt.Errorf("%w: field %q has the wrong type", ErrMalformed, ute.Field)
		}
		return malformed(err)
	}
	switch {
	case w.SchemaVersion == nil:
		return fmt.Errorf("%w: no schema_version", ErrSchemaVersion)
	case *w.SchemaVersion != SchemaVersion:
		return fmt.Errorf("%w: %.16q", ErrSchemaVersion, *w.SchemaVersion)
	}
	ev.ReceivedAt, ev.EventTime = ev.ReceivedAt.UTC(), ev.EventTime.UTC()
	if !writableYear(ev.ReceivedAt) || !writableYear(ev.EventTime) {
		// RFC 3339 has no form for it: the event could not be written again.
		return fmt.Errorf("%w: time out of range", ErrMalformed)
	}
	if string(ev.UserMetadata) == "null" {
		ev.UserMetadata = nil
	}
	if string(ev.Envelope) == "null" {
		ev.Envelope = nil
	}
	*e = ev
	return nil
}
