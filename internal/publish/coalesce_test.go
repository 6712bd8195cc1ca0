package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// gate is a pstest reactor for Publish that records the data of every
// request's messages and, while held, lets each request through only when
// the test calls pass (or open). refuse makes it answer InvalidArgument to
// any request of more than one message.
type gate struct {
	mu       sync.Mutex
	requests [][]string // each request's messages' data
	keys     [][]string // and their ordering keys
	held     bool
	refuse   bool

	pass    chan struct{} // one receive per request while held
	open    chan struct{} // closed by release: every request passes
	release func()
}

func newGate(t testing.TB, held bool) *gate {
	g := &gate{held: held, pass: make(chan struct{}), open: make(chan struct{})}
	g.release = sync.OnceFunc(func() { close(g.open) })
	t.Cleanup(g.release) // before the server closes
	return g
}

func (g *gate) React(req any) (bool, any, error) {
	r := req.(*pubsubpb.PublishRequest)
	var data, keys []string
	for _, m := range r.Messages {
		data = append(data, string(m.Data))
		keys = append(keys, m.OrderingKey)
	}
	g.mu.Lock()
	g.requests = append(g.requests, data)
	g.keys = append(g.keys, keys)
	held, refuse := g.held, g.refuse
	g.mu.Unlock()
	if held {
		select {
		case <-g.pass:
		case <-g.open:
		}
	}
	if refuse && len(r.Messages) > 1 {
		return true, nil, status.Error(codes.InvalidArgument, "refused by the test: more than one message")
	}
	return false, nil, nil
}

func (g *gate) option() pstest.ServerReactorOption {
	return pstest.ServerReactorOption{FuncName: "Publish", Reactor: g}
}

// seen returns the requests the server has received so far.
func (g *gate) seen() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// waitFor waits until cond holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// queued returns the number of publishes waiting for a call to topic.
func queued(p *Publisher, kind events.Kind) int {
	t := p.byKind[kind]
	if t == nil {
		t = p.def
	}
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	return len(t.q.waiting)
}

// busyTopic starts a pstest server whose Publish answers g holds, and a
// Publisher of o on topic "events" with one call slot (MaxCalls: 1), and
// fills that slot with a publish of first that the server holds: from
// then on, publishes wait in the queue. It returns the server, the
// Publisher, and the first publish's result, which comes once g lets that
// call through. dial adds options to the client's connection.
func busyTopic(t *testing.T, g *gate, o Options, first events.Message, dial ...grpc.DialOption) (*pstest.Server, *Publisher, <-chan result) {
	t.Helper()
	srv, c := newServerDial(t, dial, g.option())
	ensure(t, c, "events")
	o.Topic, o.MaxCalls = "events", 1
	p := newTestPublisher(t, c, o)
	done := make(chan result, 1)
	go func() {
		id, err := p.Publish(t.Context(), events.KindBatch, first)
		done <- result{data: string(first.Data), id: id, err: err, at: time.Now()}
	}()
	waitFor(t, "the first call to reach the server", func() bool { return len(g.seen()) == 1 })
	return srv, p, done
}

type result struct {
	data string
	id   string
	err  error
	at   time.Time
}

// publishAll starts one Publish per message in its own goroutine, each
// once the previous one is queued when wait is true, and returns a
// function that waits for and returns their results in the same order.
func publishAll(t *testing.T, p *Publisher, ctxs []context.Context, ms []events.Message, queuedBefore int) func() []result {
	t.Helper()
	res := make([]result, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			id, err := p.Publish(ctxs[i], events.KindBatch, m)
			res[i] = result{data: string(m.Data), id: id, err: err, at: time.Now()}
		})
		// One at a time, so that the queue's order is ms's order.
		waitFor(t, fmt.Sprintf("publish %d to queue", i), func() bool { return queued(p, events.KindBatch) == queuedBefore+i+1 })
	}
	return func() []result { wg.Wait(); return res }
}

