package publish

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

func msg(data string, attrs ...string) events.Message {
	m := events.Message{Data: []byte(data), Attributes: map[string]string{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		m.Attributes[attrs[i]] = attrs[i+1]
	}
	return m
}

func TestRouting(t *testing.T) {
	srv, c := newServer(t)
	const (
		def     = "projects/test-project/topics/events"
		batch   = "projects/test-project/topics/batch-events"
		video   = "projects/other-project/topics/video-events"
		quarant = "projects/test-project/topics/events-quarantine"
	)
	ensure(t, c, def, batch, video, quarant)
	p := newTestPublisher(t, c, Options{
		Topic: "events",
		Topics: map[events.Kind]string{
			events.KindBatch: "batch-events",
			events.KindVideo: video, // full name in another project
		},
	})

	tests := []struct {
		kind events.Kind
		want string
	}{
		{events.KindBatch, batch},
		{events.KindVideo, video},
		{events.KindInteraction, def},
		{events.KindUnknown, def},
		{"", def},
		{"kind-from-the-future", def},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			m := msg(`{"kind":"`+string(tt.kind)+`"}`, "job_kind", string(tt.kind), "ce-id", "msg_1")
			id, err := p.Publish(t.Context(), tt.kind, m)
			if err != nil {
				t.Fatalf("Publish(%q) = %v", tt.kind, err)
			}
			got := srv.Message(id)
			if got == nil {
				t.Fatalf("Publish(%q) returned id %q that the server does not know", tt.kind, id)
			}
			if got.Topic != tt.want {
				t.Errorf("Publish(%q) went to %s, want %s", tt.kind, got.Topic, tt.want)
			}
			if string(got.Data) != string(m.Data) || !maps.Equal(got.Attributes, m.Attributes) {
				t.Errorf("server got data %q attributes %v, want %q %v", got.Data, got.Attributes, m.Data, m.Attributes)
			}
			if got.OrderingKey != "" {
				t.Errorf("ordering key %q, want none", got.OrderingKey)
			}
		})
	}

	t.Run("quarantine", func(t *testing.T) {
		m := events.Message{Data: []byte("\xff\x00not json"), Attributes: map[string]string{"reason": "unparseable"}}
		id, err := p.Quarantine(t.Context(), m)
		if err != nil {
			t.Fatalf("Quarantine = %v", err)
		}
		got := srv.Message(id)
		if got.Topic != quarant {
			t.Errorf("Quarantine went to %s, want %s", got.Topic, quarant)
		}
		if string(got.Data) != string(m.Data) || !maps.Equal(got.Attributes, m.Attributes) {
			t.Errorf("server got data %q attributes %v, want %q %v", got.Data, got.Attributes, m.Data, m.Attributes)
		}
	})

	if got, want := p.Topics(), []string{def, quarant, batch, video}; !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("Topics() = %q, want %q sorted", got, want)
	}
}

