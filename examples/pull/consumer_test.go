package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/publish"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// rig is a topic that geminihook's publisher publishes to, the consumer's
// subscription (exactly-once delivery, ordering) on the Pub/Sub emulator,
// and its dedup collection on the Firestore emulator.
type rig struct {
	project string
	ps      *pubsub.Client
	fs      *firestore.Client
	pub     *publish.Publisher
	sub     string
	logs    *syncBuffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	fsEmu, psEmu := emulator.Firestore(t), emulator.PubSub(t)
	r := &rig{project: emulator.ProjectID(t), logs: &syncBuffer{}}
	var err error
	if r.ps, err = pubsub.NewClient(t.Context(), r.project, psEmu.ClientOptions(t, nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close() })
	if r.fs, err = firestore.NewClient(t.Context(), r.project, fsEmu.ClientOptions(t, nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.fs.Close() })
	if r.pub, err = publish.New(r.ps, publish.Options{Topic: "gemini-job-events", Ordering: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pub.Close)
	if err := publish.EnsureTopics(t.Context(), r.ps, r.pub.Topics()...); err != nil {
		t.Fatal(err)
	}
	r.sub = "projects/" + r.project + "/subscriptions/jobs-pull"
	if _, err := r.ps.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
		Name: r.sub, Topic: "projects/" + r.project + "/topics/gemini-job-events", AckDeadlineSeconds: 20,
		EnableExactlyOnceDelivery: true, EnableMessageOrdering: true,
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) consumer() *Consumer {
	return &Consumer{
		Subscriber:       r.ps.Subscriber(r.sub),
		Dedup:            &FirestoreDedup{Collection: r.fs.Collection("processed_gemini_events")},
		Log:              slog.New(slog.NewJSONHandler(r.logs, nil)),
		ReprocessReplays: true,
		MaxOutstanding:   4,
	}
}

// publish publishes the event of body as geminihook does, with extra
// attributes.
func (r *rig) publish(t *testing.T, id, body string, extra ...string) {
	t.Helper()
	ev, err := events.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme, ev.ReceivedAt = id, "v1", time.Now()
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m.Attributes[extra[i]] = extra[i+1]
	}
	if _, err := r.pub.Publish(t.Context(), ev.Kind, m); err != nil {
		t.Fatal(err)
	}
}

// leftover returns the messages still on the subscription: it publishes a
// marker and pulls up to it.
func (r *rig) leftover(t *testing.T) []string {
	t.Helper()
	marker := fmt.Sprint("marker-", time.Now().UnixNano())
	if _, err := r.ps.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{Topic: "projects/" + r.project + "/topics/gemini-job-events",
		Messages: []*pubsubpb.PubsubMessage{{Data: []byte(marker), Attributes: map[string]string{"marker": marker}}}}); err != nil {
		t.Fatal(err)
	}
	var left []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		res, err := r.ps.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: r.sub, MaxMessages: 100})
		cancel()
		if err != nil {
			continue
		}
		for _, rm := range res.ReceivedMessages {
			r.ps.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: r.sub, AckIds: []string{rm.AckId}})
			if rm.Message.Attributes["marker"] == marker {
				return left
			}
			left = append(left, rm.Message.Attributes[events.AttrID])
		}
	}
	t.Fatal("the marker did not arrive")
	return nil
}

// syncBuffer is the consumer's log, read as JSON lines.
type syncBuffer struct{ cloudlogtest.Buffer }

