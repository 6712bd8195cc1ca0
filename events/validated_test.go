package events

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestValidatedEncodesAsEvent: for every golden body, a Validated encodes
// exactly as the Event Parse returns (data, attributes, ordering key, with
// and without lifted metadata, MarshalJSON and AppendJSON).
func TestValidatedEncodesAsEvent(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Parse(c.body)
			if err != nil {
				t.Skip("quarantined:", err)
			}
			v, err := ParseValidated(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&v.Event, ev) {
				t.Fatalf("ParseValidated's Event = %+v, want Parse's %+v", v.Event, *ev)
			}
			for _, e := range []*Event{ev, &v.Event} {
				e.WebhookID, e.Scheme, e.ReceivedAt = "msg_validated_"+c.name, "v1", goldenReceivedAt
			}
			want, err := ev.Message()
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Message()
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Validated.Message = %+v, %v\nwant %+v", got, err, want)
			}
			keys := []string{"tenant", "team", "absent"}
			want, _ = ev.MessageWith(keys)
			if got, err := v.MessageWith(keys); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Validated.MessageWith = %+v, %v\nwant %+v", got, err, want)
			}
			wantJSON, _ := ev.MarshalJSON()
			if got, err := v.MarshalJSON(); err != nil || !bytes.Equal(got, wantJSON) {
				t.Errorf("Validated.MarshalJSON = %s, %v\nwant %s", got, err, wantJSON)
			}
			if got, err := v.AppendJSON([]byte("x")); err != nil || !bytes.Equal(got, append([]byte("x"), wantJSON...)) {
				t.Errorf("Validated.AppendJSON = %s, %v", got, err)
			}
		})
	}
}

// TestValidatedRevalidatesChanges: whatever the caller does to the Event's
// JSON fields, bytes that Parse did not validate are validated, and
// invalid ones refused with ErrInvalidEvent.
func TestValidatedRevalidatesChanges(t *testing.T) {
	body := []byte(`{"type":"batch.succeeded","data":{"id":"b/1","user_metadata":{"tenant":"acme"}}}`)
	changes := []struct {
		name  string
		valid bool // the change leaves valid JSON
		do    func(v *Validated)
	}{
		{"none", true, func(*Validated) {}},
		{"envelope byte changed in place", false, func(v *Validated) { v.Envelope[len(v.Envelope)-1] = 'x' }},
		{"user_metadata byte changed in place", false, func(v *Validated) { v.UserMetadata[0] = '[' }},
		{"envelope truncated", false, func(v *Validated) { v.Envelope = v.Envelope[:len(v.Envelope)-1] }},
		{"user_metadata truncated", false, func(v *Validated) { v.UserMetadata = v.UserMetadata[1:] }},
		{"envelope replaced", false, func(v *Validated) { v.Envelope = []byte(`{"a":`) }},
		{"user_metadata replaced", false, func(v *Validated) { v.UserMetadata = []byte(`{"a"}`) }},
		{"user_metadata appended to", false, func(v *Validated) { v.UserMetadata = append(v.UserMetadata, ',') }},
		{"envelope replaced by valid JSON", true, func(v *Validated) { v.Envelope = []byte(`{"other":true}`) }},
		{"user_metadata set where there was none", false, func(v *Validated) { v.UserMetadata = []byte(`nul`) }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			v, err := ParseValidated(body)
			if err != nil {
				t.Fatal(err)
			}
			c.do(v)
			check := func(what string, err error) {
				t.Helper()
				if c.valid && err != nil {
					t.Errorf("%s: %v, want no error", what, err)
				}
				if !c.valid && !errors.Is(err, ErrInvalidEvent) {
					t.Errorf("%s: %v, want ErrInvalidEvent", what, err)
				}
			}
			_, err = v.Message()
			check("Message", err)
			_, err = v.MessageWith([]string{"tenant"})
			check("MessageWith", err)
			_, err = v.AppendJSON(nil)
			check("AppendJSON", err)
			// A copy changed afterwards is checked as well.
			w := *v
			w.Envelope = append([]byte(nil), w.Envelope...)
			if len(w.Envelope) > 1 {
				w.Envelope[1] = '}'
			}
			if _, err := w.Message(); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("copy with a changed envelope: %v, want ErrInvalidEvent", err)
			}
		})
	}
}

// TestValidatedSkipsWhatParseValidated shows that the skip is taken: bytes
// recorded as validated are not validated again (this test records
// invalid bytes, which only the package itself can do), while a plain
// Event and a zero Validated validate.
func TestValidatedSkipsWhatParseValidated(t *testing.T) {
	bad := []byte(`{"not json`)
	v := &Validated{Event: Event{Envelope: bad}, valid: validated{env: bytes.Clone(bad)}}
	if _, err := v.AppendJSON(nil); err != nil {
		t.Errorf("recorded bytes were validated again: %v", err)
	}
	if _, err := v.Event.AppendJSON(nil); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Event.AppendJSON: %v, want ErrInvalidEvent", err)
	}
	var zero Validated
	zero.Envelope = bad
	if _, err := zero.AppendJSON(nil); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("zero Validated: %v, want ErrInvalidEvent", err)
	}
	if _, err := ParseValidated([]byte(`[1]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("ParseValidated of an array: %v, want Parse's ErrNotObject", err)
	}
}

// TestValidatedSharesNothing: the private copy shares no memory with the
// Event's fields, nor the Event with the body.
func TestValidatedSharesNothing(t *testing.T) {
	body := []byte(`{"type":"x","user_metadata":{"k":"v"}}`)
	v, err := ParseValidated(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Envelope {
		v.Envelope[i] = ' '
	}
	if string(v.valid.env) != string(body) || string(v.valid.md) != `{"k":"v"}` {
		t.Errorf("private copy changed with the Event: %q, %q", v.valid.env, v.valid.md)
	}
	if string(body) != `{"type":"x","user_metadata":{"k":"v"}}` {
		t.Errorf("body changed with the Event: %q", body)
	}
}
