package publish

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// TestEmulator runs the publisher against the official Pub/Sub emulator
// (skipped when it is not installed, unless CI=true): NotFound before the
// topics exist, EnsureTopics twice, then each kind read back through a
// subscription of its topic with its ID, data and attributes.
func TestEmulator(t *testing.T) {
	emu := emulator.PubSub(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	project := emulator.ProjectID(t)
	c, err := pubsub.NewClient(ctx, project, emu.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := newTestPublisher(t, c, Options{Topic: "events", Topics: map[events.Kind]string{events.KindVideo: "video"}})

	if _, err := p.Publish(ctx, events.KindBatch, msg("x")); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("Publish before the topic exists = %v, want ErrTopicNotFound", err)
	}
	for range 2 {
		if err := EnsureTopics(ctx, c, p.Topics()...); err != nil {
			t.Fatalf("EnsureTopics = %v", err)
		}
	}
	subs := map[string]string{} // topic → subscription
	for _, topic := range p.Topics() {
		sub := "projects/" + project + "/subscriptions/s-" + topic[len("projects/"+project+"/topics/"):]
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic}); err != nil {
			t.Fatal(err)
		}
		subs[topic] = sub
	}

	pull := func(t *testing.T, topic, id string) *pubsubpb.PubsubMessage {
		t.Helper()
		res, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: subs[topic], MaxMessages: 10})
		if err != nil {
			t.Fatalf("Pull(%s) = %v", subs[topic], err)
		}
		if len(res.ReceivedMessages) != 1 || res.ReceivedMessages[0].Message.MessageId != id {
			t.Fatalf("Pull(%s) = %v, want exactly message %s", subs[topic], res.ReceivedMessages, id)
		}
		rm := res.ReceivedMessages[0]
		if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: subs[topic], AckIds: []string{rm.AckId}}); err != nil {
			t.Fatal(err)
		}
		return rm.Message
	}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			m := msg(`{"kind":"`+string(k)+`"}`, "job_kind", string(k), "ce-id", "msg_"+string(k))
			id, err := p.Publish(ctx, k, m)
			if err != nil {
				t.Fatalf("Publish(%s) = %v", k, err)
			}
			topic := "projects/" + project + "/topics/events"
			if k == events.KindVideo {
				topic = "projects/" + project + "/topics/video"
			}
			got := pull(t, topic, id)
			if string(got.Data) != string(m.Data) || !maps.Equal(got.Attributes, m.Attributes) {
				t.Errorf("pulled data %q attributes %v, want %q %v", got.Data, got.Attributes, m.Data, m.Attributes)
			}
		})
	}
	t.Run("quarantine", func(t *testing.T) {
		id, err := p.Quarantine(ctx, msg("not json", "reason", "unparseable"))
		if err != nil {
			t.Fatal(err)
		}
		got := pull(t, "projects/"+project+"/topics/events-quarantine", id)
		if string(got.Data) != "not json" {
			t.Errorf("pulled %q", got.Data)
		}
	})
	t.Run("warm-up publishes nothing", func(t *testing.T) {
		if err := p.WarmUp(ctx); err != nil {
			t.Fatalf("WarmUp = %v", err)
		}
		for _, sub := range subs {
			// A Pull waits for messages until its deadline: none must come.
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			res, err := c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 10})
			cancel()
			if err == nil && len(res.ReceivedMessages) != 0 {
				t.Errorf("Pull(%s) after WarmUp = %d messages, want none", sub, len(res.ReceivedMessages))
			} else if err != nil && status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("Pull(%s) = %v", sub, err)
			}
		}
	})
}
