package test

import (
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
)

// TestOrderingSetting: with GEMINIHOOK_ORDERING=true the function publishes
// each event with its job id as ordering key (quarantined bodies without
// one); by default no message has a key.
func TestOrderingSetting(t *testing.T) {
	t.Parallel()
	for _, ordering := range []bool{false, true} {
		su := setup{}
		if ordering {
			su.env = map[string]string{"GEMINIHOOK_ORDERING": "true"}
		}
		s := newStack(t, su)
		if s.cfg.Ordering != ordering {
			t.Fatalf("Config.Ordering = %v, want %v", s.cfg.Ordering, ordering)
		}
		for _, typ := range []string{events.TypeInteractionRequiresAction, events.TypeInteractionCompleted} {
			if r := s.send("v1", newID(), s.body(typ, "interactions/ordered-1")); r.status != 200 {
				t.Fatalf("%s: %d", typ, r.status)
			}
		}
		raw := []byte("not json")
		if r := s.post(s.sign("v1", newID(), time.Now(), raw), raw); r.status != 200 {
			t.Fatalf("quarantined: %d", r.status)
		}
		for _, r := range s.messages(3) {
			want := ""
			if ordering && r.topic != topicQuarantine {
				want = "interactions/ordered-1"
			}
			if r.msg.OrderingKey != want {
				t.Errorf("ordering %v: %s message %s has ordering key %q, want %q", ordering, r.topic, r.msg.Attributes[events.AttrID], r.msg.OrderingKey, want)
			}
		}
	}
}
