package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors of this package. Functions wrap them with %w and add context that
// never includes body content; test with errors.Is.
var (
	// ErrMalformed means the input is not JSON text: empty, a syntax
	// error, or not UTF-8.
	ErrMalformed = errors.New("events: malformed JSON")
	// ErrNotObject means the input is valid JSON but not an object.
	ErrNotObject = errors.New("events: JSON value is not an object")
	// ErrTooLarge means the input is over a size limit of this package
	// (MaxBodyBytes, MaxMessageBytes or MaxPushBytes).
	ErrTooLarge = errors.New("events: over size limit")
	// ErrInvalidEvent means an Event cannot be encoded: its Envelope or
	// UserMetadata is not valid JSON. Parse never produces such an Event.
	ErrInvalidEvent = errors.New("events: invalid event")
	// ErrSchemaVersion means decoded event data has no schema_version or
	// one this package does not know.
	ErrSchemaVersion = errors.New("events: unsupported schema version")
	// ErrQuarantined means the message is a quarantine message (see
	// QuarantineMessage): it holds a raw body, not an Event.
	ErrQuarantined = errors.New("events: quarantined delivery")
)

// MaxBodyBytes is the largest body Parse accepts. The event carries the
// envelope and copies of some of its values (never more bytes than the
// envelope itself), so twice this plus the attributes stays under
// Pub/Sub's 10 MB message limit. Gemini's payloads are a few hundred bytes.
const MaxBodyBytes = 4 << 20

// Event is geminihook's normalized job event: what Parse reads from a
// Gemini envelope plus the delivery facts the caller adds. Its JSON form
// (Message, MarshalJSON) follows schema version SchemaVersion; fields
// marked "omitted when empty" are absent from the JSON when zero.
//
// Build an Event with Parse (producer) or Decode (consumer). A zero Event
// encodes with "envelope":null, which the schema rejects.
type Event struct {
	// WebhookID is the webhook-id header of the delivery, set by the
	// caller. It is the CloudEvents id: consumers dedupe on it. JSON
	// cannot hold invalid UTF-8: such bytes are written as U+FFFD.
	WebhookID string `json:"webhook_id"`
	// Scheme names the signature scheme that verified the delivery
	// ("v1", "v1a" or "jwt"), set by the caller.
	Scheme string `json:"scheme"`
	// ReceivedAt is when the delivery arrived, set by the caller. It is
	// written in UTC with nanoseconds; Decode returns it in UTC.
	ReceivedAt time.Time `json:"received_at"`

	// Type is the Gemini event type as sent, "" when the envelope has no
	// string "type".
	Type string `json:"type"`
	// Kind and Outcome are Classify(Type); Terminal is Outcome.Terminal().
	Kind     Kind    `json:"kind"`
	Outcome  Outcome `json:"outcome"`
	Terminal bool    `json:"terminal"`

	// JobID is data.id: the batch, interaction or operation id (formats
	// vary: "batch_123", "batches/123"). Omitted when empty.
	JobID string `json:"job_id,omitempty"`
	// EventTime is the envelope timestamp in UTC; zero (and omitted) when
	// absent or not RFC 3339.
	EventTime time.Time `json:"event_time,omitzero"`
	// Version is the envelope version ("v1"). Omitted when empty.
	Version string `json:"version,omitempty"`
	// OutputURI is data.output_file_uri (older videos: data.video_uri).
	// Omitted when empty, as for inline batches.
	OutputURI string `json:"output_uri,omitempty"`
	// FileName is data.file_name (videos). Omitted when empty.
	FileName string `json:"file_name,omitempty"`
	// ErrorCode is data.error_code as a string: a JSON number is kept as
	// written ("13"). Omitted when empty.
	ErrorCode string `json:"error_code,omitempty"`
	// ErrorMessage is data.error_message. Omitted when empty.
	ErrorMessage string `json:"error_message,omitempty"`
	// UserMetadata is the webhook_config user_metadata echoed by Gemini,
	// verbatim (any JSON value); nil (and omitted) when absent or null.
	// From Parse it shares memory with Envelope, capacity capped so that
	// an append cannot write into the envelope.
	UserMetadata json.RawMessage `json:"user_metadata,omitempty"`
	// Metadata holds the user_metadata values that the publisher lifted
	// into attributes (AttrMetadataPrefix + key) for subscription filters,
	// keyed without the prefix; set by Decode and DecodePush from the
	// attributes, nil when there are none. It is not part of the JSON.
	Metadata map[string]string `json:"-"`
	// Replay is the run id of `geminihook replay` when the message is a
	// replay of an earlier publish (attribute AttrReplay), "" for the
	// original. Set by Decode and DecodePush; not part of the JSON. A
	// replay carries the original WebhookID: dedupe on WebhookID alone to
	// ignore replays, on WebhookID and Replay to process each replay run
	// once.
	Replay string `json:"-"`
	// TraceParent and TraceState are the W3C trace context of the delivery
	// that published the event (attributes ce-traceparent, ce-tracestate),
	// set by Decode and DecodePush; "" when the delivery was not traced. A
	// consumer continues the trace with them, e.g.
	// propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{
	// "traceparent": ev.TraceParent, "tracestate": ev.TraceState}).
	TraceParent string `json:"-"`
	TraceState  string `json:"-"`
	// Envelope is the body as received, byte for byte, minus any
	// whitespace around the JSON object.
	Envelope json.RawMessage `json:"envelope"`
}