func TestQuarantineTopicOption(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events", "dead-letters")
	p := newTestPublisher(t, c, Options{Topic: "events", QuarantineTopic: "dead-letters"})
	id, err := p.Quarantine(t.Context(), msg("x"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := srv.Message(id).Topic, "projects/test-project/topics/dead-letters"; got != want {
		t.Errorf("Quarantine went to %s, want %s", got, want)
	}
}

// Each topic is resolved once in New and shared by every kind that maps to
// it, however the topic is spelled.
func TestPublishersReused(t *testing.T) {
	_, c := newServer(t)
	ensure(t, c, "events", "events-quarantine")
	p := newTestPublisher(t, c, Options{
		Topic: "events",
		Topics: map[events.Kind]string{
			events.KindBatch: "projects/test-project/topics/events", // same as the default
			events.KindVideo: "events",
		},
	})
	if len(p.all) != 2 {
		t.Fatalf("%d topics for 2 distinct topics: %v", len(p.all), p.Topics())
	}
	before := []any{p.def, p.quarantine, p.byKind[events.KindBatch], p.byKind[events.KindVideo]}
	if before[0] != before[2] || before[0] != before[3] {
		t.Errorf("kinds mapping to the default topic got topics of their own")
	}
	for range 5 {
		for _, k := range kinds {
			if _, err := p.Publish(t.Context(), k, msg("x")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Quarantine(t.Context(), msg("x")); err != nil {
			t.Fatal(err)
		}
	}
	after := []any{p.def, p.quarantine, p.byKind[events.KindBatch], p.byKind[events.KindVideo]}
	if !slices.Equal(before, after) {
		t.Errorf("topics changed after publishing")
	}
}

// Every Publish attempt runs under the caller's deadline or
// Options.Timeout counted from the call (DefaultTimeout when zero),
// whichever ends first.
func TestAttemptDeadline(t *testing.T) {
	var rec attempts
	_, c := newServerDial(t, []grpc.DialOption{rec.option()})
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	q := newTestPublisher(t, c, Options{Topic: "events", Timeout: 3 * time.Second})
	if p.timeout != DefaultTimeout || q.timeout != 3*time.Second {
		t.Errorf("timeouts %v and %v, want %v and 3s", p.timeout, q.timeout, DefaultTimeout)
	}
	tests := []struct {
		name     string
		p        *Publisher
		deadline time.Duration // of the caller's context; 0: none
		want     time.Duration // from the call to the attempt's deadline
	}{
		{"default timeout, no caller deadline", p, 0, DefaultTimeout},
		{"default timeout first", p, time.Hour, DefaultTimeout},
		{"explicit timeout first", q, time.Hour, 3 * time.Second},
		{"caller deadline first", q, 500 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			ctx := t.Context()
			start := time.Now()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
			}
			if _, err := tt.p.Publish(ctx, events.KindBatch, msg("x")); err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			at := rec.list()
			if len(at) != 1 {
				t.Fatalf("%d Publish attempts, want 1", len(at))
			}
			d := at[0].deadline
			if d.IsZero() {
				t.Fatal("the attempt ran without a deadline")
			}
			if tt.deadline == tt.want {
				if cd, _ := ctx.Deadline(); !d.Equal(cd) {
					t.Errorf("attempt deadline %v, want the caller's %v", d, cd)
				}
			} else if d.Before(start.Add(tt.want)) || d.After(end.Add(tt.want)) {
				t.Errorf("attempt deadline %v after the call, want %v", d.Sub(start), tt.want)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	_, c := newServer(t)
	long := strings.Repeat("t", maxTopicID)
	tests := []struct {
		name string
		o    Options
	}{
		{"no topic", Options{}},
		{"only per-kind topics", Options{Topics: map[events.Kind]string{events.KindBatch: "batch"}}},
		{"short id", Options{Topic: "ev"}},
		{"id starts with digit", Options{Topic: "1events"}},
		{"id starts with goog", Options{Topic: "google-events"}},
		{"id with space", Options{Topic: "my events"}},
		{"two segments", Options{Topic: "test-project/events"}},
		{"wrong collection", Options{Topic: "projects/p/subscriptions/events"}},
		{"empty project", Options{Topic: "projects//topics/events"}},
		{"five segments", Options{Topic: "projects/p/topics/events/x"}},
		{"quarantine derived too long", Options{Topic: long}},
		{"bad quarantine", Options{Topic: "events", QuarantineTopic: "q"}},
		{"unknown kind", Options{Topic: "events", Topics: map[events.Kind]string{"batches": "batch"}}},
		{"empty kind topic", Options{Topic: "events", Topics: map[events.Kind]string{events.KindVideo: ""}}},
		{"bad kind topic", Options{Topic: "events", Topics: map[events.Kind]string{events.KindVideo: "vi"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(c, tt.o)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("New(%+v) = %v, %v; want ErrInvalidOptions", tt.o, p, err)
			}
		})
	}
	t.Run("nil client", func(t *testing.T) {
		if _, err := New(nil, Options{Topic: "events"}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("New(nil) = %v, want ErrInvalidOptions", err)
		}
	})
}

func TestCheckMessage(t *testing.T) {
	attrs := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m["k"+strings.Repeat("x", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name    string
		m       events.Message
		wantErr bool
	}{
		{"data only", events.Message{Data: []byte("{}")}, false},
		{"attributes only", events.Message{Attributes: map[string]string{"a": "b"}}, false},
		{"empty value", events.Message{Data: []byte("x"), Attributes: map[string]string{"a": ""}}, false},
		{"nothing", events.Message{}, true},
		{"empty data, empty map", events.Message{Data: []byte{}, Attributes: map[string]string{}}, true},
		{"100 attributes", events.Message{Attributes: attrs(100)}, false},
		{"101 attributes", events.Message{Attributes: attrs(101)}, true},
		{"key 256 bytes", events.Message{Attributes: map[string]string{strings.Repeat("k", 256): "v"}}, false},
		{"key 257 bytes", events.Message{Attributes: map[string]string{strings.Repeat("k", 257): "v"}}, true},
		{"value 1024 bytes", events.Message{Attributes: map[string]string{"k": strings.Repeat("v", 1024)}}, false},
		{"value 1025 bytes", events.Message{Attributes: map[string]string{"k": strings.Repeat("v", 1025)}}, true},
		{"empty key", events.Message{Attributes: map[string]string{"": "v"}}, true},
		{"reserved key", events.Message{Attributes: map[string]string{"googclient_x": "v"}}, true},
		{"key not utf-8", events.Message{Attributes: map[string]string{"k\xff": "v"}}, true},
		{"value not utf-8", events.Message{Attributes: map[string]string{"k": "\xc3("}}, true},
		{"binary data", events.Message{Data: []byte{0xff, 0, 0xc3}}, false},
		{"10 MB", events.Message{Data: make([]byte, maxMessageBytes-2), Attributes: map[string]string{"k": "v"}}, false},
		{"over 10 MB", events.Message{Data: make([]byte, maxMessageBytes-1), Attributes: map[string]string{"k": "v"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkMessage(tt.m)
			if tt.wantErr != (err != nil) || err != nil && !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("checkMessage = %v, want error %v (ErrInvalidMessage)", err, tt.wantErr)
			}
		})
	}
}

// An invalid message is refused before any RPC.
func TestPublishInvalidMessage(t *testing.T) {
	f := &faults{}
	_, c := newServer(t, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	_, err := p.Publish(t.Context(), events.KindBatch, events.Message{})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Publish(empty) = %v, want ErrInvalidMessage", err)
	}
	_, err = p.Quarantine(t.Context(), msg("x", "goog-key", "v"))
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Quarantine(reserved key) = %v, want ErrInvalidMessage", err)
	}
	if f.calls != 0 {
		t.Errorf("%d Publish RPCs for invalid messages, want 0", f.calls)
	}
}

// Publish does not retain the message: the caller may reuse it as soon as
// Publish returns, even when Publish gave up on an attempt that the server
// still held; what the server stores is the message as it was at the call.
func TestPublishDoesNotRetainMessage(t *testing.T) {
	f := &faults{stall: make(chan struct{})}
	srv, c := newServer(t, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	release := sync.OnceFunc(func() { close(f.stall) })
	t.Cleanup(release) // before p.Close and srv.Close
	m := msg("data", "a", "1")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Publish(ctx, events.KindBatch, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish = %v, want the caller's deadline", err)
	}
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	if calls != 1 {
		t.Fatalf("the server saw %d Publish requests, want the 1 it holds", calls)
	}
	m.Data[0] = 'X'
	m.Attributes["a"] = "2"
	release() // the server goes on with the request it held
	var got []*pstest.Message
	deadline := time.Now().Add(5 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = srv.Messages()
	}
	if len(got) != 1 || string(got[0].Data) != "data" || got[0].Attributes["a"] != "1" {
		t.Errorf("server got %v, want the message as it was when published", got)
	}
}

// A request whose context has already ended publishes nothing.
func TestContextAlreadyCanceled(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := p.Publish(ctx, events.KindBatch, msg("x"))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context = %v, want ErrUnavailable wrapping Canceled", err)
	}
	p.Close() // waits for anything still in flight
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("a canceled request published %d messages", n)
	}
}

func TestMissingTopic(t *testing.T) {
	_, c := newServer(t)
	p := newTestPublisher(t, c, Options{Topic: "events"}) // no topic created
	// NotFound is not retried: the error comes long before this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := p.Publish(ctx, events.KindBatch, msg("x"))
	if !errors.Is(err, ErrTopicNotFound) || status.Code(err) != codes.NotFound {
		t.Errorf("Publish to a missing topic = %v, want ErrTopicNotFound wrapping NotFound", err)
	}
	if ctx.Err() != nil {
		t.Errorf("the publish waited until the context ended")
	}
	if _, err := p.Quarantine(ctx, msg("x")); !errors.Is(err, ErrTopicNotFound) {
		t.Errorf("Quarantine to a missing topic = %v, want ErrTopicNotFound", err)
	}
}

// Codes the client does not retry come back translated; the same
// Publisher then publishes again once the service recovers.
func TestErrorCodesThenRecovery(t *testing.T) {
	f := &faults{}
	srv, c := newServer(t, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, ErrTopicNotFound},
		{codes.PermissionDenied, ErrUnavailable},
		{codes.Unauthenticated, ErrUnavailable},
		{codes.FailedPrecondition, ErrUnavailable},
		{codes.InvalidArgument, ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			f.fail(tt.code)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := p.Publish(ctx, events.KindBatch, msg("x"))
			if !errors.Is(err, tt.want) || status.Code(err) != tt.code {
				t.Errorf("Publish with %v injected = %v, want %v wrapping the status", tt.code, err, tt.want)
			}
			f.fail(codes.OK)
			id, err := p.Publish(ctx, events.KindBatch, msg("after"))
			if err != nil {
				t.Fatalf("Publish after recovery = %v", err)
			}
			if got := srv.Message(id); got == nil || string(got.Data) != "after" {
				t.Errorf("message after recovery not on the server: %v", got)
			}
		})
	}
}

// Unavailable is retried by the client until the caller's context ends,
// then reported as ErrUnavailable; the publisher stays usable.
func TestUnavailableThenRecovery(t *testing.T) {
	f := &faults{}
	srv, c := newServer(t, f.option())
	ensure(t, c, "events")

	t.Run("caller deadline", func(t *testing.T) {
		p := newTestPublisher(t, c, Options{Topic: "events"})
		f.fail(codes.Unavailable)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := p.Publish(ctx, events.KindBatch, msg("lost?"))
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish while unavailable = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
		}
		f.fail(codes.OK)
		id, err := p.Publish(t.Context(), events.KindBatch, msg("after"))
		if err != nil {
			t.Fatalf("Publish after recovery = %v", err)
		}
		if got := srv.Message(id); got == nil || string(got.Data) != "after" {
			t.Errorf("message after recovery not on the server: %v", got)
		}
	})

	t.Run("publish timeout", func(t *testing.T) {
		// Options.Timeout ends the client's retries even when the caller
		// would wait longer.
		p := newTestPublisher(t, c, Options{Topic: "events", Timeout: 300 * time.Millisecond})
		f.fail(codes.Unavailable)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		_, err := p.Publish(ctx, events.KindBatch, msg("x"))
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Publish while unavailable = %v, want ErrUnavailable", err)
		}
		if ctx.Err() != nil {
			t.Errorf("Options.Timeout did not end the publish before the caller's deadline")
		}
		f.fail(codes.OK)
		if _, err := p.Publish(t.Context(), events.KindBatch, msg("after")); err != nil {
			t.Fatalf("Publish after recovery = %v", err)
		}
	})
}

// A server that never answers holds the caller no longer than its context.
func TestContextDeadline(t *testing.T) {
	f := &faults{stall: make(chan struct{})}
	_, c := newServer(t, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	t.Cleanup(func() { close(f.stall) }) // runs before p.Close, which waits for the RPC

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Publish(ctx, events.KindBatch, msg("x"))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish to a stalled server = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
}

func TestConcurrentPublishes(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events", "batch-events")
	p := newTestPublisher(t, c, Options{Topic: "events", Topics: map[events.Kind]string{events.KindBatch: "batch-events"}})
	const n = 100
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = p.Publish(t.Context(), kinds[i%len(kinds)], msg("x"))
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publish %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Errorf("id %q returned twice", ids[i])
		}
		seen[ids[i]] = true
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("server holds %d messages, want %d", got, n)
	}
}

