package emulator

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PublishMethod is the full gRPC method name of a Pub/Sub publish.
const PublishMethod = "/google.pubsub.v1.Publisher/Publish"

// PublishGate refuses the Publish calls of a connection while closed,
// before they reach the server, with UNAVAILABLE: a Pub/Sub outage whose
// outcome is unambiguous (nothing was stored). Other calls pass. The zero
// value is open; methods are safe for concurrent use.
type PublishGate struct {
	closed  atomic.Bool
	refused atomic.Int64
}

// Set closes (true) or opens the gate.
func (g *PublishGate) Set(closed bool) { g.closed.Store(closed) }

// Refused is the number of calls refused so far.
func (g *PublishGate) Refused() int64 { return g.refused.Load() }

// UnaryInterceptor is the gate, for a connection being dialed.
func (g *PublishGate) UnaryInterceptor() grpc.UnaryClientInterceptor { return g.unary }

func (g *PublishGate) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == PublishMethod && g.closed.Load() {
		g.refused.Add(1)
		return status.Error(codes.Unavailable, "emulator: publishing refused by the gate")
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