// Parse reads a Gemini webhook body leniently into an Event with kind,
// outcome and the fields listed in the package documentation. Any JSON
// object is accepted: an unknown or missing type gives KindUnknown, a
// missing or non-object data gives empty job fields. The delivery fields
// (WebhookID, Scheme, ReceivedAt) are left zero for the caller to set.
// The Event does not share memory with body.
//
// Errors: ErrTooLarge (over MaxBodyBytes), ErrMalformed (empty, not UTF-8,
// not JSON), ErrNotObject (JSON, but not an object). The caller should
// quarantine such a body (QuarantineMessage) rather than drop it.
func Parse(body []byte) (*Event, error) {
	ev := new(Event)
	if err := parse(ev, body, nil); err != nil {
		return nil, err
	}
	return ev, nil
}

// parse is Parse into ev. With keep, it also keeps there a copy of what
// it validated, in the same allocation as the Event's copy of the body
// (see Validated).
func parse(ev *Event, body []byte, keep *validated) error {
	if len(body) > MaxBodyBytes {
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(body), MaxBodyBytes)
	}
	env := trimSpace(body)
	if err := checkObject(env); err != nil {
		return err
	}
	// One validating pass (checkObject), then a plain scan of the members
	// of the two objects we read: no reflection, no maps, and values are
	// sub-slices of the envelope copy.
	// The Event's copy of the body; with keep, a second copy after it in
	// the same array.
	n := len(env)
	var buf []byte
	if keep != nil {
		buf = make([]byte, 2*n)
		copy(buf[n:], env)
		copy(buf, env)
	} else {
		buf = bytes.Clone(env)
	}
	env = buf[:n:n]
	var top [len(topKeys)]span
	memberSpans(env, topKeys[:], top[:])
	var data [len(dataKeys)]span
	if d := top[topData]; d.present() && env[d.start] == '{' {
		memberSpans(env[d.start:d.end], dataKeys[:], data[:])
		for i := range data {
			if data[i].present() {
				data[i].start += d.start
				data[i].end += d.start
			}
		}
	}
	str := func(sp span) string { return jsonString(sp.of(env)) }
	scalar := func(sp span) string { return jsonScalar(sp.of(env)) }
	first := func(sps ...span) string { // the first non-empty string
		for _, sp := range sps {
			if s := str(sp); s != "" {
				return s
			}
		}
		return ""
	}

	*ev = Event{
		Type:     str(top[topType]),
		Version:  str(top[topVersion]),
		Envelope: env,
	}
	ev.Kind, ev.Outcome = Classify(ev.Type)
	ev.Terminal = ev.Outcome.Terminal()
	ev.EventTime = parseTime(str(top[topTimestamp]))
	ev.JobID = scalar(data[dataID])
	ev.OutputURI = first(data[dataOutputFileURI], data[dataOutputFileURICamel], data[dataVideoURI], data[dataVideoURICamel])
	ev.FileName = first(data[dataFileName], data[dataFileNameCamel])
	ev.ErrorCode = cmp.Or(scalar(data[dataErrorCode]), scalar(data[dataErrorCodeCamel]))
	ev.ErrorMessage = first(data[dataErrorMessage], data[dataErrorMessageCamel])
	md := firstSpan(env, data[dataUserMetadata], data[dataUserMetadataCamel], top[topUserMetadata], top[topUserMetadataCamel])
	ev.UserMetadata = md.of(env)
	if keep != nil {
		// What checkObject validated, where the caller cannot reach it:
		// the second copy.
		private := buf[n : 2*n : 2*n]
		keep.env, keep.md = private, md.of(private)
	}
	return nil
}

// The members Parse reads, per level, and their indexes.
var (
	topKeys  = [...]string{"type", "version", "timestamp", "data", "user_metadata", "userMetadata"}
	dataKeys = [...]string{"id", "output_file_uri", "outputFileUri", "video_uri", "videoUri", "file_name", "fileName",
		"error_code", "errorCode", "error_message", "errorMessage", "user_metadata", "userMetadata"}
)

const (
	topType = iota
	topVersion
	topTimestamp
	topData
	topUserMetadata
	topUserMetadataCamel
)

const (
	dataID = iota
	dataOutputFileURI
	dataOutputFileURICamel
	dataVideoURI
	dataVideoURICamel
	dataFileName
	dataFileNameCamel
	dataErrorCode
	dataErrorCodeCamel
	dataErrorMessage
	dataErrorMessageCamel
	dataUserMetadata
	dataUserMetadataCamel
)

// parseTime reads an RFC 3339 timestamp into UTC. It returns the zero
// time for anything else, and for instants whose UTC year has no RFC 3339
// form, so that every EventTime can be written and read back.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	if t = t.UTC(); !writableYear(t) {
		return time.Time{}
	}
	return t
}

// writableYear reports whether t (in UTC) has an RFC 3339 form.
func writableYear(t time.Time) bool { return t.Year() >= 0 && t.Year() <= 9999 }
