package events

import "bytes"

// Validated is an Event from ParseValidated together with a private copy
// of the JSON that Parse validated (the Envelope and the UserMetadata), so
// that its Message, MessageWith and AppendJSON do not validate that JSON a
// second time. The Event is the caller's to read and change as any Event
// (the delivery fields are set on it); it encodes exactly as the same
// Event would.
//
// The copy is unexported and shares no memory with anything the caller can
// reach. Encoding skips the validating pass of a field only when the
// field's bytes are equal to the copy's, and validates it otherwise; so
// nothing the caller does to the Event (another slice in Envelope or
// UserMetadata, bytes changed in place through either, an append, a copy of
// the Validated changed afterwards) can make bytes that were not validated
// pass as validated. The comparison costs a memcmp, a fraction of a
// validating pass. An Event has no such state: Parse's result compares and
// copies as before.
type Validated struct {
	Event
	valid validated
}

// validated is the private copy of a Validated: env is the envelope Parse
// validated, md the user_metadata inside it (nil when absent).
type validated struct {
	env, md []byte
}

func (v *validated) envelope() []byte {
	if v == nil {
		return nil
	}
	return v.env
}

func (v *validated) userMetadata() []byte {
	if v == nil {
		return nil
	}
	return v.md
}

// vouches reports whether b is exactly the validated valid (nil: nothing
// was validated).
func (v *validated) vouches(b, valid []byte) bool {
	return v != nil && valid != nil && bytes.Equal(b, valid)
}

// ParseValidated is Parse, keeping a private copy of what it validated for
// the Validated's encoding: the copy of the body that Parse makes is twice
// as long, and holds it. Errors are Parse's.
func ParseValidated(body []byte) (*Validated, error) {
	v := new(Validated)
	if err := parse(&v.Event, body, &v.valid); err != nil {
		return nil, err
	}
	return v, nil
}

// Message is Event.Message without validating again what Parse validated.
func (v *Validated) Message() (Message, error) { return v.Event.message(&v.valid) }

// MessageWith is Event.MessageWith without validating again what Parse
// validated.
func (v *Validated) MessageWith(metadataKeys []string) (Message, error) {
	return v.Event.messageWith(metadataKeys, &v.valid)
}

// AppendJSON is Event.AppendJSON without validating again what Parse
// validated.
func (v *Validated) AppendJSON(dst []byte) ([]byte, error) { return v.Event.appendJSON(dst, &v.valid) }

// MarshalJSON is Event.MarshalJSON without validating again what Parse
// validated.
func (v *Validated) MarshalJSON() ([]byte, error) {
	return v.Event.appendJSON(make([]byte, 0, v.sizeHint()), &v.valid)
}
