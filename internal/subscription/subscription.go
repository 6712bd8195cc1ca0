// Package subscription makes and deletes temporary Pub/Sub subscriptions:
// how `geminihook tail` and the load engine's Collector read the topics a
// receiver publishes to without leaving anything behind. Each one expires
// by itself after a day unused, should its maker die before Delete.
package subscription

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// AdminTimeout bounds one administrative Pub/Sub call: creating or
// deleting a subscription (or a topic).
const AdminTimeout = 10 * time.Second

// expiry is how long an unused temporary subscription lives on.
const expiry = 24 * time.Hour

// ErrTopicNotFound means Temp found no topic of a name it was given.
var ErrTopicNotFound = errors.New("topic not found")

// Subscription is a temporary subscription made by Temp.
type Subscription struct {
	Topic string // full topic name
	Name  string // full subscription name
}

// Temp makes one subscription per topic, named
// projects/P/subscriptions/<prefix>-<random>-<i> in c's project, with the
// given ack deadline (at least 10 s). Topic ids resolve in c's project;
// full names (projects/…/topics/…) are taken as they are. A subscription
// sees only what is published after it is made. On an error Temp deletes
// the ones it made; the error wraps ErrTopicNotFound, or the cause with its
// gRPC status (codes.Unavailable: no server answers).
func Temp(ctx context.Context, c *pubsub.Client, topics []string, prefix string, ackDeadline time.Duration) ([]Subscription, error) {
	suffix := strings.ToLower(rand.Text()[:10])
	var subs []Subscription
	for i, topic := range topics {
		full := topic
		if !strings.HasPrefix(topic, "projects/") {
			full = "projects/" + c.Project() + "/topics/" + topic
		}
		name := fmt.Sprintf("projects/%s/subscriptions/%s-%s-%d", c.Project(), prefix, suffix, i)
		actx, cancel := context.WithTimeout(ctx, AdminTimeout)
		_, err := c.SubscriptionAdminClient.CreateSubscription(actx, &pubsubpb.Subscription{
			Name:               name,
			Topic:              full,
			AckDeadlineSeconds: int32(max(ackDeadline, 10*time.Second) / time.Second),
			ExpirationPolicy:   &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(expiry)},
		})
		cancel()
		if err != nil {
			Delete(c, subs)
			if status.Code(err) == codes.NotFound {
				return nil, fmt.Errorf("%w: %s does not exist (start the receiver first: it creates its topics): %w", ErrTopicNotFound, full, err)
			}
			return nil, fmt.Errorf("subscribing to %s: %w", full, err)
		}
		subs = append(subs, Subscription{Topic: full, Name: name})
	}
	return subs, nil
}

// Delete deletes subs, each on a deadline of its own (not a caller's
// context, which may be what ended the work). A subscription already gone
// is no error.
func Delete(c *pubsub.Client, subs []Subscription) error {
	var errs []error
	for _, s := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), AdminTimeout)
		err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: s.Name})
		cancel()
		if err != nil && status.Code(err) != codes.NotFound {
			errs = append(errs, fmt.Errorf("deleting %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
