package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/geminihook/geminihook/events"
)

// adminTimeout bounds one subscription create or delete.
const adminTimeout = 10 * time.Second

// Collector counts the messages published on some topics, through
// subscriptions of its own made before the load starts. Its methods are
// safe for concurrent use.
type Collector struct {
	client *pubsub.Client
	subs   []Subscription
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	seen     map[string]map[string]time.Time // ce-id → Pub/Sub message id → first receipt
	messages int                             // every receipt, redeliveries included
	noID     int                             // messages without a ce-id attribute
	err      error                           // first receive error
	changed  chan struct{}                   // closed and replaced on every new message id
}

// SubscribeOptions configure Subscribe.
type SubscribeOptions struct {
	// Prefix names the subscriptions: <Prefix>-<random>-<i>; default
	// "geminihook-load".
	Prefix string
	// AckDeadline of the subscriptions; default 60 s.
	AckDeadline time.Duration
}

// Subscribe makes one subscription per topic (ids resolve in c's project)
// and starts receiving: only messages published after Subscribe returns
// are sure to be seen. The subscriptions expire after a day unused should
// Close not run. Errors wrap ErrTopicNotFound, ErrPubSub (with the gRPC
// status of the cause: server down, ...) or ErrInvalidOptions (no topic).
func Subscribe(ctx context.Context, c *pubsub.Client, topics []string, o SubscribeOptions) (*Collector, error) {
	if len(topics) == 0 || c == nil {
		return nil, fmt.Errorf("%w: Subscribe needs a client and at least one topic", ErrInvalidOptions)
	}
	o.Prefix = cmp.Or(o.Prefix, "geminihook-load")
	if o.AckDeadline <= 0 {
		o.AckDeadline = 60 * time.Second
	}
	col := &Collector{client: c, seen: map[string]map[string]time.Time{}, changed: make(chan struct{}), done: make(chan struct{})}
	subs, err := TempSubscriptions(ctx, c, topics, o.Prefix, o.AckDeadline)
	if err != nil {
		return nil, err
	}
	col.subs = subs
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	col.cancel = cancel
	var wg sync.WaitGroup
	for _, cs := range col.subs {
		name := cs.Name
		sub := c.Subscriber(name)
		sub.ReceiveSettings.MaxOutstandingMessages = 10_000
		wg.Go(func() {
			err := sub.Receive(rctx, col.record)
			if err != nil && rctx.Err() == nil {
				col.mu.Lock()
				if col.err == nil {
					col.err = fmt.Errorf("%w: receiving from %s: %w", ErrPubSub, name, err)
				}
				col.mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(col.done) }()
	return col, nil
}

func (c *Collector) record(_ context.Context, m *pubsub.Message) {
	m.Ack()
	id, ok := m.Attributes[events.AttrID]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages++
	if !ok {
		c.noID++
		return
	}
	ids := c.seen[id]
	if ids == nil {
		ids = map[string]time.Time{}
		c.seen[id] = ids
	}
	if _, dup := ids[m.ID]; dup {
		return // a redelivery of the same message
	}
	ids[m.ID] = time.Now()
	close(c.changed)
	c.changed = make(chan struct{})
}

// Seen is what a Collector received about one ce-id.
type Seen struct {
	// Messages are the distinct Pub/Sub message ids, each with the time it
	// was first received; more than one means the event was published more
	// than once.
	Messages map[string]time.Time
}

// Seen returns a copy of what has been received, by ce-id.
func (c *Collector) Seen() map[string]Seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Seen, len(c.seen))
	for id, ms := range c.seen {
		out[id] = Seen{Messages: maps.Clone(ms)}
	}
	return out
}

// Stats returns the number of receipts (redeliveries included), of
// messages without a ce-id, and the first receive error.
func (c *Collector) Stats() (messages, noID int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.messages, c.noID, c.err
}

// Wait returns once every id in want has been seen and then no new message
// has arrived for grace (second copies can trail the first ones), or when
// settle has passed since the call, or ctx ends. It reports whether every
// id was seen.
func (c *Collector) Wait(ctx context.Context, want []string, settle, grace time.Duration) bool {
	t := time.NewTimer(settle)
	defer t.Stop()
	var quiet *time.Timer // running once every id was seen
	defer func() {
		if quiet != nil {
			quiet.Stop()
		}
	}()
	for {
		c.mu.Lock()
		missing := 0
		for _, id := range want {
			if len(c.seen[id]) == 0 {
				missing++
			}
		}
		changed := c.changed
		c.mu.Unlock()
		var quietC <-chan time.Time
		if missing == 0 {
			if quiet == nil {
				quiet = time.NewTimer(grace)
			}
			quietC = quiet.C
		}
		select {
		case <-changed:
			if quiet != nil {
				quiet.Reset(grace)
			}
		case <-quietC:
			return true
		case <-t.C:
			return missing == 0
		case <-ctx.Done():
			return missing == 0
		}
	}
}

// Close stops receiving and deletes the subscriptions. Errors wrap
// ErrPubSub: a subscription could not be deleted (it expires after a day
// unused).
func (c *Collector) Close() error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	err := DeleteSubscriptions(c.client, c.subs)
	c.subs = nil
	return err
}

