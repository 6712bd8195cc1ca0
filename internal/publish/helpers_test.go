package publish

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const testProject = "test-project"

// newServer starts a pstest server on loopback and returns it with a real
// Pub/Sub client connected to it; both are closed when the test ends.
func newServer(t testing.TB, opts ...pstest.ServerReactorOption) (*pstest.Server, *pubsub.Client) {
	t.Helper()
	return newServerDial(t, nil, opts...)
}

// newServerDial is newServer with dial options (interceptors) added to the
// client's connection.
func newServerDial(t testing.TB, dial []grpc.DialOption, opts ...pstest.ServerReactorOption) (*pstest.Server, *pubsub.Client) {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0", opts...)
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dial...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := pubsub.NewClient(context.Background(), testProject, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// newTestPublisher builds a Publisher and closes it when the test ends
// (before the client and server, since cleanups run last-in first-out).
func newTestPublisher(t testing.TB, c *pubsub.Client, o Options) *Publisher {
	t.Helper()
	p, err := New(c, o)
	if err != nil {
		t.Fatalf("New(%+v) = %v", o, err)
	}
	t.Cleanup(p.Close)
	return p
}

func ensure(t testing.TB, c *pubsub.Client, names ...string) {
	t.Helper()
	if err := EnsureTopics(context.Background(), c, names...); err != nil {
		t.Fatalf("EnsureTopics(%q) = %v", names, err)
	}
}

// faults is a pstest reactor for the Publish RPC that the test can switch
// between passing through, failing with a gRPC code, and stalling.
type faults struct {
	mu    sync.Mutex
	code  codes.Code    // codes.OK passes the request through
	stall chan struct{} // non-nil: block until it is closed
	calls int
}

func (f *faults) React(any) (handled bool, ret any, err error) {
	f.mu.Lock()
	f.calls++
	code, stall := f.code, f.stall
	f.mu.Unlock()
	if stall != nil {
		<-stall
	}
	if code != codes.OK {
		return true, nil, status.Error(code, "injected by the test")
	}
	return false, nil, nil
}

func (f *faults) fail(code codes.Code) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code = code
}

func (f *faults) option() pstest.ServerReactorOption {
	return pstest.ServerReactorOption{FuncName: "Publish", Reactor: f}
}

// attempts is a client interceptor that records every Publish attempt the
// client makes (retries included): when it started and the deadline of its
// context. It sees attempts that a stalled server would not let through to
// a pstest reactor (pstest holds its lock while a reactor runs).
type attempts struct {
	mu sync.Mutex
	at []attempt
}

type attempt struct {
	start    time.Time
	deadline time.Time // zero: no deadline
}

func (a *attempts) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasSuffix(method, "/Publish") {
		d, _ := ctx.Deadline()
		a.mu.Lock()
		a.at = append(a.at, attempt{start: time.Now(), deadline: d})
		a.mu.Unlock()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (a *attempts) option() grpc.DialOption { return grpc.WithChainUnaryInterceptor(a.intercept) }

func (a *attempts) list() []attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]attempt(nil), a.at...)
}

func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = nil
}

// failFirst is a pstest reactor for Publish that answers code to the first
// n requests, then lets them through.
type failFirst struct {
	mu   sync.Mutex
	code codes.Code
	n    int
}

func (f *failFirst) React(any) (bool, any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return true, nil, status.Error(f.code, "injected by the test")
	}
	return false, nil, nil
}

func (f *failFirst) set(code codes.Code, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code, f.n = code, n
}

func (f *failFirst) option() pstest.ServerReactorOption {
	return pstest.ServerReactorOption{FuncName: "Publish", Reactor: f}
}
