package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// Consumer processes geminihook events from one pull subscription.
//
// Delivery is at least once: geminihook may publish an event twice (a
// publish whose answer was lost, then Gemini's retry), Pub/Sub may deliver
// a message twice, and `geminihook replay` republishes events with their
// ce-id. The consumer is idempotent on the ce-id (Event.WebhookID): an event
// already processed is acknowledged without doing the work again. With
// ReprocessReplays a replay run's copy is processed once more (the dedup key
// is ce-id and run id).
type Consumer struct {
	Subscriber *pubsub.Subscriber
	Dedup      Dedup
	Log        *slog.Logger
	// ReprocessReplays processes the messages of each `geminihook replay`
	// run (attribute geminihook_replay) again, once per run.
	ReprocessReplays bool
	// MaxOutstanding bounds the messages held at once (flow control); 0
	// means 32. The client stops pulling while that many are unacknowledged.
	MaxOutstanding int
	// WorkTimeout bounds the work on one message, which finishes even when
	// Run's context ends (graceful shutdown); 0 means 30 s.
	WorkTimeout time.Duration
	// Process does the work for an event not seen before; nil means
	// Record. An error leaves the message unacknowledged (Nack): Pub/Sub
	// redelivers it, and after the subscription's max delivery attempts
	// moves it to the dead-letter topic.
	Process func(ctx context.Context, ev *events.Event) error

	Stats Stats
}

// Stats count what the consumer did, for tests and metrics.
type Stats struct {
	Processed, Duplicates, Quarantined, Nacked, Acked, AckFailed atomic.Int64
}

// Run receives until ctx ends, then lets the messages in hand finish
// (their work and their acknowledgement) and returns nil. An error is a
// subscription that cannot be received from (missing, no permission).
func (c *Consumer) Run(ctx context.Context) error {
	n := c.MaxOutstanding
	if n <= 0 {
		n = 32
	}
	if c.WorkTimeout <= 0 {
		c.WorkTimeout = 30 * time.Second
	}
	if c.Process == nil {
		c.Process = c.Record
	}
	c.Subscriber.ReceiveSettings = pubsub.ReceiveSettings{
		// Flow control: at most n messages and 64 MiB in hand; leases are
		// extended while the work runs (up to MaxExtension).
		MaxOutstandingMessages: n,
		MaxOutstandingBytes:    64 << 20,
		MaxExtension:           10 * time.Minute,
		NumGoroutines:          1,
		// On shutdown, wait for the callbacks in progress and send their
		// acknowledgements. No timeout here: a timed shutdown closes the
		// stream first, and the client then drops the acknowledgements
		// still pending, which an exactly-once subscription reports as
		// failed and redelivers. The callbacks are bounded by WorkTimeout
		// instead.
		ShutdownOptions: &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorWaitForProcessing, Timeout: -1},
	}
	err := c.Subscriber.Receive(ctx, c.handle)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// handle is the callback for one message.
func (c *Consumer) handle(ctx context.Context, m *pubsub.Message) {
	// The work and the acknowledgement finish even when Run is told to
	// stop: a shutdown waits for them instead of abandoning half-done work.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.WorkTimeout)
	defer cancel()
	log := c.Log.With("message_id", m.ID, "webhook_id", m.Attributes[events.AttrID])

	ev, err := events.Decode(m.Data, m.Attributes)
	switch {
	case errors.Is(err, events.ErrQuarantined):
		// A body geminihook could not parse: it belongs to whoever reads
		// the quarantine topic, not to this job consumer.
		log.Warn("quarantined delivery on the events subscription; ignored", "reason", m.Attributes[events.AttrReason])
		c.Stats.Quarantined.Add(1)
		c.ack(ctx, log, m)
		return
	case err != nil:
		// It will never decode: leave it to the dead-letter policy.
		log.Error("undecodable message", "error", err)
		c.nack(m)
		return
	}
	key := DedupKey(ev, c.ReprocessReplays)
	seen, err := c.Dedup.Seen(ctx, key)
	if err != nil {
		log.Error("dedup store unavailable; retried later", "error", err)
		c.nack(m)
		return
	}
	if seen {
		log.Info("duplicate; already processed", "replay", ev.Replay)
		c.Stats.Duplicates.Add(1)
		c.ack(ctx, log, m)
		return
	}
	if err := c.Process(ctx, ev); err != nil {
		log.Error("processing failed; retried later", "error", err)
		c.nack(m)
		return
	}
	c.Stats.Processed.Add(1)
	if err := c.Dedup.Mark(ctx, key); err != nil {
		// Processed but not remembered: a redelivery would process it
		// again. Acknowledge anyway, so that it is not redelivered.
		log.Error("processed, but the dedup store did not record it", "error", err)
	}
	c.ack(ctx, log, m)
}

func (c *Consumer) nack(m *pubsub.Message) {
	c.Stats.Nacked.Add(1)
	m.Nack()
}

