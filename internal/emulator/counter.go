package emulator

import (
	"context"
	"maps"
	"strings"
	"sync"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
)

// Counter counts the gRPC calls made through a connection, per full method
// name ("/google.firestore.v1.Firestore/Commit"). A call is counted when it
// starts, whatever its outcome, and every retry of the client library is a
// new call. The zero value is ready to use; methods are safe for concurrent
// use.
type Counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *Counter) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[method]++
}

// Count returns the number of calls whose full method name contains
// methodSubstring ("" counts every call).
func (c *Counter) Count(methodSubstring string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for m, k := range c.calls {
		if strings.Contains(m, methodSubstring) {
			n += k
		}
	}
	return n
}

// Reset forgets every call counted so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
}

// Snapshot returns a copy of the counts per full method name (never nil).
func (c *Counter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.calls))
	maps.Copy(m, c.calls)
	return m
}

// UnaryInterceptor counts unary calls.
func (c *Counter) UnaryInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.add(method)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamInterceptor counts streaming calls (Firestore's BatchGetDocuments,
// used by DocumentRef.Get, is one).
func (c *Counter) StreamInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		c.add(method)
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// DialOptions installs both interceptors on a connection being dialed.
func (c *Counter) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(c.UnaryInterceptor()),
		grpc.WithChainStreamInterceptor(c.StreamInterceptor()),
	}
}

// ClientOptions installs both interceptors through option.WithGRPCDialOption.
// They take effect only when the client library dials the connection itself:
// pubsub.NewClient with PUBSUB_EMULATOR_HOST set does, firestore.NewClient
// with FIRESTORE_EMULATOR_HOST set does NOT (it passes its own, already
// dialed connection). For emulators use Emulator.ClientOptions or Dial.
func (c *Counter) ClientOptions() []option.ClientOption {
	dos := c.DialOptions()
	opts := make([]option.ClientOption, len(dos))
	for i, do := range dos {
		opts[i] = option.WithGRPCDialOption(do)
	}
	return opts
}
