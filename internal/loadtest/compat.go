package loadtest

import (
	"context"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/internal/subscription"
)

// The names below moved to the packages named for what they do; these
// forward to them for the code not yet moved over.

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address.
//
// Deprecated: use localnet.IsLoopbackHost.
func IsLoopbackHost(host string) bool { return localnet.IsLoopbackHost(host) }

// Subscription is a temporary subscription.
//
// Deprecated: use subscription.Subscription.
type Subscription = subscription.Subscription

// ErrTopicNotFound means a topic to subscribe to does not exist.
//
// Deprecated: use subscription.ErrTopicNotFound (the same error).
var ErrTopicNotFound = subscription.ErrTopicNotFound

// TempSubscriptions makes one temporary subscription per topic.
//
// Deprecated: use subscription.Temp.
func TempSubscriptions(ctx context.Context, c *pubsub.Client, topics []string, prefix string, ackDeadline time.Duration) ([]Subscription, error) {
	return subscription.Temp(ctx, c, topics, prefix, ackDeadline)
}

// DeleteSubscriptions deletes subscriptions made by TempSubscriptions.
//
// Deprecated: use subscription.Delete.
func DeleteSubscriptions(c *pubsub.Client, subs []Subscription) error {
	return subscription.Delete(c, subs)
}