// Subscription is a temporary subscription made by TempSubscriptions.
type Subscription struct {
	Topic string // full topic name
	Name  string // full subscription name
}

// TempSubscriptions makes one subscription per topic, named
// projects/P/subscriptions/<prefix>-<random>-<i> in c's project, with the
// given ack deadline (at least 10 s). Topic ids resolve in c's project.
// The subscriptions expire by themselves after a day unused, should their
// maker die before DeleteSubscriptions. On an error it deletes the ones it
// made; the error wraps ErrTopicNotFound or ErrPubSub, and the cause with
// its gRPC status.
func TempSubscriptions(ctx context.Context, c *pubsub.Client, topics []string, prefix string, ackDeadline time.Duration) ([]Subscription, error) {
	suffix := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(token(6)))
	var subs []Subscription
	for i, topic := range topics {
		full := topic
		if !strings.HasPrefix(topic, "projects/") {
			full = "projects/" + c.Project() + "/topics/" + topic
		}
		name := fmt.Sprintf("projects/%s/subscriptions/%s-%s-%d", c.Project(), prefix, suffix, i)
		actx, cancel := context.WithTimeout(ctx, adminTimeout)
		_, err := c.SubscriptionAdminClient.CreateSubscription(actx, &pubsubpb.Subscription{
			Name:               name,
			Topic:              full,
			AckDeadlineSeconds: int32(max(ackDeadline, 10*time.Second) / time.Second),
			ExpirationPolicy:   &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(24 * time.Hour)},
		})
		cancel()
		if err != nil {
			DeleteSubscriptions(c, subs)
			if status.Code(err) == codes.NotFound {
				return nil, fmt.Errorf("%w: %s does not exist (start the receiver first: it creates its topics): %w", ErrTopicNotFound, full, err)
			}
			return nil, fmt.Errorf("%w: subscribing to %s: %w", ErrPubSub, full, err)
		}
		subs = append(subs, Subscription{Topic: full, Name: name})
	}
	return subs, nil
}

// DeleteSubscriptions deletes subs, each on a deadline of its own (not a
// caller's context, which may be what ended the work). A subscription
// already gone is no error; other errors wrap ErrPubSub.
func DeleteSubscriptions(c *pubsub.Client, subs []Subscription) error {
	var errs []error
	for _, s := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: s.Name})
		cancel()
		if err != nil && status.Code(err) != codes.NotFound {
			errs = append(errs, fmt.Errorf("%w: deleting %s: %w", ErrPubSub, s.Name, err))
		}
	}
	return errors.Join(errs...)
}
