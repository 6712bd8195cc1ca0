package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
)

// batchingPublisher is how this package published before it made one
// unary call per event, kept as the benchmarks' baseline: the library's
// batching *pubsub.Publisher, each message handed to its bundler and
// awaited with PublishResult.Get(ctx). The bundler's worker publishes under
// a context of its own (PublishSettings.Timeout from the hand-over), so a
// publish may go on, and land, after Publish has returned.
type batchingPublisher struct{ tp *pubsub.Publisher }

// batchingLatency are the settings New used on that path: each message
// sent at once in its own RPC.
func batchingLatency() pubsub.PublishSettings {
	s := pubsub.DefaultPublishSettings
	s.DelayThreshold, s.CountThreshold, s.Timeout = 0, 1, DefaultTimeout
	return s
}

func newBatchingPublisher(tb testing.TB, c *pubsub.Client, topic string, s pubsub.PublishSettings) *batchingPublisher {
	tb.Helper()
	full, err := fullTopicName(c.Project(), topic)
	if err != nil {
		tb.Fatal(err)
	}
	tp := c.Publisher(full)
	tp.PublishSettings = s
	tb.Cleanup(tp.Stop)
	return &batchingPublisher{tp: tp}
}

// Publish is the former Publisher.publish.
func (b *batchingPublisher) Publish(ctx context.Context, m events.Message) (string, error) {
	if _, err := checkMessage(m); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrUnavailable, b.tp, err)
	}
	r := b.tp.Publish(ctx, &pubsub.Message{
		Data:       bytes.Clone(m.Data),
		Attributes: maps.Clone(m.Attributes),
	})
	id, err := r.Get(ctx)
	if err != nil {
		if errors.Is(err, pubsub.ErrPublisherStopped) {
			return "", fmt.Errorf("%w: %s: %w", ErrClosed, b.tp, err)
		}
		return "", translate(b.tp.String(), err)
	}
	return id, nil
}

// The baseline still publishes (so that the benchmarks compare two working
// paths).
func TestBatchingBaseline(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events")
	b := newBatchingPublisher(t, c, "events", batchingLatency())
	id, err := b.Publish(t.Context(), msg("x", "a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Message(id); got == nil || string(got.Data) != "x" {
		t.Errorf("message %s not on the server: %v", id, got)
	}
}
