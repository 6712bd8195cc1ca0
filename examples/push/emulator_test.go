package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/publish"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// statusCounter records the statuses the handler answered.
type statusCounter struct {
	mu       sync.Mutex
	statuses []int
}

func (s *statusCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.statuses = append(s.statuses, rec.status)
		s.mu.Unlock()
	})
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.statuses {
		if st == status {
			n++
		}
	}
	return n
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// TestPushFromEmulator: the official Pub/Sub emulator pushes an event
// geminihook published to the handler. The emulator cannot mint Google's
// OIDC tokens, so one subscription pushes through a stand-in for that step
// (a proxy that attaches a token signed by the test's "Google" key, as
// Pub/Sub does with the push config's oidc_token): the event is processed
// and acknowledged (204). Another subscription pushes straight to the
// handler, without a token, as anyone on the internet could: every attempt
// is refused 401 and nothing is processed.
func TestPushFromEmulator(t *testing.T) {
	t.Parallel()
	psEmu := emulator.PubSub(t)
	project := emulator.ProjectID(t)
	g := newGoogle(t)
	processed := make(chan *events.Event, 10)
	h, logs := g.handler(t, func(_ context.Context, ev *events.Event) error {
		processed <- ev
		return nil
	})
	var statuses statusCounter
	mux := http.NewServeMux()
	mux.Handle("POST /events", statuses.wrap(h))
	service := httptest.NewServer(mux)
	t.Cleanup(service.Close)

	target, _ := url.Parse(service.URL)
	minting := httputil.NewSingleHostReverseProxy(target)
	token := g.token(claims(testNow))
	signing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
		minting.ServeHTTP(w, r)
	}))
	t.Cleanup(signing.Close)

	ps, err := pubsub.NewClient(t.Context(), project, psEmu.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	pub, err := publish.New(ps, publish.Options{Topic: "gemini-job-events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := publish.EnsureTopics(t.Context(), ps, pub.Topics()...); err != nil {
		t.Fatal(err)
	}
	for name, endpoint := range map[string]string{"signed": signing.URL + "/events", "unsigned": service.URL + "/events"} {
		sub := "projects/" + project + "/subscriptions/push-" + name
		if _, err := ps.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
			Name: sub, Topic: "projects/" + project + "/topics/gemini-job-events", AckDeadlineSeconds: 10,
			PushConfig: &pubsubpb.PushConfig{PushEndpoint: endpoint},
		}); err != nil {
			t.Fatal(err)
		}
		// Stop the emulator's retries when the test ends.
		t.Cleanup(func() {
			ps.SubscriptionAdminClient.DeleteSubscription(context.Background(), &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
		})
	}

	m := eventMessage(t)
	if _, err := pub.Publish(t.Context(), events.KindBatch, m); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-processed:
		if ev.WebhookID != "msg_push_1" || ev.JobID != "batches/7" || string(ev.UserMetadata) != `{"tenant":"acme"}` {
			t.Errorf("processed %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("nothing processed; statuses %v; log:\n%s", statuses.statuses, logs)
	}
	deadline := time.Now().Add(30 * time.Second)
	for statuses.count(http.StatusUnauthorized) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if statuses.count(http.StatusUnauthorized) == 0 {
		t.Errorf("the unsigned push was never refused; statuses %v", statuses.statuses)
	}
	if n := statuses.count(http.StatusNoContent); n != 1 {
		t.Errorf("%d acknowledged pushes, want 1 (the signed one); statuses %v", n, statuses.statuses)
	}
	select {
	case ev := <-processed:
		t.Errorf("processed a second time: %+v", ev)
	default:
	}
}
