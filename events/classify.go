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

// The Gemini webhook event types documented by Google (the event catalog of
// the Gemini API webhooks guide). Gemini may send others; they are kept as
// KindUnknown.
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
