package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/subscription"
)

// Collector counts the messages published on some topics, through
// subscriptions of its own made before the load starts. Its methods are
// safe for concurrent use.
type Collector struct {
	client *pubsub.Client
	subs   []subscription.Subscription
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
// Close not run. Errors wrap subscription.ErrTopicNotFound, ErrPubSub
// (with the gRPC status of the cause: server down, ...) or
// ErrInvalidOptions (no topic).
func Subscribe(ctx context.Context, c *pubsub.Client, topics []string, o SubscribeOptions) (*Collector, error) {
	if len(topics) == 0 || c == nil {
		return nil, fmt.Errorf("%w: Subscribe needs a client and at least one topic", ErrInvalidOptions)
	}
	o.Prefix = cmp.Or(o.Prefix, "geminihook-load")
	if o.AckDeadline <= 0 {
		o.AckDeadline = 60 * time.Second
	}
	col := &Collector{client: c, seen: map[string]map[string]time.Time{}, changed: make(chan struct{}), done: make(chan struct{})}
	subs, err := subscription.Temp(ctx, c, topics, o.Prefix, o.AckDeadline)
	switch {
	case errors.Is(err, subscription.ErrTopicNotFound):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrPubSub, err)
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
	err := subscription.Delete(c.client, c.subs)
	c.subs = nil
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPubSub, err)
	}
	return nil
}
