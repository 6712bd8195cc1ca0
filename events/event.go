package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
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

// Outcome is how a job ended, normalized across kinds (see the package
// documentation for the table). It is the value of the outcome attribute.
type Outcome string

// The outcomes. OutcomeRequiresAction is the one non-terminal outcome of a
// known type: the job waits for the caller and will send another event.
const (
	OutcomeSucceeded      Outcome = "succeeded"
	OutcomeFailed         Outcome = "failed"
	OutcomeExpired        Outcome = "expired"
	OutcomeCancelled      Outcome = "cancelled"
	OutcomeRequiresAction Outcome = "requires_action"
	OutcomeUnknown        Outcome = "unknown"
)

// Terminal reports whether no further event is expected for the job:
// true for succeeded, failed, expired and cancelled; false for
// requires_action, unknown and any other value.
func (o Outcome) Terminal() bool {
	switch o {
	case OutcomeSucceeded, OutcomeFailed, OutcomeExpired, OutcomeCancelled:
		return true
	}
	return false
}

// The Gemini webhook event types documented by Google (GEMINI-WEBHOOKS.md
// §4). Gemini may send others; they are kept as KindUnknown.
const (
	TypeBatchSucceeded            = "batch.succeeded"
	TypeBatchFailed               = "batch.failed"
	TypeBatchExpired              = "batch.expired"
	TypeBatchCancelled            = "batch.cancelled"
	TypeInteractionRequiresAction = "interaction.requires_action"
	TypeInteractionCompleted      = "interaction.completed"
	TypeInteractionFailed         = "interaction.failed"
	TypeInteractionCancelled      = "interaction.cancelled"
	TypeVideoGenerated            = "video.generated"
)

type class struct {
	kind    Kind
	outcome Outcome
}

var classes = map[string]class{
	TypeBatchSucceeded:            {KindBatch, OutcomeSucceeded},
	TypeBatchFailed:               {KindBatch, OutcomeFailed},
	TypeBatchExpired:              {KindBatch, OutcomeExpired},
	TypeBatchCancelled:            {KindBatch, OutcomeCancelled},
	TypeInteractionRequiresAction: {KindInteraction, OutcomeRequiresAction},
	TypeInteractionCompleted:      {KindInteraction, OutcomeSucceeded},
	TypeInteractionFailed:         {KindInteraction, OutcomeFailed},
	TypeInteractionCancelled:      {KindInteraction, OutcomeCancelled},
	TypeVideoGenerated:            {KindVideo, OutcomeSucceeded},
}

// DocumentedTypes returns the nine documented Gemini event types in the
// order of Google's documentation, as a new slice.
func DocumentedTypes() []string {
	return []string{
		TypeBatchSucceeded, TypeBatchFailed, TypeBatchExpired, TypeBatchCancelled,
		TypeInteractionRequiresAction, TypeInteractionCompleted, TypeInteractionFailed,
		TypeInteractionCancelled, TypeVideoGenerated,
	}
}

// Classify returns the kind and outcome of a Gemini event type, by exact
// match against the documented types; anything else, including "", is
// (KindUnknown, OutcomeUnknown). Whether the outcome is terminal is
// outcome.Terminal().
func Classify(geminiType string) (Kind, Outcome) {
	if c, ok := classes[geminiType]; ok {
		return c.kind, c.outcome
	}
	return KindUnknown, OutcomeUnknown
}

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
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(body), MaxBodyBytes)
	}
	env := trimSpace(body)
	if err := checkObject(env); err != nil {
		return nil, err
	}
	// One validating pass (checkObject), then a plain scan of the members
	// of the two objects we read: no reflection, no maps, and values are
	// sub-slices of the envelope copy.
	env = bytes.Clone(env)
	var top [len(topKeys)][]byte
	readMembers(env, topKeys[:], top[:])
	var data [len(dataKeys)][]byte
	if d := top[topData]; len(d) > 0 && d[0] == '{' {
		readMembers(d, dataKeys[:], data[:])
	}

	ev := &Event{
		Type:     jsonString(top[topType]),
		Version:  jsonString(top[topVersion]),
		Envelope: env,
	}
	ev.Kind, ev.Outcome = Classify(ev.Type)
	ev.Terminal = ev.Outcome.Terminal()
	ev.EventTime = parseTime(jsonString(top[topTimestamp]))
	ev.JobID = jsonScalar(data[dataID])
	ev.OutputURI = firstString(data[dataOutputFileURI], data[dataOutputFileURICamel], data[dataVideoURI], data[dataVideoURICamel])
	ev.FileName = firstString(data[dataFileName], data[dataFileNameCamel])
	if ev.ErrorCode = jsonScalar(data[dataErrorCode]); ev.ErrorCode == "" {
		ev.ErrorCode = jsonScalar(data[dataErrorCodeCamel])
	}
	ev.ErrorMessage = firstString(data[dataErrorMessage], data[dataErrorMessageCamel])
	ev.UserMetadata = firstValue(data[dataUserMetadata], data[dataUserMetadataCamel], top[topUserMetadata], top[topUserMetadataCamel])
	return ev, nil
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

// readMembers sets vals[i] to the raw value of member keys[i] of obj, a
// valid JSON object (the last one when a key repeats, as encoding/json
// does). Values are capped sub-slices of obj.
func readMembers(obj []byte, keys []string, vals [][]byte) {
	i := 1 // after '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		k := i
		i = skipString(obj, i)
		key := obj[k:i]
		i = skipSpace(obj, skipSpace(obj, i)+1) // the ':'
		v := i
		i = skipValue(obj, i)
		if n := keyIndex(key, keys); n >= 0 {
			vals[n] = obj[v:i:i]
		}
	}
}

// keyIndex returns the index of the JSON string raw in keys, or -1.
func keyIndex(raw []byte, keys []string) int {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		inner = []byte(jsonString(raw)) // rare: an escaped key
	}
	for i, k := range keys {
		if string(inner) == k {
			return i
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
		i++ // number, true, false, null
	}
	return i
}

// checkObject classifies b (already trimmed) as an object or an error.
func checkObject(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: empty", ErrMalformed)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: not UTF-8", ErrMalformed)
	case b[0] == '{' && json.Valid(b):
		return nil
	case b[0] != '{' && json.Valid(b):
		return fmt.Errorf("%w: %s", ErrNotObject, jsonKind(b[0]))
	default:
		return malformed(json.Unmarshal(b, new(json.RawMessage)))
	}
}

// malformed wraps a decoding error without its text, which may quote body
// bytes.
func malformed(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("%w: syntax error at byte %d", ErrMalformed, se.Offset)
	}
	return fmt.Errorf("%w: cannot decode", ErrMalformed)
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// trimSpace removes JSON whitespace around b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jsonString returns the value of a JSON string, "" for anything else.
// raw comes from a decoded document, so it is valid JSON and UTF-8.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			_ = json.Unmarshal(raw, &s) // cannot fail: a valid JSON string
			return s
		}
	}
	return string(inner)
}

// jsonScalar is jsonString, but keeps a JSON number as written.
func jsonScalar(raw []byte) string {
	if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return jsonString(raw)
}

// firstString returns the first non-empty string among raw values.
func firstString(raws ...[]byte) string {
	for _, r := range raws {
		if s := jsonString(r); s != "" {
			return s
		}
	}
	return ""
}

// firstValue returns the first present, non-null value.
func firstValue(raws ...[]byte) json.RawMessage {
	for _, r := range raws {
		if len(r) > 0 && string(r) != "null" {
			return r
		}
	}
	return nil
}

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
