package test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/replay"
)

// TestReplayAfterLoss: deliveries of every scheme go through the function;
// the consumer receives them and loses them; a replay of the range, for
// some kinds, republishes exactly those deliveries, each to the topic the
// function chose, with its ce-id, its attributes, the event the function
// published (rebuilt from the envelope, scheme and arrival time the claim
// recorded; received_at at the ledger's microseconds) and the replay
// attribute. The claim recorded those facts without a round trip more
// (TestRoundTrips).
func TestReplayAfterLoss(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	since := time.Now().Add(-time.Second)
	type sent struct{ id, scheme, typ string }
	deliveries := []sent{
		{newID(), "v1", events.TypeBatchSucceeded},
		{newID(), "v1a", events.TypeInteractionCompleted},
		{newID(), "jwt", events.TypeVideoGenerated},
		{newID(), "v1", events.TypeBatchFailed},
	}
	for i, d := range deliveries {
		if r := s.send(d.scheme, d.id, s.body(d.typ, fmt.Sprintf("jobs/replay-%d", i))); r.status != 200 {
			t.Fatalf("%s %s: %d %s", d.scheme, d.typ, r.status, r.body)
		}
	}
	quarantined := newID()
	raw := []byte("[1,2,3]")
	if r := s.post(s.sign("v1", quarantined, time.Now(), raw), raw); r.status != 200 {
		t.Fatalf("quarantined: %d", r.status)
	}
	orig := byID(s.messages(5)) // received, and lost
	if len(orig) != 5 {
		t.Fatalf("originals: %d distinct, want 5", len(orig))
	}
	until := time.Now().Add(time.Second)

	pub, err := publish.New(s.admin, publish.Options{Topic: s.cfg.Topic, QuarantineTopic: s.cfg.QuarantineTopic, Topics: map[events.Kind]string{
		events.KindBatch: s.cfg.BatchTopic, events.KindInteraction: s.cfg.InteractionTopic, events.KindVideo: s.cfg.VideoTopic,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := replay.Run(ctx, s.ledger, pub, replay.Options{RunID: "lost-2026", Since: since, Until: until,
		Kinds: []string{"batch", "video", "quarantined"}})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Done || sum.Total() != 4 || sum.Quarantined != 1 {
		t.Errorf("summary %+v, want 3 events and 1 quarantined", sum)
	}

	got := byID(s.messages(4))
	want := []string{deliveries[0].id, deliveries[2].id, deliveries[3].id, quarantined}
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("replayed %v, want exactly %v (the interaction is not selected)", ids, want)
	}
	for id, rs := range got {
		if len(rs) != 1 {
			t.Errorf("%s replayed %d times", id, len(rs))
			continue
		}
		r, o := rs[0], orig[id][0]
		if r.topic != o.topic {
			t.Errorf("%s: replayed to %s, published to %s", id, r.topic, o.topic)
		}
		if r.msg.Attributes[events.AttrReplay] != "lost-2026" || o.msg.Attributes[events.AttrReplay] != "" {
			t.Errorf("%s: replay attribute %q (original %q)", id, r.msg.Attributes[events.AttrReplay], o.msg.Attributes[events.AttrReplay])
		}
		for k, v := range o.msg.Attributes {
			if k == events.AttrTraceParent || k == events.AttrTraceState || (k == events.AttrTime && id == quarantined) {
				continue // the delivery's trace; a quarantined body's time is its received_at (below)
			}
			if r.msg.Attributes[k] != v {
				t.Errorf("%s: attribute %s = %q, the original %q", id, k, r.msg.Attributes[k], v)
			}
		}
		if id == quarantined {
			if string(r.msg.Data) != string(raw) || r.topic != topicQuarantine {
				t.Errorf("quarantined body replayed as %q to %s", r.msg.Data, r.topic)
			}
			continue
		}
		re, err := events.Decode(r.msg.Data, r.msg.Attributes)
		if err != nil {
			t.Fatal(err)
		}
		oe, err := events.Decode(o.msg.Data, o.msg.Attributes)
		if err != nil {
			t.Fatal(err)
		}
		if !re.ReceivedAt.Equal(oe.ReceivedAt.Truncate(time.Microsecond)) || re.Scheme != oe.Scheme || re.Replay != "lost-2026" {
			t.Errorf("%s: replayed scheme %q received_at %v, original %q %v", id, re.Scheme, re.ReceivedAt, oe.Scheme, oe.ReceivedAt)
		}
		re.ReceivedAt, re.Replay, re.TraceParent, re.TraceState = oe.ReceivedAt, "", oe.TraceParent, oe.TraceState
		if fmt.Sprintf("%+v", *re) != fmt.Sprintf("%+v", *oe) {
			t.Errorf("%s: replayed event\n%+v\nwant the published one\n%+v", id, *re, *oe)
		}
	}
}
