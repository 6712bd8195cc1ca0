package events

// Message is a Pub/Sub message as geminihook publishes it, independent of
// any Pub/Sub SDK: the adapter in internal/publish copies it field by field.
// Messages from Event.Message and QuarantineMessage have non-empty Data and
// keep every Pub/Sub limit (MaxAttributes, MaxAttributeKeyBytes,
// MaxAttributeValueBytes, MaxMessageBytes); attribute values are UTF-8.
type Message struct {
	Data       []byte
	Attributes map[string]string
	// OrderingKey is the key under which an ordered subscription delivers
	// the message in publish order: Event.OrderingKey (the job id) for an
	// event, "" for a quarantine message. A publisher uses it only when
	// ordering is on (internal/publish Options.Ordering); it is not part of
	// the message's data or attributes.
	OrderingKey string
}
