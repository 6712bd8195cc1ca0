package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// A publish whose context is already past its deadline (or canceled) makes
// no attempt: the client sends nothing and the server holds no message.
func TestPastDeadlineSendsNothing(t *testing.T) {
	var rec attempts
	f := &faults{}
	srv, c := newServerDial(t, []grpc.DialOption{rec.option()}, f.option())
	ensure(t, c, "events", "events-quarantine")
	p := newTestPublisher(t, c, Options{Topic: "events"})
	past, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	zero, cancel0 := context.WithTimeout(t.Context(), 0)
	defer cancel0()
	canceled, cancel1 := context.WithCancel(t.Context())
	cancel1()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"deadline a second ago", past, context.DeadlineExceeded},
		{"zero timeout", zero, context.DeadlineExceeded},
		{"canceled", canceled, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Publish(tt.ctx, events.KindBatch, msg("x")); !errors.Is(err, ErrUnavailable) || !errors.Is(err, tt.want) {
				t.Errorf("Publish = %v, want ErrUnavailable wrapping %v", err, tt.want)
			}
			if _, err := p.Quarantine(tt.ctx, msg("x")); !errors.Is(err, ErrUnavailable) || !errors.Is(err, tt.want) {
				t.Errorf("Quarantine = %v, want ErrUnavailable wrapping %v", err, tt.want)
			}
		})
	}
	p.Close() // waits for anything in flight
	if n := len(rec.list()); n != 0 {
		t.Errorf("the client made %d Publish attempts, want none", n)
	}
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	if calls != 0 {
		t.Errorf("the server saw %d Publish requests, want none", calls)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("the server holds %d messages, want none", n)
	}
}

// The server holds its answer past the caller's deadline: Publish returns
// a deadline error at the deadline, and no retry is sent after it (the
// client does not go on in the background). The one request the server
// already held is its business: it may still store it (at least once).
func TestDeadlineWhileServerHoldsAnswer(t *testing.T) {
	var rec attempts
	f := &faults{stall: make(chan struct{})}
	srv, c := newServerDial(t, []grpc.DialOption{rec.option()}, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"}) // DefaultTimeout: far later than the deadline
	release := sync.OnceFunc(func() { close(f.stall) })
	t.Cleanup(release) // before p.Close and srv.Close

	deadline := time.Now().Add(300 * time.Millisecond)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	_, err := p.Publish(ctx, events.KindBatch, msg("held"))
	returned := time.Now()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish to a server holding its answer = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	if late := returned.Sub(deadline); late < 0 || late > 500*time.Millisecond {
		t.Errorf("Publish returned %v after the deadline, want at the deadline", late)
	}
	// Any retry would show now, while the server still holds the first
	// request (the interceptor sees attempts before the server does).
	time.Sleep(time.Second)
	at := rec.list()
	if len(at) != 1 {
		t.Fatalf("%d Publish attempts, want 1 (no retry after the deadline)", len(at))
	}
	if !at[0].deadline.Equal(deadline) || at[0].start.After(deadline) {
		t.Errorf("attempt started %v before the deadline with deadline %v, want the caller's %v",
			deadline.Sub(at[0].start), at[0].deadline, deadline)
	}
	release()
	time.Sleep(200 * time.Millisecond)
	if n := len(rec.list()); n != 1 {
		t.Errorf("%d Publish attempts once the server answered, want still 1", n)
	}
	if n := len(srv.Messages()); n > 1 {
		t.Errorf("the server holds %d messages for 1 attempt", n)
	}
}

// Pub/Sub answers Unavailable (retried) until after the caller's deadline:
// every attempt starts before the deadline and under it, Publish returns
// at the deadline saying what the attempts got, and once Pub/Sub heals
// nothing is published: no retry outlives the call.
func TestDeadlineDuringRetries(t *testing.T) {
	var rec attempts
	f := &faults{}
	srv, c := newServerDial(t, []grpc.DialOption{rec.option()}, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})

	f.fail(codes.Unavailable)
	deadline := time.Now().Add(time.Second)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	_, err := p.Publish(ctx, events.KindBatch, msg("x"))
	returned := time.Now()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Unavailable") {
		t.Errorf("Publish = %v, want ErrUnavailable wrapping DeadlineExceeded and naming the last answer", err)
	}
	if late := returned.Sub(deadline); late < 0 || late > 500*time.Millisecond {
		t.Errorf("Publish returned %v after the deadline, want at the deadline", late)
	}
	time.Sleep(500 * time.Millisecond)
	f.fail(codes.OK) // a retry still running would get through now
	time.Sleep(time.Second)
	at := rec.list()
	t.Logf("%d attempts", len(at))
	if len(at) < 2 {
		t.Errorf("%d Publish attempts in 1 s of Unavailable, want retries", len(at))
	}
	for i, a := range at {
		if a.start.After(deadline) || !a.deadline.Equal(deadline) {
			t.Errorf("attempt %d started %v after the deadline, with deadline %v; want before it, under it",
				i+1, a.start.Sub(deadline), a.deadline)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("the server holds %d messages, want none: the publish outlived its call", n)
	}
}

