package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the value of "schema_version" in every event this
// package writes, and the only one Decode accepts. Additive changes keep
// it; anything else gets a new version and a new schema file.
const SchemaVersion = "1"

// CloudEvents context values of a published event.
const (
	// SpecVersion is the CloudEvents version (ce-specversion).
	SpecVersion = "1.0"
	// Source is ce-source: the service that produced the occurrence,
	// written in Google's "//service.googleapis.com" resource-name style.
	Source = "//generativelanguage.googleapis.com"
	// CETypePrefix, a reverse-DNS prefix geminihook owns, followed by the
	// Gemini type forms ce-type: "dev.geminihook.gemini.batch.succeeded".
	CETypePrefix = "dev.geminihook.gemini."
	// CETypeUntyped is ce-type for an envelope without a string "type".
	// It sits outside CETypePrefix, so no Gemini type can collide with it.
	CETypeUntyped = "dev.geminihook.untyped"
	// CETypeQuarantine is ce-type of a QuarantineMessage.
	CETypeQuarantine = "dev.geminihook.quarantined"
	// DataSchema is ce-dataschema: the $id of schema/event.v1.json.
	DataSchema = "https://github.com/geminihook/geminihook/blob/main/events/schema/event.v1.json"
	// ContentType is the Content-Type attribute of an event's data (the
	// CloudEvents datacontenttype).
	ContentType = "application/json"
	// QuarantineContentType is the Content-Type of a quarantined body.
	QuarantineContentType = "application/octet-stream"
	// StructuredContentType is the Content-Type attribute of a message in
	// CloudEvents structured content mode (the JSON event format), which
	// Decode and DecodePush accept. geminihook itself publishes in binary
	// mode.
	StructuredContentType = "application/cloudevents+json"
)

// Attribute keys of published messages.
const (
	AttrSpecVersion = "ce-specversion"
	AttrID          = "ce-id"
	AttrSource      = "ce-source"
	AttrType        = "ce-type"
	AttrTime        = "ce-time"
	AttrSubject     = "ce-subject"
	AttrDataSchema  = "ce-dataschema"
	// AttrContentType is spelled as the CloudEvents Pub/Sub protocol
	// binding names it ("Content-Type", the datacontenttype in binary mode
	// and the event format in structured mode). Pub/Sub attribute keys are
	// case-sensitive: Decode matches this one in any case, so messages of
	// older releases (which wrote "content-type") still decode.
	AttrContentType = "Content-Type"
	AttrEventType   = "event_type"
	AttrJobKind     = "job_kind"
	AttrOutcome     = "outcome"
	AttrTruncated   = "geminihook-truncated"  // keys (and "data") cut to fit, comma-separated
	AttrReason      = "quarantine_reason"     // quarantine: why Parse refused the body
	AttrScheme      = "scheme"                // quarantine: the signature scheme
	AttrBodySigned  = "body_signed"           // "true" when the signature covered the body (v1, v1a), "false" for jwt
	AttrTraceParent = "ce-traceparent"        // W3C traceparent of the delivery's trace (CloudEvents distributed tracing)
	AttrTraceState  = "ce-tracestate"         // W3C tracestate, when the trace has one
	AttrBodyBytes   = "geminihook-body-bytes" // quarantine: length of the body as received
	AttrEmptyBody   = "geminihook-empty-body" // quarantine: "true" when data is EmptyBodyPlaceholder
	// AttrReplay marks a message republished by `geminihook replay`: its
	// value is the replay run's id. The message keeps the ce-id of the
	// original, so a consumer that dedupes on ce-id drops it; one that wants
	// to process it again keys its dedup on ce-id and this value (see
	// Event.Replay). Subscription filters can exclude replays with
	// NOT attributes:geminihook_replay.
	AttrReplay       = "geminihook_replay"
	truncatedKeyData = "data"
)

// Pub/Sub message limits (cloud.google.com/pubsub/quotas, resource limits).
// MaxMessageBytes counts data plus every attribute key and value.
const (
	MaxMessageBytes        = 10_000_000
	MaxAttributes          = 100
	MaxAttributeKeyBytes   = 256
	MaxAttributeValueBytes = 1024
	MaxOrderingKeyBytes    = 1024
)

// TruncationMarker ends an attribute value that was cut to
// MaxAttributeValueBytes. The authoritative signal is AttrTruncated.
const TruncationMarker = "…"

// MaxQuarantineDataBytes is the most of a body a QuarantineMessage
// carries; the rest of MaxMessageBytes is left for its attributes.
const MaxQuarantineDataBytes = MaxMessageBytes - 64<<10

// EmptyBodyPlaceholder is the data of a QuarantineMessage for an empty
// body, because Pub/Sub rejects a message without data here.
const EmptyBodyPlaceholder = "geminihook: empty body"