func repeat(ctx context.Context, n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = ctx
	}
	return ctxs
}

// While the topic's one call is in flight (MaxCalls: 1), ten more publishes
// wait; when it ends, they share one call, in the order they came, and
// each gets the ID of its own message.
func TestWaitingPublishesShareOneCall(t *testing.T) {
	g := newGate(t, true)
	srv, p, first := busyTopic(t, g, Options{}, msg("first"))

	var ms []events.Message
	for i := range 10 {
		ms = append(ms, msg(fmt.Sprintf("waiting %d", i)))
	}
	wait := publishAll(t, p, repeat(t.Context(), len(ms)), ms, 0)
	g.pass <- struct{}{} // the first call
	g.pass <- struct{}{} // the shared one
	results := append([]result{<-first}, wait()...)

	want := [][]string{{"first"}}
	var shared []string
	for _, m := range ms {
		shared = append(shared, string(m.Data))
	}
	want = append(want, shared)
	if got := g.seen(); !equalRequests(got, want) {
		t.Errorf("requests the server got:\n%q\nwant:\n%q", got, want)
	}
	ids := map[string]bool{}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("Publish(%q) = %v", r.data, r.err)
			continue
		}
		if got := srv.Message(r.id); got == nil || string(got.Data) != r.data {
			t.Errorf("Publish(%q) returned ID %s, whose message on the server is %v", r.data, r.id, got)
		}
		if ids[r.id] {
			t.Errorf("ID %s returned twice", r.id)
		}
		ids[r.id] = true
	}
	if n := len(srv.Messages()); n != 11 {
		t.Errorf("the server holds %d messages, want 11", n)
	}
}

func equalRequests(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// A waiting publish whose context ends before a call takes it returns at
// once with its context's error, and its message is never sent; the others
// are not held up by it.
func TestWaitingPublishLeavesWhenItsContextEnds(t *testing.T) {
	g := newGate(t, true)
	srv, p, _ := busyTopic(t, g, Options{}, msg("first"))

	deadline := time.Now().Add(300 * time.Millisecond)
	short, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	canceled, cancel2 := context.WithCancel(t.Context())
	wait := publishAll(t, p,
		[]context.Context{t.Context(), short, canceled, t.Context()},
		[]events.Message{msg("kept 1"), msg("timed out"), msg("canceled"), msg("kept 2")}, 0)
	cancel2()
	waitFor(t, "the canceled publish to leave", func() bool { return queued(p, events.KindBatch) == 3 })
	waitFor(t, "the timed-out publish to leave", func() bool { return queued(p, events.KindBatch) == 2 })
	left := time.Now()
	if late := left.Sub(deadline); late > 500*time.Millisecond {
		t.Errorf("the timed-out publish left the queue %v after its deadline", late)
	}
	g.pass <- struct{}{}
	g.pass <- struct{}{}
	results := wait()

	for _, r := range results {
		switch r.data {
		case "timed out":
			if !errors.Is(r.err, ErrUnavailable) || !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("Publish(%q) = %v, want ErrUnavailable wrapping DeadlineExceeded", r.data, r.err)
			}
			if r.at.After(left.Add(500 * time.Millisecond)) {
				t.Errorf("Publish(%q) returned %v after it left the queue, want at once", r.data, r.at.Sub(left))
			}
		case "canceled":
			if !errors.Is(r.err, ErrUnavailable) || !errors.Is(r.err, context.Canceled) {
				t.Errorf("Publish(%q) = %v, want ErrUnavailable wrapping Canceled", r.data, r.err)
			}
		default:
			if r.err != nil {
				t.Errorf("Publish(%q) = %v", r.data, r.err)
			}
		}
	}
	want := [][]string{{"first"}, {"kept 1", "kept 2"}}
	if got := g.seen(); !equalRequests(got, want) {
		t.Errorf("requests the server got:\n%q\nwant:\n%q", got, want)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("the server holds %d messages, want 3", n)
	}
}

