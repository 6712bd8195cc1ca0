package test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
)

// unavailableUntil is a pstest reactor for Publish that answers
// Unavailable, which the client retries, until a point in time.
type unavailableUntil struct{ until atomic.Int64 }

func (u *unavailableUntil) React(any) (bool, any, error) {
	if time.Now().UnixNano() < u.until.Load() {
		return true, nil, status.Error(codes.Unavailable, "injected by the test")
	}
	return false, nil, nil
}

// publishDeadlines records, for every Publish attempt the client makes
// (retries included), how long the attempt's context had left, and the
// latest deadline seen.
type publishDeadlines struct {
	mu     sync.Mutex
	left   []time.Duration
	latest time.Time
}

func (p *publishDeadlines) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasSuffix(method, "/Publish") {
		left := time.Duration(-1) // no deadline at all
		d, ok := ctx.Deadline()
		if ok {
			left = time.Until(d)
		}
		p.mu.Lock()
		p.left = append(p.left, left)
		if d.After(p.latest) {
			p.latest = d
		}
		p.mu.Unlock()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestPublishEndsWithTheRequest: while Pub/Sub answers Unavailable, the
// request ends at its deadline with 503 and releases its lease. The Pub/Sub
// client's own retries must end then too (the publish runs under the
// request's context), or the event could be published after the 503 and
// again by Gemini's retry. Every Publish attempt is checked to run under a
// deadline no later than the request's (with a little slack for the
// scheduling of a loaded machine): that does not depend on the client's
// backoff. Pub/Sub then heals once that deadline
// has passed, and no attempt may get through any more.
func TestPublishEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second // room for the retry's claim and publish on a loaded machine
	fault := &unavailableUntil{}
	var deadlines publishDeadlines
	s := newStack(t, setup{
		pstest:     []pstest.ServerReactorOption{{FuncName: "Publish", Reactor: fault}},
		pubsubDial: []grpc.DialOption{grpc.WithChainUnaryInterceptor(deadlines.intercept)},
		env:        map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": timeout.String(), "GEMINIHOOK_LEASE": "4s"},
	})
	s.warmUp()
	deadlines.mu.Lock()
	deadlines.left, deadlines.latest = nil, time.Time{}
	deadlines.mu.Unlock()
	id := newID()
	body := s.body(events.TypeVideoGenerated, "op_hung")
	fault.until.Store(time.Now().Add(time.Hour).UnixNano())
	r := s.send("v1", id, body)
	if r.status != 503 || r.latency > timeout+time.Second {
		t.Fatalf("Pub/Sub unavailable: %d %q after %v, want 503 within %v", r.status, r.body, r.latency, timeout)
	}
	deadlines.mu.Lock()
	left, latest := slices.Clone(deadlines.left), deadlines.latest
	deadlines.mu.Unlock()
	t.Logf("%d Publish attempts during the request; time left on their contexts: %v", len(left), left)
	if len(left) == 0 {
		t.Fatal("no Publish attempt: the test does not test a failing publish")
	}
	for i, l := range left {
		if l < 0 || l > timeout+250*time.Millisecond {
			t.Errorf("Publish attempt %d had %v left (-1: no deadline), want at most the request's %v: the client may retry after the 503", i+1, l, timeout)
		}
	}
	// Pub/Sub heals after the last deadline; a client still retrying
	// would get through now: give it a moment.
	time.Sleep(time.Until(latest))
	fault.until.Store(0)
	time.Sleep(time.Second)
	if ms := s.messages(0); len(ms) != 0 {
		t.Fatalf("%d messages published after the 503, want none: the publish outlived its request", len(ms))
	}
	if r := s.send("v1", id, body); r.status != 200 {
		t.Fatalf("Gemini's retry: %d %q, want 200", r.status, r.body)
	}
	if ms := byID(s.messages(1))[id]; len(ms) != 1 {
		t.Errorf("%d messages with ce-id %s, want exactly 1", len(ms), id)
	}
}

// refuseEvents is a pstest reactor that answers InvalidArgument to every
// Publish except to the quarantine topic: Pub/Sub refusing an event for
// good, which no retry can change.
type refuseEvents struct{ quarantine atomic.Pointer[string] }

func (r *refuseEvents) React(req any) (bool, any, error) {
	if p, ok := req.(*pubsubpb.PublishRequest); ok && p.Topic != *r.quarantine.Load() {
		return true, nil, status.Error(codes.InvalidArgument, "injected by the test: message refused")
	}
	return false, nil, nil
}

// TestRefusedEventIsQuarantined: an event that Pub/Sub refuses as invalid
// is kept on the quarantine topic, body as received, and answered 200,
// rather than 503 for the 24 hours of Gemini's retries and then lost.
func TestRefusedEventIsQuarantined(t *testing.T) {
	t.Parallel()
	reactor := &refuseEvents{}
	reactor.quarantine.Store(new(string))
	s := newStack(t, setup{pstest: []pstest.ServerReactorOption{{FuncName: "Publish", Reactor: reactor}}})
	quarantine := "projects/" + s.project + "/topics/" + topicQuarantine // known once the stack has its project
	reactor.quarantine.Store(&quarantine)

	id := newID()
	body := s.body(events.TypeBatchSucceeded, "batch_refused")
	r := s.send("jwt", id, body)
	if r.status != 200 {
		t.Fatalf("refused event: %d %q, want 200", r.status, r.body)
	}
	if st, _ := r.answer(t); st != "published" {
		t.Errorf("answer %q, want published (to the quarantine topic)", r.body)
	}
	ms := byID(s.messages(1))[id]
	if len(ms) != 1 || ms[0].topic != topicQuarantine {
		t.Fatalf("%d messages with ce-id %s (%v), want exactly 1 on %s", len(ms), id, ms, topicQuarantine)
	}
	m := ms[0].msg
	if string(m.Data) != string(body) || m.Attributes[events.AttrType] != events.CETypeQuarantine ||
		m.Attributes[events.AttrScheme] != "jwt" || !strings.Contains(m.Attributes[events.AttrReason], "invalid") {
		t.Errorf("quarantined message data %q attributes %v, want the body with ce-type %s, scheme jwt and the reason",
			m.Data, m.Attributes, events.CETypeQuarantine)
	}
	if n := len(s.accessLines(t, geminihook.ResultQuarantined)); n != 1 {
		t.Errorf("%d access lines with result %s, want 1:\n%s", n, geminihook.ResultQuarantined, s.logs)
	}
	if r := s.send("jwt", id, body); r.status != 200 {
		t.Errorf("retry: %d %q, want 200 duplicate", r.status, r.body)
	} else if st, _ := r.answer(t); st != "duplicate" {
		t.Errorf("retry: %q, want duplicate", r.body)
	}
}