// ack acknowledges m and waits for the result. With exactly-once delivery
// on the subscription, a successful result means Pub/Sub will not deliver
// the message again; without it the result is always success (the ack is
// best effort).
func (c *Consumer) ack(ctx context.Context, log *slog.Logger, m *pubsub.Message) {
	st, err := m.AckWithResult().Get(ctx)
	switch {
	case err == nil && st == pubsub.AcknowledgeStatusSuccess:
		c.Stats.Acked.Add(1)
		return
	case st == pubsub.AcknowledgeStatusInvalidAckID:
		// The ack came after the message's lease expired: Pub/Sub delivers
		// it again, and the dedup store answers that copy.
		log.Warn("acknowledgement too late; the message will be redelivered and deduplicated", "error", err)
	case st == pubsub.AcknowledgeStatusPermissionDenied:
		log.Error("not allowed to acknowledge: grant roles/pubsub.subscriber on the subscription", "error", err)
	case st == pubsub.AcknowledgeStatusFailedPrecondition:
		log.Error("acknowledgement refused: the subscription is in a state that does not accept it (detached, or exactly-once settings changing)", "error", err)
	default:
		log.Error("acknowledgement not confirmed; the message may be redelivered", "status", st, "error", err)
	}
	c.Stats.AckFailed.Add(1)
}

// DedupKey is what the consumer dedupes on: the ce-id, and with
// reprocessReplays the replay run too.
func DedupKey(ev *events.Event, reprocessReplays bool) string {
	if reprocessReplays && ev.Replay != "" {
		return ev.WebhookID + "\x00replay=" + ev.Replay
	}
	return ev.WebhookID
}

// Record is the default work: what a job's end means to this service, as
// one log line. A finished batch names the Cloud Storage object of its
// results (output_file_uri), which a real service would now read; every
// line carries the job's outcome and the user_metadata the job was
// created with.
func (c *Consumer) Record(ctx context.Context, ev *events.Event) error {
	attrs := []any{"job_id", ev.JobID, "type", ev.Type, "kind", ev.Kind, "outcome", ev.Outcome, "webhook_id", ev.WebhookID}
	if len(ev.UserMetadata) > 0 {
		attrs = append(attrs, "user_metadata", json.RawMessage(ev.UserMetadata))
	}
	if ev.Replay != "" {
		attrs = append(attrs, "replay", ev.Replay)
	}
	switch {
	case ev.Kind == events.KindBatch && ev.Outcome == events.OutcomeSucceeded:
		if ev.OutputURI == "" {
			c.Log.InfoContext(ctx, "batch finished with inline results", attrs...)
			return nil
		}
		bucket, object, err := GCSObject(ev.OutputURI)
		if err != nil {
			c.Log.WarnContext(ctx, "batch finished; its output is not a Cloud Storage object", append(attrs, "output_uri", ev.OutputURI)...)
			return nil
		}
		c.Log.InfoContext(ctx, "batch finished", append(attrs, "bucket", bucket, "object", object)...)
	case ev.Terminal:
		c.Log.InfoContext(ctx, "job finished", append(attrs, "error_code", ev.ErrorCode, "error_message", ev.ErrorMessage, "output_uri", ev.OutputURI)...)
	default:
		c.Log.InfoContext(ctx, "job update", attrs...)
	}
	return nil
}

// GCSObject splits gs://bucket/object.
func GCSObject(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" {
		return "", "", fmt.Errorf("%q is not gs://bucket/object", uri)
	}
	return bucket, object, nil
}

// Dedup remembers which events were processed.
type Dedup interface {
	Seen(ctx context.Context, key string) (bool, error)
	Mark(ctx context.Context, key string) error
}

// FirestoreDedup keeps one document per processed event, shared by every
// instance of the consumer. Give the collection a TTL policy on expire_at;
// TTL should outlive geminihook's ledger retention (7 days), the window in
// which a replay can republish an event.
type FirestoreDedup struct {
	Collection *firestore.CollectionRef
	TTL        time.Duration // 0 means 8 days
}

func (d *FirestoreDedup) doc(key string) *firestore.DocumentRef {
	sum := sha256.Sum256([]byte(key)) // ce-ids may hold "/"
	return d.Collection.Doc(hex.EncodeToString(sum[:]))
}

// Seen reports whether key was marked.
func (d *FirestoreDedup) Seen(ctx context.Context, key string) (bool, error) {
	_, err := d.doc(key).Get(ctx)
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.NotFound:
		return false, nil
	}
	return false, err
}

// Mark records key. Marking twice (two instances that processed the same
// event at the same moment) is not an error.
func (d *FirestoreDedup) Mark(ctx context.Context, key string) error {
	ttl := d.TTL
	if ttl <= 0 {
		ttl = 8 * 24 * time.Hour
	}
	now := time.Now().UTC()
	_, err := d.doc(key).Create(ctx, map[string]any{"key": key, "processed_at": now, "expire_at": now.Add(ttl)})
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	return err
}
