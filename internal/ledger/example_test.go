package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/geminihook/geminihook/internal/ledger"
)

// The handler's flow: claim, publish, complete; a retry of the same delivery
// is then a duplicate. Firestore behaves the same.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	l := ledger.NewMemory(ledger.Options{Now: func() time.Time { return now }})
	d := ledger.Delivery{WebhookID: "msg_1", EventType: "batch.succeeded", Envelope: []byte(`{}`)}

	lease, err := l.Claim(ctx, d)
	fmt.Println("claim:", lease.Attempt, err)

	_, err = l.Claim(ctx, d) // the sender retried while we publish
	var inFlight *ledger.InFlightError
	if errors.As(err, &inFlight) {
		fmt.Println("retry: 409, Retry-After", inFlight.LeaseUntil.Sub(now))
	}

	fmt.Println("complete:", l.Complete(ctx, lease, "pubsub-message-1"))
	_, err = l.Claim(ctx, d)
	fmt.Println("retry:", errors.Is(err, ledger.ErrPublished))
	// Output:
	// claim: 1 <nil>
	// retry: 409, Retry-After 30s
	// complete: <nil>
	// retry: true
}

// A failed publish releases the lease so that the sender's next retry can
// claim the delivery at once.
func ExampleMemory_Release() {
	ctx := context.Background()
	l := ledger.NewMemory(ledger.Options{})
	d := ledger.Delivery{WebhookID: "msg_2"}
	lease, _ := l.Claim(ctx, d)
	fmt.Println(l.Release(ctx, lease))
	again, _ := l.Claim(ctx, d)
	fmt.Println(again.Attempt, errors.Is(l.Complete(ctx, lease, "m"), ledger.ErrLeaseLost))
	// Output:
	// <nil>
	// 2 true
}
