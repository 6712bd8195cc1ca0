// Package events turns a verified Gemini API webhook body into geminihook's
// published job event, maps it onto a Pub/Sub message (CloudEvents 1.0,
// binary content mode) and decodes that message again for consumers.
//
// The package uses the standard library only: no cloud SDK, no verifier.
// Adapters (internal/publish) copy a [Message] into their SDK's type.
//
// # Producer side (the webhook handler)
//
// After the signature has been verified:
//
//	ev, err := events.Parse(body)
//	if err != nil { // ErrMalformed, ErrNotObject or ErrTooLarge: authentic but unusable
//		m := events.QuarantineMessage(body, webhookID, scheme, err, now)
//		// publish m to the quarantine topic
//	}
//	ev.WebhookID, ev.Scheme, ev.ReceivedAt = webhookID, scheme, now
//	m, err := ev.Message() // err only for an Event whose fields were damaged after Parse
//	// publish m to the topic of ev.Kind
//
// Parse fills everything that comes from the body; the three delivery
// fields (WebhookID, Scheme, ReceivedAt) come from the request and are set
// by the caller. Parse is lenient: every JSON object is accepted, an
// unknown or missing type is kept as [KindUnknown] and the original
// envelope travels in the event, so nothing Gemini sent is lost.
//
// # Gemini types
//
// The nine documented types, and what Parse makes of them ([Classify]):
//
//	type                         kind         outcome          terminal
//	batch.succeeded              batch        succeeded        yes
//	batch.failed                 batch        failed           yes
//	batch.expired                batch        expired          yes
//	batch.cancelled              batch        cancelled        yes
//	interaction.requires_action  interaction  requires_action  no
//	interaction.completed        interaction  succeeded        yes
//	interaction.failed           interaction  failed           yes
//	interaction.cancelled        interaction  cancelled        yes
//	video.generated              video        succeeded        yes
//	anything else, or no type    unknown      unknown          no
//
// Outcomes are normalized across kinds, so that one subscription filter
// (attributes.outcome = "succeeded") sees every finished job:
// interaction.completed and video.generated both become "succeeded". The
// Gemini type itself is kept in [Event.Type] and the event_type attribute.
// A type not in the table (batch.paused, a ping, ...) is kind unknown even
// when its prefix looks familiar: its meaning is not documented.
//
// # Fields read from the envelope
//
//	Event field   read from (first present wins)
//	Type          type (string)
//	Version       version (string)
//	EventTime     timestamp (RFC 3339; stored in UTC; omitted when unparseable)
//	JobID         data.id (string, or a number kept as written)
//	OutputURI     data.output_file_uri, data.outputFileUri, data.video_uri, data.videoUri
//	FileName      data.file_name, data.fileName
//	ErrorCode     data.error_code, data.errorCode (string, or a number kept as written)
//	ErrorMessage  data.error_message, data.errorMessage
//	UserMetadata  data.user_metadata, data.userMetadata, user_metadata, userMetadata (any JSON but null, verbatim)
//	Envelope      the whole body, byte for byte (without surrounding whitespace)
//
// Keys are matched exactly (case-sensitive); for a repeated key the last one
// counts, as in encoding/json. Fields of the wrong JSON type are skipped;
// they, and every unknown field, stay in the envelope.
//
// # The published message
//
// Data is the event as JSON (schema version [SchemaVersion], JSON Schema in
// schema/event.v1.json, also returned by [JSONSchema]). Attributes:
//
//	ce-specversion  "1.0"
//	ce-id           Event.WebhookID (consumers dedupe on it)
//	ce-source       Source ("//generativelanguage.googleapis.com")
//	ce-type         CETypePrefix + Event.Type, or CETypeUntyped
//	ce-time         Event.EventTime (RFC 3339, UTC), when known
//	ce-subject      Event.JobID, when known
//	ce-dataschema   DataSchema
//	Content-Type    "application/json" (the datacontenttype)
//	event_type      Event.Type, when present
//	job_kind        Event.Kind
//	outcome         Event.Outcome
//	body_signed     "true" when the signature covered the body, "false" for a JWT
//	meta_<key>      user_metadata values lifted for filters (Event.MessageWith)
//	geminihook_replay  the replay run's id, on messages republished by `geminihook replay` only
//	geminihook-truncated  keys of the attributes above that were cut, comma-separated
//
// The ce-* attributes and Content-Type follow the CloudEvents Pub/Sub
// protocol binding (binary content mode), so CloudEvents SDKs read the
// message as an event with its data; the other attributes are plain Pub/Sub
// attributes for subscription filters, not CloudEvents extensions. An
// attribute with an empty value is left out. A value over Pub/Sub's
// 1024-byte limit is cut at a UTF-8 boundary, ends in [TruncationMarker] and
// is listed in geminihook-truncated; the full value is always in the data.
//
// [Message.OrderingKey] is the job id ([Event.OrderingKey]): with ordering
// on (GEMINIHOOK_ORDERING), an ordered subscription delivers one job's
// events in the order they were published.
//
// # Consumer side
//
// [Decode] reads a pulled message (data and attributes), [DecodePush] a
// push subscription's HTTP request (or an Eventarc delivery of the topic);
// both accept binary and structured (application/cloudevents+json)
// CloudEvents, and match the Content-Type attribute in any case. Delivery
// is at least once: dedupe on Event.WebhookID (the ce-id attribute). A
// message republished by `geminihook replay` keeps its ce-id and carries
// [AttrReplay] ([Event.Replay]), so dedup on the ce-id alone drops it and
// dedup on ce-id and replay run processes it again.
package events
