package emulator

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A closed gate refuses Publish with UNAVAILABLE before the call is made,
// and counts it; other methods, and Publish once it is open again, pass.
func TestPublishGate(t *testing.T) {
	var g PublishGate
	made := 0
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		made++
		return nil
	}
	call := func(method string) error {
		return g.UnaryInterceptor()(t.Context(), method, nil, nil, nil, invoker)
	}
	if err := call(PublishMethod); err != nil || made != 1 {
		t.Fatalf("open gate: Publish = %v, %d calls made; want it through", err, made)
	}
	g.Set(true)
	if err := call(PublishMethod); status.Code(err) != codes.Unavailable || made != 1 {
		t.Errorf("closed gate: Publish = %v, %d calls made; want UNAVAILABLE and no call", err, made)
	}
	if err := call("/google.pubsub.v1.Publisher/CreateTopic"); err != nil || made != 2 {
		t.Errorf("closed gate: CreateTopic = %v, %d calls made; want it through", err, made)
	}
	g.Set(false)
	if err := call(PublishMethod); err != nil || made != 3 {
		t.Errorf("reopened gate: Publish = %v; want it through", err)
	}
	if n := g.Refused(); n != 1 {
		t.Errorf("Refused() = %d, want 1", n)
	}
}