// Message returns e as a Pub/Sub message: data is the event JSON
// (AppendJSON), attributes as listed in the package documentation, every
// one within Pub/Sub's limits. Data holds the envelope byte for byte.
//
// Errors: ErrInvalidEvent when Envelope or UserMetadata is not valid JSON,
// ErrTooLarge when the message would exceed MaxMessageBytes (only possible
// with a huge WebhookID or fields set by hand).
func (e Event) Message() (Message, error) { return e.message(nil) }

// message is Message; v, when not nil, is what Parse validated.
func (e Event) message(v *validated) (Message, error) {
	data, err := e.appendJSON(make([]byte, 0, e.sizeHint()), v)
	if err != nil {
		return Message{}, err
	}
	attrs := e.Attributes()
	if n := messageSize(data, attrs); n > MaxMessageBytes {
		return Message{}, fmt.Errorf("%w: message of %d bytes, limit %d", ErrTooLarge, n, MaxMessageBytes)
	}
	return Message{Data: data, Attributes: attrs, OrderingKey: e.OrderingKey()}, nil
}

// OrderingKey is the Pub/Sub ordering key of e: its JobID (valid UTF-8,
// cut at a UTF-8 boundary to MaxOrderingKeyBytes), so that the events of
// one job keep their publish order on an ordered subscription; "" when the
// job is unknown. Whether a publisher sets it is the publisher's choice
// (GEMINIHOOK_ORDERING).
func (e Event) OrderingKey() string {
	if e.JobID == "" {
		return ""
	}
	return cut(validUTF8(e.JobID), MaxOrderingKeyBytes)
}

// Attributes returns the Pub/Sub attributes of e (see the package
// documentation): CloudEvents binary-mode context plus event_type,
// job_kind and outcome for subscription filters. Empty values are left
// out; over-long values are cut and listed under AttrTruncated.
func (e Event) Attributes() map[string]string {
	a := attrSet{m: make(map[string]string, 12)}
	a.set(AttrSpecVersion, SpecVersion)
	a.set(AttrID, e.WebhookID)
	a.set(AttrSource, Source)
	if e.Type != "" {
		a.set(AttrType, CETypePrefix+e.Type)
	} else {
		a.set(AttrType, CETypeUntyped)
	}
	if !e.EventTime.IsZero() {
		a.set(AttrTime, formatTime(e.EventTime))
	}
	a.set(AttrSubject, e.JobID)
	a.set(AttrDataSchema, DataSchema)
	a.set(AttrContentType, ContentType)
	a.set(AttrEventType, e.Type)
	a.set(AttrJobKind, string(e.Kind))
	a.set(AttrOutcome, string(e.Outcome))
	a.set(AttrBodySigned, bodySignedAttr(e.Scheme))
	a.finish()
	return a.m
}

// QuarantineMessage builds the message for an authentic body that Parse
// refused (reason is Parse's error). Data is the body unchanged; it is
// EmptyBodyPlaceholder when the body is empty (AttrEmptyBody "true"), and
// cut to MaxQuarantineDataBytes when longer (AttrTruncated lists "data").
// AttrBodyBytes always gives the length as received. Attributes carry the
// CloudEvents context (ce-type CETypeQuarantine, ce-time = receivedAt,
// when non-zero), the scheme and the reason (nil: "unspecified"). Data
// shares memory with body.
func QuarantineMessage(body []byte, webhookID, scheme string, reason error, receivedAt time.Time) Message {
	a := attrSet{m: make(map[string]string, 12)}
	data := body
	switch {
	case len(body) == 0:
		data = []byte(EmptyBodyPlaceholder)
		a.set(AttrEmptyBody, "true")
	case len(body) > MaxQuarantineDataBytes:
		data = body[:MaxQuarantineDataBytes]
		a.truncated = append(a.truncated, truncatedKeyData)
	}
	a.set(AttrSpecVersion, SpecVersion)
	a.set(AttrID, webhookID)
	a.set(AttrSource, Source)
	a.set(AttrType, CETypeQuarantine)
	if !receivedAt.IsZero() {
		a.set(AttrTime, formatTime(receivedAt))
	}
	a.set(AttrContentType, QuarantineContentType)
	a.set(AttrScheme, scheme)
	a.set(AttrBodySigned, bodySignedAttr(scheme))
	why := "unspecified"
	if reason != nil {
		why = reason.Error()
	}
	a.set(AttrReason, why)
	a.set(AttrBodyBytes, strconv.Itoa(len(body)))
	a.finish()
	return Message{Data: data, Attributes: a.m}
}

// BodySigned reports whether the scheme that verified the delivery signs
// the body: "v1" (HMAC) and "v1a" (Ed25519) sign webhook-id, timestamp and
// body; a "jwt" signs only its claims, so its body is authentic only as far
// as the receiver's single-use rule for tokens goes. Consumers that demand a
// body-signed event filter on the body_signed attribute.
func (e Event) BodySigned() bool { return SchemeSignsBody(e.Scheme) }