// lines returns the JSON log lines with message msg.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// runUntil runs c until done says so (or 60 s), then stops it and waits
// for Run to return.
func runUntil(t *testing.T, c *Consumer, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !done() {
		t.Errorf("not done after 60 s: stats processed %d duplicates %d acked %d nacked %d",
			c.Stats.Processed.Load(), c.Stats.Duplicates.Load(), c.Stats.Acked.Load(), c.Stats.Nacked.Load())
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

const (
	succeeded = `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1","output_file_uri":"gs://results-bucket/batches/1/output.jsonl","user_metadata":{"tenant":"acme","run":42}}}`
	failed    = `{"type":"batch.failed","data":{"id":"batches/2","error_code":"RESOURCE_EXHAUSTED","error_message":"quota","user_metadata":{"tenant":"globex"}}}`
	waiting   = `{"type":"interaction.requires_action","data":{"id":"interactions/3"}}`
)

// TestConsumer: every event is processed once per ce-id (a second publish
// of the same delivery is a duplicate), each replay run's copy once more,
// a quarantine message is acknowledged and left alone; the finished batch
// is logged with its results' bucket and object and its user_metadata,
// the failed one with its error; every message is acknowledged (the
// subscription is empty afterwards) and Run returns nil when stopped.
func TestConsumer(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.publish(t, "msg_1", succeeded)
	r.publish(t, "msg_1", succeeded) // the same delivery published twice
	r.publish(t, "msg_2", failed)
	r.publish(t, "msg_3", waiting)
	r.publish(t, "msg_1", succeeded, events.AttrReplay, "fix-7") // a replay run
	r.publish(t, "msg_1", succeeded, events.AttrReplay, "fix-7") // the same run again
	// A quarantine message where it does not belong (a subscription on the
	// wrong topic, a misrouted replay).
	q := events.QuarantineMessage([]byte("not json"), "msg_q", "v1", events.ErrMalformed, time.Now())
	if _, err := r.ps.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{Topic: "projects/" + r.project + "/topics/gemini-job-events",
		Messages: []*pubsubpb.PubsubMessage{{Data: q.Data, Attributes: q.Attributes}}}); err != nil {
		t.Fatal(err)
	}

	c := r.consumer()
	runUntil(t, c, func() bool { return c.Stats.Acked.Load() == 7 })
	if p, d, q := c.Stats.Processed.Load(), c.Stats.Duplicates.Load(), c.Stats.Quarantined.Load(); p != 4 || d != 2 || q != 1 {
		t.Errorf("processed %d, duplicates %d, quarantined %d; want 4, 2, 1", p, d, q)
	}
	if n := c.Stats.AckFailed.Load(); n != 0 {
		t.Errorf("%d acknowledgements failed", n)
	}

	finished := r.logs.lines(t, "batch finished")
	if len(finished) != 2 {
		t.Fatalf("%d 'batch finished' lines, want 2 (the original and replay fix-7):\n%s", len(finished), r.logs)
	}
	replays := 0
	for _, l := range finished {
		md, _ := l["user_metadata"].(map[string]any)
		if l["job_id"] != "batches/1" || l["outcome"] != "succeeded" || l["bucket"] != "results-bucket" ||
			l["object"] != "batches/1/output.jsonl" || md["tenant"] != "acme" || md["run"] != float64(42) {
			t.Errorf("batch finished line %v", l)
		}
		if l["replay"] == "fix-7" {
			replays++
		}
	}
	if replays != 1 {
		t.Errorf("%d of the lines are replay fix-7, want 1", replays)
	}
	jf := r.logs.lines(t, "job finished")
	if len(jf) != 1 || jf[0]["job_id"] != "batches/2" || jf[0]["outcome"] != "failed" || jf[0]["error_code"] != "RESOURCE_EXHAUSTED" ||
		jf[0]["user_metadata"].(map[string]any)["tenant"] != "globex" {
		t.Errorf("job finished lines %v", jf)
	}
	if ju := r.logs.lines(t, "job update"); len(ju) != 1 || ju[0]["outcome"] != "requires_action" {
		t.Errorf("job update lines %v", ju)
	}
	if left := r.leftover(t); len(left) != 0 {
		t.Errorf("messages left unacknowledged: %v", left)
	}
}

// TestConsumerRetriesFailedWork: work that fails leaves the message
// unacknowledged; Pub/Sub redelivers it and it is processed once it works.
func TestConsumerRetriesFailedWork(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.publish(t, "msg_retry", failed)
	c := r.consumer()
	var calls atomic.Int64
	c.Process = func(ctx context.Context, ev *events.Event) error {
		if calls.Add(1) == 1 {
			return errors.New("downstream unavailable")
		}
		return c.Record(ctx, ev)
	}
	runUntil(t, c, func() bool { return c.Stats.Acked.Load() == 1 })
	if c.Stats.Nacked.Load() != 1 || c.Stats.Processed.Load() != 1 || calls.Load() != 2 {
		t.Errorf("nacked %d, processed %d, calls %d; want 1, 1, 2", c.Stats.Nacked.Load(), c.Stats.Processed.Load(), calls.Load())
	}
	if left := r.leftover(t); len(left) != 0 {
		t.Errorf("left: %v", left)
	}
}

// TestConsumerGracefulShutdown: when told to stop during the work on a
// message, Run waits for that work and its acknowledgement: the message is
// not delivered again.
func TestConsumerGracefulShutdown(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.publish(t, "msg_slow", waiting)
	c := r.consumer()
	started, release := make(chan struct{}), make(chan struct{})
	c.Process = func(ctx context.Context, ev *events.Event) error {
		close(started)
		<-release
		return c.Record(ctx, ev)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the message never arrived")
	}
	cancel() // SIGTERM
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while a message was in hand", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if c.Stats.Acked.Load() != 1 || c.Stats.Processed.Load() != 1 {
		t.Errorf("acked %d processed %d, want the message in hand finished; log:\n%s", c.Stats.Acked.Load(), c.Stats.Processed.Load(), r.logs)
	}
	if left := r.leftover(t); len(left) != 0 {
		t.Errorf("redelivered after shutdown: %v", left)
	}
}

func TestDedupKey(t *testing.T) {
	orig := &events.Event{WebhookID: "msg_1"}
	replayed := &events.Event{WebhookID: "msg_1", Replay: "r1"}
	other := &events.Event{WebhookID: "msg_1", Replay: "r2"}
	keys := map[string]bool{}
	for _, ev := range []*events.Event{orig, replayed, other} {
		keys[DedupKey(ev, true)] = true
	}
	if len(keys) != 3 {
		t.Errorf("with replays processed: keys %q, want one per run", slices.Collect(maps.Keys(keys)))
	}
	if DedupKey(replayed, false) != DedupKey(orig, false) {
		t.Error("without replays processed, a replay must dedupe as the original")
	}
}

func TestGCSObject(t *testing.T) {
	b, o, err := GCSObject("gs://bucket/dir/file.jsonl")
	if err != nil || b != "bucket" || o != "dir/file.jsonl" {
		t.Errorf("GCSObject = %q %q %v", b, o, err)
	}
	for _, bad := range []string{"", "gs://", "gs://bucket", "gs://bucket/", "https://x/y", "gs:///obj"} {
		if _, _, err := GCSObject(bad); err == nil || !strings.Contains(err.Error(), "gs://bucket/object") {
			t.Errorf("GCSObject(%q) = %v, want an error", bad, err)
		}
	}
}
