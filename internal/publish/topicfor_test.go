package publish

import (
	"testing"

	"github.com/geminihook/geminihook/events"
)

// TestTopicFor: TopicFor and QuarantineTopic name the topics Publish and
// Quarantine actually send to (what replay prints for a dry run).
func TestTopicFor(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events", "batch-events", "held")
	p := newTestPublisher(t, c, Options{Topic: "events", Topics: map[events.Kind]string{events.KindBatch: "batch-events"}, QuarantineTopic: "held"})
	for _, k := range []events.Kind{events.KindBatch, events.KindVideo, events.KindUnknown, ""} {
		id, err := p.Publish(t.Context(), k, msg("x"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.TopicFor(k), srv.Message(id).Topic; got != want {
			t.Errorf("TopicFor(%q) = %s, Publish sent to %s", k, got, want)
		}
	}
	id, err := p.Quarantine(t.Context(), msg("x"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.QuarantineTopic(), srv.Message(id).Topic; got != want || got != "projects/test-project/topics/held" {
		t.Errorf("QuarantineTopic() = %s, Quarantine sent to %s", got, want)
	}
}