// SchemeSignsBody reports whether a delivery verified by scheme had its
// body signed ("v1", "v1a").
func SchemeSignsBody(scheme string) bool { return scheme == "v1" || scheme == "v1a" }

// bodySignedAttr is the body_signed attribute of scheme, "" (left out) when
// the scheme is unknown.
func bodySignedAttr(scheme string) string {
	switch {
	case scheme == "":
		return ""
	case SchemeSignsBody(scheme):
		return "true"
	}
	return "false"
}

// attrSet builds attributes within Pub/Sub's limits. Keys are this
// package's constants, all short.
type attrSet struct {
	m         map[string]string
	truncated []string
}

func (a *attrSet) set(key, value string) {
	if value == "" {
		return
	}
	value = validUTF8(value)
	if len(value) > MaxAttributeValueBytes {
		value = cut(value, MaxAttributeValueBytes-len(TruncationMarker)) + TruncationMarker
		a.truncated = append(a.truncated, key)
	}
	a.m[key] = value
}

func (a *attrSet) finish() {
	if len(a.truncated) > 0 {
		// At most a dozen short keys: far under the value limit.
		a.m[AttrTruncated] = strings.Join(a.truncated, ",")
	}
}

// cut returns the longest prefix of s of at most n bytes that ends on a
// UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// validUTF8 replaces each byte of an invalid UTF-8 sequence with U+FFFD,
// as the JSON encoder does, so that attributes equal the data's fields.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func messageSize(data []byte, attrs map[string]string) int {
	n := len(data)
	for k, v := range attrs {
		n += len(k) + len(v)
	}
	return n
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MarshalJSON writes e as AppendJSON does. Note that encoding/json
// compacts (and HTML-escapes) what a MarshalJSON returns, so json.Marshal
// of an Event does not keep the envelope's bytes; Message does.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, e.sizeHint()))
}

// AppendJSON appends the event JSON of e (schema version SchemaVersion)
// to dst. Envelope and UserMetadata are copied byte for byte; strings are
// escaped minimally (no HTML escaping; invalid UTF-8 becomes U+FFFD);
// times are RFC 3339 in UTC. Error: ErrInvalidEvent when Envelope or
// UserMetadata is not valid JSON (a nil Envelope is written as null).
func (e Event) AppendJSON(dst []byte) ([]byte, error) { return e.appendJSON(dst, nil) }

// appendJSON is AppendJSON; v, when not nil, is what Parse validated: a
// field whose bytes equal it is not validated again.
func (e Event) appendJSON(dst []byte, v *validated) ([]byte, error) {
	if len(e.Envelope) > 0 && !v.vouches(e.Envelope, v.envelope()) && !json.Valid(e.Envelope) {
		return dst, fmt.Errorf("%w: envelope is not valid JSON", ErrInvalidEvent)
	}
	if len(e.UserMetadata) > 0 && !v.vouches(e.UserMetadata, v.userMetadata()) && !json.Valid(e.UserMetadata) {
		return dst, fmt.Errorf("%w: user_metadata is not valid JSON", ErrInvalidEvent)
	}
	b := append(dst, `{"schema_version":"`+SchemaVersion+`","webhook_id":`...)
	b = appendString(b, e.WebhookID)
	b = append(b, `,"scheme":`...)
	b = appendString(b, e.Scheme)
	b = append(b, `,"received_at":"`...)
	b = e.ReceivedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"outcome":`...)
	b = appendString(b, string(e.Outcome))
	b = append(b, `,"terminal":`...)
	b = strconv.AppendBool(b, e.Terminal)
	b = appendField(b, "job_id", e.JobID)
	if !e.EventTime.IsZero() {
		b = append(b, `,"event_time":"`...)
		b = e.EventTime.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendField(b, "version", e.Version)
	b = appendField(b, "output_uri", e.OutputURI)
	b = appendField(b, "file_name", e.FileName)
	b = appendField(b, "error_code", e.ErrorCode)
	b = appendField(b, "error_message", e.ErrorMessage)
	if len(e.UserMetadata) > 0 {
		b = append(b, `,"user_metadata":`...)
		b = append(b, trimSpace(e.UserMetadata)...)
	}
	b = append(b, `,"envelope":`...)
	if env := trimSpace(e.Envelope); len(env) > 0 {
		b = append(b, env...)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}'), nil
}

// sizeHint is an upper bound of the JSON length for ordinary events, to
// allocate once.
func (e Event) sizeHint() int {
	n := 320 + len(e.Envelope) + len(e.UserMetadata)
	for _, s := range [...]string{e.WebhookID, e.Scheme, e.Type, e.JobID, e.Version, e.OutputURI, e.FileName, e.ErrorCode, e.ErrorMessage} {
		n += len(s) + len(s)/8
	}
	return n
}

func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Only what JSON requires is
// escaped, so the result is never longer than the string's escaped form in
// any valid JSON input (which keeps an event within twice its envelope).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