func TestClose(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events", "events-quarantine")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	if _, err := p.Publish(t.Context(), events.KindBatch, msg("before")); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close() // idempotent
	if _, err := p.Publish(t.Context(), events.KindBatch, msg("after")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Quarantine(t.Context(), msg("after")); !errors.Is(err, ErrClosed) {
		t.Errorf("Quarantine after Close = %v, want ErrClosed", err)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("server holds %d messages, want 1", got)
	}
}

// Publishes racing with Close either succeed or fail with ErrClosed
// (run with -race).
func TestCloseWhilePublishing(t *testing.T) {
	srv, c := newServer(t)
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, shut int
	)
	for range 8 {
		wg.Go(func() {
			for {
				_, err := p.Publish(t.Context(), events.KindBatch, msg("x"))
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrClosed):
					shut++
				default:
					t.Errorf("Publish during Close = %v, want nil or ErrClosed", err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	p.Close()
	wg.Wait()
	if shut != 8 {
		t.Errorf("%d publishers saw ErrClosed, want 8", shut)
	}
	if got := len(srv.Messages()); got != ok {
		t.Errorf("server holds %d messages, %d publishes succeeded", got, ok)
	}
}

func TestEnsureTopics(t *testing.T) {
	srv, c := newServer(t)
	names := []string{"events", "projects/test-project/topics/events", "projects/other/topics/x-events", "batch"}
	for i := range 2 { // the second run finds them all
		if err := EnsureTopics(t.Context(), c, names...); err != nil {
			t.Fatalf("run %d: EnsureTopics = %v", i, err)
		}
	}
	for _, name := range []string{"projects/test-project/topics/events", "projects/other/topics/x-events", "projects/test-project/topics/batch"} {
		if _, err := srv.GServer.GetTopic(t.Context(), &pubsubpb.GetTopicRequest{Topic: name}); err != nil {
			t.Errorf("GetTopic(%s) = %v", name, err)
		}
	}
	if err := EnsureTopics(t.Context(), c); err != nil {
		t.Errorf("EnsureTopics() = %v", err)
	}

	t.Run("invalid name creates nothing", func(t *testing.T) {
		err := EnsureTopics(t.Context(), c, "fresh-topic", "no")
		if !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("EnsureTopics(bad) = %v, want ErrInvalidOptions", err)
		}
		if _, err := srv.GServer.GetTopic(t.Context(), &pubsubpb.GetTopicRequest{Topic: "projects/test-project/topics/fresh-topic"}); status.Code(err) != codes.NotFound {
			t.Errorf("GetTopic(fresh-topic) = %v, want NotFound", err)
		}
	})
	t.Run("nil client", func(t *testing.T) {
		if err := EnsureTopics(t.Context(), nil, "events"); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("EnsureTopics(nil) = %v, want ErrInvalidOptions", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		_, c := newServer(t, pstest.WithErrorInjection("CreateTopic", codes.PermissionDenied, "no"))
		err := EnsureTopics(t.Context(), c, "events")
		if !errors.Is(err, ErrUnavailable) || status.Code(err) != codes.PermissionDenied {
			t.Errorf("EnsureTopics = %v, want ErrUnavailable wrapping PermissionDenied", err)
		}
	})
}

// The publishers are used end to end by New + EnsureTopics(p.Topics()...).
func TestEnsureTopicsOfPublisher(t *testing.T) {
	_, c := newServer(t)
	p := newTestPublisher(t, c, Options{Topic: "events", Topics: map[events.Kind]string{events.KindVideo: "video"}})
	ensure(t, c, p.Topics()...)
	for _, k := range kinds {
		if _, err := p.Publish(t.Context(), k, msg("x")); err != nil {
			t.Errorf("Publish(%s) = %v", k, err)
		}
	}
	if _, err := p.Quarantine(t.Context(), msg("x")); err != nil {
		t.Errorf("Quarantine = %v", err)
	}
}
