package test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// holdPublish is a client interceptor on the function's Pub/Sub connection
// that, while it holds, keeps every Publish attempt from the emulator until
// the test lets go or the attempt's context ends: to the function, Pub/Sub
// answers after the request's deadline. An attempt whose context is still
// alive when the test lets go is forwarded then, as a slow network would
// deliver it late, so that a publish outliving its request shows as a
// message landing after the answer. Holding in front of the server keeps
// the outcome unambiguous: an attempt the emulator never received cannot
// have been stored before the answer.
type holdPublish struct {
	mu      sync.Mutex
	gate    chan struct{} // non-nil while holding
	held    int           // attempts held
	expired int           // held attempts whose context ended first
	late    []time.Time   // held attempts forwarded when the test let go
}

func (h *holdPublish) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = make(chan struct{})
}

func (h *holdPublish) letGo() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate != nil {
		close(h.gate)
		h.gate = nil
	}
}

func (h *holdPublish) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if !strings.HasSuffix(method, "/Publish") {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	h.mu.Lock()
	gate := h.gate
	if gate != nil {
		h.held++
	}
	h.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			h.mu.Lock()
			h.expired++
			h.mu.Unlock()
			return status.FromContextError(err).Err()
		}
		h.mu.Lock()
		h.late = append(h.late, time.Now())
		h.mu.Unlock()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestPublishHeldPastTheRequest: Pub/Sub's answers are held past the
// request's deadline, and the publish starts late in the request (its first
// JWT delivery waits for a slow JWKS fetch, half the deadline). The
// function answers 503 at the deadline, and no message lands on any topic
// after that answer: the publish ended with the request, so nothing is
// left to send once Pub/Sub answers again. (A publish bounded by its own
// timeout from the publish call, as the batching client's was, would still
// be alive then and land.) Gemini's retry of the same delivery is then
// published exactly once.
func TestPublishHeldPastTheRequest(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	var hold holdPublish
	s := newStack(t, setup{
		pubsubDial: []grpc.DialOption{grpc.WithChainUnaryInterceptor(hold.intercept)},
		env:        map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": timeout.String(), "GEMINIHOOK_LEASE": "4s"},
	})
	s.warmUp() // v1 deliveries: the JWKS is not fetched yet

	id := newID()
	body := s.body(events.TypeVideoGenerated, "op_held")
	s.jwks.SetDelay(timeout / 2)
	hold.hold()
	r := s.send("jwt", id, body)
	hold.letGo() // a publish still alive gets through now
	s.jwks.SetDelay(0)
	if r.status != 503 || r.latency > timeout+time.Second {
		t.Fatalf("Pub/Sub held: %d %q after %v, want 503 within %v", r.status, r.body, r.latency, timeout)
	}
	time.Sleep(3 * time.Second) // time for a late publish to land
	hold.mu.Lock()
	held, expired, late := hold.held, hold.expired, len(hold.late)
	hold.mu.Unlock()
	t.Logf("held %d Publish attempts, %d ended with their context, %d forwarded after the answer", held, expired, late)
	if held == 0 {
		t.Fatal("no Publish attempt was held: the test does not test a held publish")
	}
	if late != 0 {
		t.Errorf("%d Publish attempts were still alive after the 503 and reached Pub/Sub", late)
	}
	if ms := s.messages(0); len(ms) != 0 {
		t.Fatalf("%d messages landed after the 503, want none: the publish outlived its request", len(ms))
	}

	if r := s.send("jwt", id, body); r.status != 200 {
		t.Fatalf("Gemini's retry: %d %q, want 200", r.status, r.body)
	} else if st, _ := r.answer(t); st != "published" {
		t.Errorf("Gemini's retry: %q, want published", r.body)
	}
	ms := byID(s.messages(1))[id]
	if len(ms) != 1 {
		t.Fatalf("%d messages with ce-id %s, want exactly 1", len(ms), id)
	}
	if ms[0].topic != topicVideo {
		t.Errorf("published on %s, want %s", ms[0].topic, topicVideo)
	}
}