// Which codes are retried (within the deadline) and which are answered at
// once, translated to the package's errors.
func TestRetryPolicy(t *testing.T) {
	var rec attempts
	ff := &failFirst{}
	srv, c := newServerDial(t, []grpc.DialOption{rec.option()}, ff.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})

	retried := []codes.Code{codes.Unavailable, codes.Internal, codes.Aborted, codes.ResourceExhausted, codes.Unknown, codes.DeadlineExceeded}
	for _, code := range retried {
		t.Run("retried/"+code.String(), func(t *testing.T) {
			rec.reset()
			ff.set(code, 2)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			id, err := p.Publish(ctx, events.KindBatch, msg("retried "+code.String()))
			if err != nil {
				t.Fatalf("Publish after 2 × %v = %v, want success on the third attempt", code, err)
			}
			if n := len(rec.list()); n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			if got := srv.Message(id); got == nil || string(got.Data) != "retried "+code.String() {
				t.Errorf("message %s not on the server: %v", id, got)
			}
		})
	}
	answered := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, ErrTopicNotFound},
		{codes.InvalidArgument, ErrInvalidMessage},
		{codes.PermissionDenied, ErrUnavailable},
		{codes.Unauthenticated, ErrUnavailable},
		{codes.FailedPrecondition, ErrUnavailable},
		{codes.Canceled, ErrUnavailable},
		{codes.OutOfRange, ErrUnavailable},
	}
	for _, tt := range answered {
		t.Run("answered/"+tt.code.String(), func(t *testing.T) {
			rec.reset()
			ff.set(tt.code, 1)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := p.Publish(ctx, events.KindBatch, msg("x"))
			if !errors.Is(err, tt.want) || status.Code(err) != tt.code {
				t.Errorf("Publish with %v = %v, want %v wrapping the status", tt.code, err, tt.want)
			}
			if n := len(rec.list()); n != 1 {
				t.Errorf("%d attempts, want 1 (not retried)", n)
			}
			ff.set(codes.OK, 0)
		})
	}
	t.Run("missing topic", func(t *testing.T) {
		rec.reset()
		q := newTestPublisher(t, c, Options{Topic: "not-created"})
		_, err := q.Publish(t.Context(), events.KindBatch, msg("x"))
		if !errors.Is(err, ErrTopicNotFound) || status.Code(err) != codes.NotFound {
			t.Errorf("Publish to a missing topic = %v, want ErrTopicNotFound wrapping NotFound", err)
		}
		if n := len(rec.list()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("invalid message", func(t *testing.T) {
		rec.reset()
		_, err := p.Publish(t.Context(), events.KindBatch, msg("x", "k", "\xff"))
		if !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Publish(not UTF-8) = %v, want ErrInvalidMessage", err)
		}
		if n := len(rec.list()); n != 0 {
			t.Errorf("%d attempts for an invalid message, want 0", n)
		}
	})
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.Internal, "server error"), true},
		{status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8"), false},
		{status.Error(codes.Canceled, "x"), false},
		{status.Error(codes.NotFound, "x"), false},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Aborted, "x")), true},
		{context.DeadlineExceeded, false},
		{errors.New("no status"), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// WarmUp makes one Publish call of no message, not retried, and publishes
// nothing; a failure is translated as Publish's are.
func TestWarmUp(t *testing.T) {
	var rec attempts
	f := &faults{}
	srv, c := newServerDial(t, []grpc.DialOption{rec.option()}, f.option())
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events"})

	if err := p.WarmUp(t.Context()); err != nil {
		t.Errorf("WarmUp = %v", err)
	}
	if n := len(rec.list()); n != 1 {
		t.Errorf("%d Publish attempts, want 1", n)
	}
	f.fail(codes.InvalidArgument) // what Pub/Sub answers to a request of no message
	if err := p.WarmUp(t.Context()); err != nil {
		t.Errorf("WarmUp answered InvalidArgument = %v, want nil", err)
	}
	rec.reset()
	f.fail(codes.Unavailable)
	if err := p.WarmUp(t.Context()); !errors.Is(err, ErrUnavailable) || status.Code(err) != codes.Unavailable {
		t.Errorf("WarmUp answered Unavailable = %v, want ErrUnavailable wrapping it", err)
	}
	if n := len(rec.list()); n != 1 {
		t.Errorf("%d Publish attempts for Unavailable, want 1 (no retry)", n)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("the server holds %d messages after WarmUp, want none", n)
	}
	p.Close()
	if err := p.WarmUp(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("WarmUp after Close = %v, want ErrClosed", err)
	}
}