// A shared call ends by the earliest deadline of the publishes it carries,
// and every publish in it returns then, although one of them could have
// waited longer: no publish returns while its message may still be sent,
// and nothing is sent after they return.
func TestSharedCallEndsByItsEarliestDeadline(t *testing.T) {
	var rec attempts
	g := newGate(t, true)
	_, p, _ := busyTopic(t, g, Options{}, msg("first"), rec.option())
	deadline := time.Now().Add(500 * time.Millisecond)
	early, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	late, cancel2 := context.WithTimeout(t.Context(), time.Minute)
	defer cancel2()
	wait := publishAll(t, p, []context.Context{late, early}, []events.Message{msg("late"), msg("early")}, 0)
	g.pass <- struct{}{} // the first call ends; the shared one reaches the server and is held
	results := wait()
	for _, r := range results {
		if !errors.Is(r.err, ErrUnavailable) || !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("Publish(%q) = %v, want ErrUnavailable wrapping DeadlineExceeded", r.data, r.err)
		}
		if d := r.at.Sub(deadline); d < 0 || d > 500*time.Millisecond {
			t.Errorf("Publish(%q) returned %v after the earliest deadline, want at it", r.data, d)
		}
	}
	at := rec.list()
	if len(at) != 2 || !at[1].deadline.Equal(deadline) {
		t.Fatalf("attempts %+v, want 2, the shared one under the earliest deadline %v", at, deadline)
	}
	g.release()
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.list()); n != 2 {
		t.Errorf("%d Publish attempts once the server answers, want still 2", n)
	}
}

// A publish canceled after its shared call was sent does not cancel the
// call, which carries the others' messages too: it waits for the answer
// and returns its ID like the others.
func TestSharedCallOutlivesACanceledPublish(t *testing.T) {
	g := newGate(t, true)
	srv, p, _ := busyTopic(t, g, Options{}, msg("first"))
	canceled, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := publishAll(t, p, []context.Context{canceled, t.Context()}, []events.Message{msg("canceled later"), msg("other")}, 0)
	g.pass <- struct{}{} // the first call ends; the shared one is sent and held
	waitFor(t, "the shared call to reach the server", func() bool { return len(g.seen()) == 2 })
	cancel()
	time.Sleep(50 * time.Millisecond)
	g.pass <- struct{}{}
	for _, r := range wait() {
		if r.err != nil {
			t.Errorf("Publish(%q) = %v, want its ID: the call was under way", r.data, r.err)
		} else if m := srv.Message(r.id); m == nil || string(m.Data) != r.data {
			t.Errorf("Publish(%q) returned %s, whose message is %v", r.data, r.id, m)
		}
	}
}

// Pub/Sub refuses a request as a whole when one of its messages is
// invalid; the publishes of a refused shared call are each sent again
// alone, so that only the invalid one fails.
func TestRefusedSharedCallIsSentAgainAlone(t *testing.T) {
	g := newGate(t, true)
	g.refuse = true
	srv, p, _ := busyTopic(t, g, Options{}, msg("first"))
	wait := publishAll(t, p, repeat(t.Context(), 3), []events.Message{msg("a"), msg("b"), msg("c")}, 0)
	g.release()
	for _, r := range wait() {
		if r.err != nil {
			t.Errorf("Publish(%q) = %v, want success alone", r.data, r.err)
		} else if got := srv.Message(r.id); got == nil || string(got.Data) != r.data {
			t.Errorf("Publish(%q) returned %s, whose message is %v", r.data, r.id, got)
		}
	}
	got := g.seen()
	if len(got) != 5 || !slices.Equal(got[1], []string{"a", "b", "c"}) {
		t.Errorf("requests %q, want the first, the refused shared one, then each alone", got)
	}
	if n := len(srv.Messages()); n != 4 {
		t.Errorf("the server holds %d messages, want 4", n)
	}
}

