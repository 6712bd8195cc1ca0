package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
)

// Limits of one Publish request that carries several publishes. Pub/Sub
// accepts up to 1,000 messages and 10 MB per request; a call shares at most
// maxShared messages and maxSharedBytes of data and attributes, so that one
// call stays short and the proto framing fits under the 10 MB. A message
// larger than maxSharedBytes (checkMessage allows up to 10 MB) is sent in a
// call of its own.
const (
	maxShared      = 100
	maxSharedBytes = 8 << 20
)

// DefaultMaxCalls is the number of Publish calls per topic in flight at
// once when Options.MaxCalls is zero.
const DefaultMaxCalls = 4

// errAlone tells a publish that the shared call it was part of was refused
// as a whole (InvalidArgument: any one message may be the cause), so it
// must be sent again in a call of its own to learn whether it is its own.
var errAlone = errors.New("publish: shared call refused; send alone")

// queue coalesces the concurrent publishes of one topic. At most max
// Publish calls of the topic are in flight; a publish that finds them all
// busy waits in the queue, and when a call ends, the publish that has
// waited longest sends, in one call, itself and the publishes waiting with
// the same ordering key (up to maxShared messages and maxSharedBytes),
// while the others go on waiting for the next call to end. There is no
// goroutine of the queue's own: every call is made by the goroutine of one
// of the publishes it carries, which waits for its answer anyway.
//
// A waiting publish whose context ends before a call takes it is removed
// and sends nothing. A publish taken into a call waits for that call to
// end, which is by the earliest deadline of the publishes it carries, so
// no publish returns while its message may still be sent.
type queue struct {
	max int

	mu       sync.Mutex
	inflight int     // calls in flight
	waiting  []*call // in arrival order
}

// call is one publish: its message, its deadline, and where its result or
// the batch it has to send is handed to it.
type call struct {
	ctx      context.Context
	msg      *pubsubpb.PubsubMessage
	size     int
	deadline time.Time

	// Set under queue.mu when a call takes this publish (or the queue
	// drops it); from then on it must wait for done or lead.
	taken bool
	lead  chan []*call // buffered: the batch this publish's goroutine sends
	done  chan struct{}
	id    string
	err   error
}

// enter either lets c send at once (a call slot is free: it returns true
// and the slot is c's) or queues it.
func (q *queue) enter(c *call) (send bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inflight < q.max {
		q.inflight++
		return true
	}
	c.lead = make(chan []*call, 1)
	c.done = make(chan struct{})
	q.waiting = append(q.waiting, c)
	return false
}

// leave removes c from the queue if no call has taken it yet and reports
// whether it did.
func (q *queue) leave(c *call) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.taken {
		return false
	}
	c.taken = true
	if i := slices.Index(q.waiting, c); i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
	}
	return true
}

// next is called by a goroutine whose call has ended. It passes the call
// slot on: it takes the next batch from the queue and returns it (the
// slot is now the batch's), or frees the slot when nothing waits. Waiting
// publishes whose context has ended are dropped on the way, with their
// context's error.
func (q *queue) next(topic string) []*call {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []*call
	var key string
	bytes := 0
	keep := q.waiting[:0]
	for _, c := range q.waiting {
		switch {
		case c.ctx.Err() != nil:
			c.taken = true
			c.err = fmt.Errorf("%w: %s: %w", ErrUnavailable, topic, c.ctx.Err())
			close(c.done)
		case batch == nil:
			batch, key, bytes = []*call{c}, c.msg.OrderingKey, c.size
			c.taken = true
		case c.msg.OrderingKey == key && len(batch) < maxShared && bytes+c.size <= maxSharedBytes:
			batch = append(batch, c)
			bytes += c.size
			c.taken = true
		default:
			keep = append(keep, c)
		}
	}
	clear(q.waiting[len(keep):])
	q.waiting = keep
	if batch == nil {
		q.inflight--
	}
	return batch
}

// send publishes c, sharing a call with other publishes of t when every
// call slot of t is busy, and returns c's message ID.
func (p *Publisher) send(t *topic, c *call) (string, error) {
	if t.q.enter(c) {
		return p.lead(t, c, []*call{c})
	}
	end := c.ctx.Done() // c.ctx ends at c.deadline
	for {
		select {
		case b := <-c.lead:
			return p.lead(t, c, b)
		case <-c.done:
			return p.result(t, c)
		case <-end:
			if t.q.leave(c) {
				return "", fmt.Errorf("%w: %s: %w", ErrUnavailable, t, c.ctx.Err())
			}
			end = nil // taken: wait for the call that took it
		}
	}
}

// lead makes the Publish call for batch (self is one of its publishes),
// hands every other publish its result, passes the call slot on, and
// returns self's result.
func (p *Publisher) lead(t *topic, self *call, batch []*call) (string, error) {
	p.call(t, batch)
	for _, c := range batch {
		if c != self {
			close(c.done)
		}
	}
	if b := t.q.next(t.name); b != nil {
		b[0].lead <- b
	}
	return p.result(t, self)
}

// result returns c's result once its call has ended; a publish refused as
// part of a shared call is sent again alone.
func (p *Publisher) result(t *topic, c *call) (string, error) {
	if c.err == errAlone {
		return p.alone(t, c)
	}
	return c.id, c.err
}

// alone sends c in a call of its own, outside the queue's slots: it only
// follows a shared call that Pub/Sub refused as a whole.
func (p *Publisher) alone(t *topic, c *call) (string, error) {
	c.err = nil
	p.call(t, []*call{c})
	return c.id, c.err
}

// call makes one Publish call for batch and sets each publish's id or err.
// A batch of one runs under its own context, so that it also ends when
// that is canceled; a shared call runs until the earliest deadline of its
// publishes, whatever happens to their contexts: once sent, a message's
// publish waits for the answer.
func (p *Publisher) call(t *topic, batch []*call) {
	ctx := batch[0].ctx
	deadline := batch[0].deadline
	msgs := make([]*pubsubpb.PubsubMessage, len(batch))
	for i, c := range batch {
		msgs[i] = c.msg
		if c.deadline.Before(deadline) {
			deadline = c.deadline
		}
	}
	if len(batch) > 1 {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// Every attempt runs under ctx (the generated client's own 60 s
	// timeout applies only to a context without a deadline, and ctx has
	// one), and a pause before a retry ends when ctx does.
	r := &retryer{backoff: retryBackoff}
	res, err := p.client.Publish(ctx, &pubsubpb.PublishRequest{Topic: t.name, Messages: msgs},
		gax.WithRetry(func() gax.Retryer { return r }))
	if err == nil && len(res.GetMessageIds()) != len(batch) {
		err = fmt.Errorf("%w: %s: Pub/Sub returned %d message IDs for %d messages", ErrUnavailable, t, len(res.GetMessageIds()), len(batch))
	} else if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// An attempt cut short by ctx (Canceled is not retried).
			err = fmt.Errorf("%w: %w", cerr, err)
		} else if cerr != nil && r.attempts > 0 {
			// gax returns the bare context error when ctx ends in a
			// pause before a retry: say what the attempts got.
			err = fmt.Errorf("%w after %d attempts, the last: %v", err, r.attempts, r.last)
		}
		err = translate(t.name, err)
		if len(batch) > 1 && errors.Is(err, ErrInvalidMessage) {
			err = errAlone
		}
	}
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.id = res.MessageIds[i]
		}
	}
}
