package events

// Kind is the family of Gemini job an event belongs to. It is the value of
// the job_kind attribute and selects the Pub/Sub topic.
type Kind string

// The kinds. KindUnknown holds every type Gemini may add later, and pings.
const (
	KindBatch       Kind = "batch"
	KindInteraction Kind = "interaction"
	KindVideo       Kind = "video"
	KindUnknown     Kind = "unknown"
)

// Message is a Pub/Sub message as geminihook publishes it, independent of
// any Pub/Sub SDK: the adapter in internal/publish copies it field by field.
// Messages from Event.Message and QuarantineMessage have non-empty Data and
// keep every Pub/Sub limit (MaxAttributes, MaxAttributeKeyBytes,
// MaxAttributeValueBytes, MaxMessageBytes); attribute values are UTF-8.
type Message struct {
	Data       []byte
	Attributes map[string]string
}
