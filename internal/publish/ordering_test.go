package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// jobEvent is the message of event n of job, as the handler builds it.
func jobEvent(t testing.TB, job string, n int) events.Message {
	t.Helper()
	ev, err := events.Parse(fmt.Appendf(nil, `{"type":"interaction.requires_action","data":{"id":%q,"n":%d}}`, job, n))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme, ev.ReceivedAt = fmt.Sprintf("%s-%d", job, n), "v1", time.Now()
	m, err := ev.Message()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// subscribe makes a subscription of topic, with message ordering when
// ordered.
func subscribe(t testing.TB, c *pubsub.Client, topic, name string, ordered bool) string {
	t.Helper()
	sub := "projects/" + c.Project() + "/subscriptions/" + name
	_, err := c.SubscriptionAdminClient.CreateSubscription(context.Background(), &pubsubpb.Subscription{
		Name: sub, Topic: "projects/" + c.Project() + "/topics/" + topic, EnableMessageOrdering: ordered, AckDeadlineSeconds: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// receiveByKey receives n messages from sub with the client's Receive (as
// a consumer does) and returns the webhook ids per ordering key, in the
// order they were delivered.
func receiveByKey(t *testing.T, c *pubsub.Client, sub string, n int) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string][]string{}
	seen := 0
	err := c.Subscriber(sub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		mu.Lock()
		defer mu.Unlock()
		got[m.OrderingKey] = append(got[m.OrderingKey], m.Attributes[events.AttrID])
		m.Ack()
		if seen++; seen == n {
			cancel()
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive: %v", err)
	}
	if seen != n {
		t.Fatalf("received %d messages, want %d: %v", seen, n, got)
	}
	return got
}

// TestOrderingKey: with Options.Ordering the message's ordering key is the
// job id; without it, and for quarantine messages, there is none. A key
// over Pub/Sub's limit is refused before any RPC.
func TestOrderingKey(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events", "events-quarantine")
	for _, ordering := range []bool{false, true} {
		t.Run(fmt.Sprint("ordering=", ordering), func(t *testing.T) {
			srv.ClearMessages()
			p := newTestPublisher(t, c, Options{Topic: "events", Ordering: ordering})
			if _, err := p.Publish(t.Context(), events.KindInteraction, jobEvent(t, "interactions/7", 1)); err != nil {
				t.Fatal(err)
			}
			q := events.QuarantineMessage([]byte("x"), "q-1", "v1", events.ErrNotObject, time.Now())
			if _, err := p.Quarantine(t.Context(), q); err != nil {
				t.Fatal(err)
			}
			keys := map[string]string{}
			for _, m := range srv.Messages() {
				keys[m.Attributes[events.AttrID]] = m.OrderingKey
			}
			want := map[string]string{"interactions/7-1": "", "q-1": ""}
			if ordering {
				want["interactions/7-1"] = "interactions/7"
			}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Errorf("ordering keys by ce-id = %v, want %v", keys, want)
			}
		})
	}

	p := newTestPublisher(t, c, Options{Topic: "events", Ordering: true})
	srv.ClearMessages()
	long := jobEvent(t, "j", 1)
	long.OrderingKey = strings.Repeat("k", 1025)
	if _, err := p.Publish(t.Context(), events.KindBatch, long); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Publish with a 1025-byte ordering key = %v, want ErrInvalidMessage", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages published with an invalid key", n)
	}
}

// TestOrderedSubscriptionKeepsPublishOrder: the events of one job, published
// one after the other with others interleaved, reach an ordered
// subscription in publish order. Without ordering keys pstest hands the
// messages out in no particular order, so the test fails if the key is
// missing.
func TestOrderedSubscriptionKeepsPublishOrder(t *testing.T) {
	_, c := newServer(t)
	ensure(t, c, "events")
	sub := subscribe(t, c, "events", "ordered", true)
	p := newTestPublisher(t, c, Options{Topic: "events", Ordering: true})

	jobs := []string{"batches/a", "batches/b", "batches/c"}
	const perJob = 8
	want := map[string][]string{}
	for n := range perJob {
		for _, job := range jobs {
			m := jobEvent(t, job, n)
			if _, err := p.Publish(t.Context(), events.KindBatch, m); err != nil {
				t.Fatal(err)
			}
			want[job] = append(want[job], m.Attributes[events.AttrID])
		}
	}
	got := receiveByKey(t, c, sub, perJob*len(jobs))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered per key:\n%v\nwant publish order:\n%v", got, want)
	}
}

// keyFault fails every Publish of messages with one ordering key while it
// is on; other keys pass.
type keyFault struct {
	mu    sync.Mutex
	key   string
	on    bool
	fails int
}

func (f *keyFault) React(req any) (bool, any, error) {
	r, ok := req.(*pubsubpb.PublishRequest)
	if !ok {
		return false, nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.on && len(r.Messages) > 0 && r.Messages[0].OrderingKey == f.key {
		f.fails++
		return true, nil, status.Error(codes.Unavailable, "injected for this key")
	}
	return false, nil, nil
}

func (f *keyFault) set(on bool) { f.mu.Lock(); f.on = on; f.mu.Unlock() }

func (f *keyFault) failures() int { f.mu.Lock(); defer f.mu.Unlock(); return f.fails }

// TestFailedKeyBlocksNothing: with unary publishes there is no client-side
// pause of a key. While every publish of one job fails (and is retried
// until its deadline), another job's publish goes through at once; once
// Pub/Sub takes the key again, the next publish of the failed job succeeds
// without any resume call, and the ordered subscription gets what was
// published, in publish order.
func TestFailedKeyBlocksNothing(t *testing.T) {
	fault := &keyFault{key: "batches/failing"}
	srv, c := newServer(t, pstest.ServerReactorOption{FuncName: "Publish", Reactor: fault})
	ensure(t, c, "events")
	sub := subscribe(t, c, "events", "ordered", true)
	p := newTestPublisher(t, c, Options{Topic: "events", Ordering: true})
	publish := func(ctx context.Context, m events.Message) error {
		_, err := p.Publish(ctx, events.KindBatch, m)
		return err
	}

	if err := publish(t.Context(), jobEvent(t, "batches/failing", 1)); err != nil {
		t.Fatal(err)
	}
	fault.set(true)
	failed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		failed <- publish(ctx, jobEvent(t, "batches/failing", 2))
	}()
	// While the failing key is being retried, another job publishes.
	deadline := time.Now().Add(5 * time.Second)
	for fault.failures() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if fault.failures() == 0 {
		t.Fatal("the failing key was never attempted")
	}
	began := time.Now()
	if err := publish(t.Context(), jobEvent(t, "batches/other", 1)); err != nil {
		t.Fatalf("another job's publish during the failure: %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("another job's publish took %v while a key was failing, want it at once", d)
	}
	select {
	case err := <-failed:
		t.Fatalf("the failing publish returned %v before its deadline; want it still retrying", err)
	default:
	}
	if err := <-failed; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish on the failing key = %v, want ErrUnavailable", err)
	}

	// Pub/Sub takes the key again: the next publish succeeds, no resume.
	fault.set(false)
	if err := publish(t.Context(), jobEvent(t, "batches/failing", 3)); err != nil {
		t.Fatalf("publish on the key after its failure: %v", err)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("%d messages stored, want 3 (the failed one is not)", n)
	}
	got := receiveByKey(t, c, sub, 3)
	want := map[string][]string{
		"batches/failing": {"batches/failing-1", "batches/failing-3"},
		"batches/other":   {"batches/other-1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered per key:\n%v\nwant\n%v", got, want)
	}
}