// Pub/Sub requires the messages of one request to have one ordering key:
// waiting publishes of different keys go in different calls, each key's in
// the order they came.
func TestSharedCallsKeepOneOrderingKey(t *testing.T) {
	keyed := func(data, key string) events.Message {
		m := msg(data)
		m.OrderingKey = key
		return m
	}
	g := newGate(t, true)
	_, p, _ := busyTopic(t, g, Options{Ordering: true}, keyed("first", "a"))
	wait := publishAll(t, p, repeat(t.Context(), 5),
		[]events.Message{keyed("a1", "a"), keyed("b1", "b"), keyed("a2", "a"), keyed("b2", "b"), keyed("a3", "a")}, 0)
	g.release()
	for _, r := range wait() {
		if r.err != nil {
			t.Errorf("Publish(%q) = %v", r.data, r.err)
		}
	}
	want := [][]string{{"first"}, {"a1", "a2", "a3"}, {"b1", "b2"}}
	if got := g.seen(); !equalRequests(got, want) {
		t.Errorf("requests:\n%q\nwant:\n%q", got, want)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, keys := range g.keys {
		if len(slices.Compact(slices.Clone(keys))) != 1 {
			t.Errorf("request %d mixes ordering keys %q", i, keys)
		}
	}
}

// A shared call carries at most maxShared messages; the rest wait for the
// next call.
func TestSharedCallLimit(t *testing.T) {
	g := newGate(t, true)
	srv, p, _ := busyTopic(t, g, Options{}, msg("first"))
	n := maxShared + 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := p.Publish(t.Context(), events.KindBatch, msg(fmt.Sprint(i))); err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, "every publish to queue", func() bool { return queued(p, events.KindBatch) == n })
	g.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var sizes []int
	for _, r := range g.seen() {
		sizes = append(sizes, len(r))
	}
	if want := []int{1, maxShared, 20}; !slices.Equal(sizes, want) {
		t.Errorf("request sizes %v, want %v", sizes, want)
	}
	if got := len(srv.Messages()); got != n+1 {
		t.Errorf("the server holds %d messages, want %d", got, n+1)
	}
}

// Many concurrent publishes on a free-running server, some contexts
// canceled early: every publish that returns an ID has its own message on
// the server under that ID, no ID is returned twice, every failure is the
// context's, and the calls in flight never exceed MaxCalls. Run with -race.
func TestConcurrentPublishesShareCalls(t *testing.T) {
	var mu sync.Mutex
	inflight, most := 0, 0
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		defer func() { mu.Lock(); inflight--; mu.Unlock() }()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	srv, c := newServerDial(t, []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)})
	ensure(t, c, "events")
	p := newTestPublisher(t, c, Options{Topic: "events", MaxCalls: 2})

	const workers, each = 16, 40
	type sent struct{ data, id string }
	var (
		okMu sync.Mutex
		ok   []sent
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				data := fmt.Sprintf("%d/%d", w, i)
				ctx, cancel := context.WithCancel(t.Context())
				if i%7 == 3 {
					cancel()
				}
				id, err := p.Publish(ctx, events.KindBatch, msg(data))
				cancel()
				if err != nil {
					if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
						t.Errorf("Publish(%q) = %v, want success or ErrUnavailable wrapping Canceled", data, err)
					}
					continue
				}
				okMu.Lock()
				ok = append(ok, sent{data, id})
				okMu.Unlock()
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range ok {
		if seen[s.id] {
			t.Errorf("ID %s returned twice", s.id)
		}
		seen[s.id] = true
		if m := srv.Message(s.id); m == nil || string(m.Data) != s.data {
			t.Errorf("Publish(%q) returned %s, whose message is %v", s.data, s.id, m)
		}
	}
	if len(ok) < workers*each*6/7-workers {
		t.Errorf("%d of %d publishes succeeded", len(ok), workers*each)
	}
	if most > 2 {
		t.Errorf("%d Publish calls in flight at once, want at most MaxCalls = 2", most)
	}
	t.Logf("%d publishes, %d published, at most %d calls in flight", workers*each, len(ok), most)
}
