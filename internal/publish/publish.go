package publish

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// The errors of this package. Each returned error wraps one of them and,
// where there is one, the cause (a gRPC status, a context error).
var (
	// ErrTopicNotFound means Pub/Sub answered NotFound: the topic does not
	// exist (or the project does not). Not retried.
	ErrTopicNotFound = errors.New("publish: topic not found")
	// ErrUnavailable means the publish failed or was not acknowledged before
	// the context (or Options.Timeout) ended: Pub/Sub unavailable,
	// permission denied, timeout. The same call may succeed later.
	ErrUnavailable = errors.New("publish: pub/sub unavailable")
	// ErrInvalidMessage means the message breaks a Pub/Sub limit (no data
	// and no attributes, over 10 MB, over 100 attributes, an attribute key
	// over 256 bytes or value over 1024 bytes, a key starting with "goog",
	// an ordering key over 1024 bytes, text that is not UTF-8) or Pub/Sub
	// answered InvalidArgument.
	// Retrying the same message cannot succeed.
	ErrInvalidMessage = errors.New("publish: invalid message")
	// ErrClosed means Close was called before the publish started.
	ErrClosed = errors.New("publish: publisher closed")
	// ErrInvalidOptions means New or EnsureTopics got a nil client, no
	// default topic, a malformed topic name or a per-kind entry for a kind
	// that does not exist.
	ErrInvalidOptions = errors.New("publish: invalid options")
)

// Message limits of Pub/Sub (cloud.google.com/pubsub/quotas, resource
// limits), checked here because pstest and the emulator do not enforce all
// of them and a local failure is cheaper than a round trip.
const (
	maxMessageBytes        = 10_000_000
	maxAttributes          = 100
	maxAttributeKeyBytes   = 256
	maxAttributeValueBytes = 1024
	maxOrderingKeyBytes    = 1024
)

// DefaultTimeout bounds one publish (retries included) when Options.Timeout
// is zero. The caller's context bounds it as well, whichever ends first; in
// the function that is the request's deadline (8 s by default), so this
// only matters to callers whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// Retry policy of the Publish call. The codes are those the generated
// client retries by default (TopicAdminClient.CallOptions.Publish: Aborted,
// Canceled, DeadlineExceeded, Internal, ResourceExhausted, Unavailable,
// Unknown) except Canceled, which only ever comes from this side (the
// caller's context, a closing connection) and cannot pass on a retry.
// DeadlineExceeded is kept for the server's own deadline: one caused by
// the caller's context is never retried, since the pause before a retry
// ends with the context. The backoff starts as the generated client's
// (100 ms, full jitter) but grows by 2 up to 2 s instead of by 4 up to
// 60 s: a publish lives within a request of a few seconds, where a pause
// of many seconds would only leave the request waiting for its deadline
// instead of trying again.
var (
	retryCodes   = []codes.Code{codes.Aborted, codes.DeadlineExceeded, codes.Internal, codes.ResourceExhausted, codes.Unavailable, codes.Unknown}
	retryBackoff = gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}
)

// Options configure a Publisher. Topic names are topic IDs (resolved in the
// client's project) or full names projects/PROJECT/topics/TOPIC.
type Options struct {
	// Topic is the default topic, used for every kind without an entry in
	// Topics. Required.
	Topic string
	// Topics overrides the topic per kind. Keys must be events.KindBatch,
	// KindInteraction, KindVideo or KindUnknown; values must be non-empty.
	// Nil means every kind goes to Topic.
	Topics map[events.Kind]string
	// QuarantineTopic receives the messages given to Quarantine. Empty means
	// Topic + "-quarantine".
	QuarantineTopic string
	// Timeout is an upper bound on one publish (every attempt and the
	// pauses between them), counted from the call, in addition to the
	// caller's context: the publish ends with whichever ends first. It is
	// a safety net for a context without a deadline; the request's context
	// is what ends a publish in the function. Zero means DefaultTimeout.
	Timeout time.Duration
	// Ordering sets each message's ordering key to its
	// events.Message.OrderingKey (the job id), so that a subscription with
	// message ordering enabled delivers one job's events in the order they
	// were published. Shared calls carry messages of one key, in the
	// order they were published; there is no client-side pause of a key
	// after a failed publish (see the package documentation). False (the
	// default) publishes without a key.
	Ordering bool
	// MaxCalls is the most Publish calls of one topic in flight at once.
	// A publish that finds them all busy waits for one to end, and the
	// publishes that waited meanwhile share the next call (one request of
	// up to 100 messages of the same ordering key). Zero means
	// DefaultMaxCalls; there is no way to turn sharing off, since a
	// publish only waits when the calls are busy anyway.
	MaxCalls int
}

// kinds are the keys Options.Topics may hold.
var kinds = []events.Kind{events.KindBatch, events.KindInteraction, events.KindVideo, events.KindUnknown}

// topic is one destination of a Publisher, shared by every kind that maps
// to it.
type topic struct {
	name string // full resource name
	q    queue  // its publishes waiting for a call
}

func (t *topic) String() string { return t.name }

// Publisher publishes events.Message values to the topic of their kind. It
// is safe for concurrent use. Build it with New; the zero value is not
// usable.
type Publisher struct {
	client   *vkit.TopicAdminClient
	timeout  time.Duration
	ordering bool

	def        *topic
	byKind     map[events.Kind]*topic
	quarantine *topic
	all        []*topic // one per distinct topic, sorted by name

	// mu is held for reading by each publish in flight and for writing by
	// Close, which so waits for them.
	mu     sync.RWMutex
	closed bool
}

// New returns a Publisher over c for the topics of o. It makes no RPC and
// starts no goroutine: a missing topic shows as ErrTopicNotFound at the
// first publish (or create the topics first with EnsureTopics). It fails
// with ErrInvalidOptions when c is nil or o is invalid. The Publisher uses
// c's TopicAdminClient (c.Publisher is not used): c must outlive it.
func New(c *pubsub.Client, o Options) (*Publisher, error) {
	if c == nil || c.TopicAdminClient == nil {
		return nil, fmt.Errorf("%w: nil pubsub client", ErrInvalidOptions)
	}
	if o.Topic == "" {
		return nil, fmt.Errorf("%w: no default topic", ErrInvalidOptions)
	}
	if o.QuarantineTopic == "" {
		o.QuarantineTopic = o.Topic + "-quarantine"
	}
	topics := map[string]*topic{}
	get := func(name string) (*topic, error) {
		full, err := fullTopicName(c.Project(), name)
		if err != nil {
			return nil, err
		}
		if t, ok := topics[full]; ok {
			return t, nil
		}
		t := &topic{name: full, q: queue{max: cmp.Or(max(o.MaxCalls, 0), DefaultMaxCalls)}}
		topics[full] = t
		return t, nil
	}

	p := &Publisher{client: c.TopicAdminClient, timeout: o.Timeout, ordering: o.Ordering, byKind: map[events.Kind]*topic{}}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	var err error
	if p.def, err = get(o.Topic); err != nil {
		return nil, err
	}
	if p.quarantine, err = get(o.QuarantineTopic); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	for k, name := range o.Topics {
		if !slices.Contains(kinds, k) {
			return nil, fmt.Errorf("%w: Topics has an entry for kind %q; kinds are %q", ErrInvalidOptions, k, kinds)
		}
		if name == "" {
			return nil, fmt.Errorf("%w: empty topic for kind %q", ErrInvalidOptions, k)
		}
		if p.byKind[k], err = get(name); err != nil {
			return nil, fmt.Errorf("kind %s: %w", k, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		p.all = append(p.all, topics[name])
	}
	return p, nil
}

// Publish sends m to the topic of kind (its Options.Topics entry, else
// Options.Topic) and returns the message ID assigned by Pub/Sub. It
// makes a Publish RPC at once, or, while the topic's Options.MaxCalls
// calls are busy, waits to share the next one with the other publishes
// waiting (see the package documentation). With Options.Ordering the
// message carries m.OrderingKey. Transient failures are retried until ctx
// ends (or Options.Timeout passes); when Publish returns, nothing of its
// call is left running, so nothing is sent after it. m is not retained:
// the caller may reuse it as soon as Publish returns.
//
// Errors: ErrInvalidMessage (checked before any RPC), ErrTopicNotFound,
// ErrUnavailable (also when ctx ends first; it then wraps ctx's error),
// ErrClosed.
func (p *Publisher) Publish(ctx context.Context, kind events.Kind, m events.Message) (id string, err error) {
	t, ok := p.byKind[kind]
	if !ok {
		t = p.def
	}
	return p.publish(ctx, t, m)
}

// Quarantine sends m to the quarantine topic, as Publish does, with the
// same errors.
func (p *Publisher) Quarantine(ctx context.Context, m events.Message) (id string, err error) {
	return p.publish(ctx, p.quarantine, m)
}

func (p *Publisher) publish(ctx context.Context, t *topic, m events.Message) (string, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return "", ErrClosed
	}
	var key string
	if p.ordering {
		key = m.OrderingKey
	}
	size, err := checkMessage(m)
	if err != nil {
		return "", err
	}
	if err := checkOrderingKey(key); err != nil {
		return "", err
	}
	// A request that has already timed out must not start a publish that
	// nobody will wait for.
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrUnavailable, t, err)
	}
	deadline := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return p.send(t, &call{
		ctx:      ctx,
		msg:      &pubsubpb.PubsubMessage{Data: m.Data, Attributes: m.Attributes, OrderingKey: key},
		size:     size,
		deadline: deadline,
	})
}

// WarmUp opens the Pub/Sub connection (and fetches the credentials it
// needs) before the first publish, with one Publish call of no message to
// the default topic. Pub/Sub refuses such a request as InvalidArgument
// without publishing anything; it shows in the topic's request metrics as
// one invalid request. The call is not retried. WarmUp returns nil when
// Pub/Sub answered InvalidArgument (or, as pstest does, accepted the empty
// request), else the failure translated as Publish does: a topic that does
// not exist may still show as nil, since Pub/Sub can check the request
// before the topic.
func (p *Publisher) WarmUp(ctx context.Context) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	_, err := p.client.Publish(ctx, &pubsubpb.PublishRequest{Topic: p.def.name},
		gax.WithRetry(func() gax.Retryer { return noRetry{} }))
	if err == nil || status.Code(err) == codes.InvalidArgument {
		return nil
	}
	return translate(p.def.name, err)
}

// noRetry is a Retryer that retries nothing.
type noRetry struct{}

func (noRetry) Retry(error) (time.Duration, bool) { return 0, false }

// retryer is the Retryer of one publish: retryCodes with retryBackoff. It
// counts the failed attempts and keeps the last error for the report.
type retryer struct {
	backoff  gax.Backoff
	attempts int
	last     error
}

func (r *retryer) Retry(err error) (time.Duration, bool) {
	r.attempts++
	r.last = err
	if !retryable(err) {
		return 0, false
	}
	return r.backoff.Pause(), true
}

// retryable reports whether a failed Publish attempt may pass on a retry.
func retryable(err error) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	// A message the client cannot marshal (which checkMessage should have
	// refused) fails the same way every time.
	if s.Code() == codes.Internal && strings.Contains(s.Message(), "invalid UTF-8") {
		return false
	}
	return slices.Contains(retryCodes, s.Code())
}

// TopicFor returns the full name of the topic Publish sends events of kind
// to.
func (p *Publisher) TopicFor(kind events.Kind) string {
	if t, ok := p.byKind[kind]; ok {
		return t.name
	}
	return p.def.name
}

// QuarantineTopic returns the full name of the topic Quarantine sends to.
func (p *Publisher) QuarantineTopic() string { return p.quarantine.name }

// Topics returns the full names of every topic p may publish to, the
// quarantine topic included, sorted and without duplicates.
func (p *Publisher) Topics() []string {
	names := make([]string, len(p.all))
	for i, t := range p.all {
		names[i] = t.name
	}
	return names
}

// Close makes later publishes fail with ErrClosed and returns once every
// publish in flight has returned (each within its context and
// Options.Timeout). It does not close the Pub/Sub client, which the caller
// owns; close that after Close. Close is idempotent.
func (p *Publisher) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// EnsureTopics creates each named topic (topic IDs resolve in c's project)
// that does not exist yet; existing topics are left as they are, so it is
// idempotent. It is meant for local runs against pstest or the emulator;
// in production Terraform owns the topics. Errors: ErrInvalidOptions for a
// nil client or a malformed name (before any RPC), else ErrUnavailable
// wrapping the cause.
func EnsureTopics(ctx context.Context, c *pubsub.Client, names ...string) error {
	if c == nil {
		return fmt.Errorf("%w: nil pubsub client", ErrInvalidOptions)
	}
	full := make([]string, 0, len(names))
	for _, n := range names {
		f, err := fullTopicName(c.Project(), n)
		if err != nil {
			return err
		}
		if !slices.Contains(full, f) {
			full = append(full, f)
		}
	}
	for _, f := range full {
		_, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: f})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("%w: create topic %s: %w", ErrUnavailable, f, err)
		}
	}
	return nil
}

// checkOrderingKey enforces Pub/Sub's limits on an ordering key: at most
// 1024 bytes of UTF-8 ("" is no key).
func checkOrderingKey(key string) error {
	if len(key) > maxOrderingKeyBytes || !utf8.ValidString(key) {
		return fmt.Errorf("%w: ordering key of %d bytes (limit %d) or not UTF-8", ErrInvalidMessage, len(key), maxOrderingKeyBytes)
	}
	return nil
}

// checkMessage enforces Pub/Sub's message limits (see ErrInvalidMessage)
// and returns the message's size: its data, attribute keys and values.
func checkMessage(m events.Message) (int, error) {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return 0, fmt.Errorf("%w: no data and no attributes", ErrInvalidMessage)
	}
	if len(m.Attributes) > maxAttributes {
		return 0, fmt.Errorf("%w: %d attributes, limit %d", ErrInvalidMessage, len(m.Attributes), maxAttributes)
	}
	size := len(m.Data)
	for k, v := range m.Attributes {
		switch {
		case k == "":
			return 0, fmt.Errorf("%w: empty attribute key", ErrInvalidMessage)
		case len(k) > maxAttributeKeyBytes:
			return 0, fmt.Errorf("%w: attribute key of %d bytes, limit %d", ErrInvalidMessage, len(k), maxAttributeKeyBytes)
		case len(v) > maxAttributeValueBytes:
			return 0, fmt.Errorf("%w: attribute %q has a value of %d bytes, limit %d", ErrInvalidMessage, k, len(v), maxAttributeValueBytes)
		case strings.HasPrefix(k, "goog"):
			return 0, fmt.Errorf("%w: attribute key %q is reserved (goog prefix)", ErrInvalidMessage, k)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			// Protobuf string fields must be UTF-8; the client would fail
			// to marshal the request with a gRPC Internal error.
			return 0, fmt.Errorf("%w: attribute %q is not valid UTF-8", ErrInvalidMessage, k)
		}
		size += len(k) + len(v)
	}
	if size > maxMessageBytes {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidMessage, size, maxMessageBytes)
	}
	return size, nil
}

// translate maps a publish failure on topic to this package's errors,
// keeping err in the chain. A context error (no gRPC status) is
// ErrUnavailable.
func translate(topic string, err error) error {
	var sentinel error
	switch status.Code(err) {
	case codes.NotFound:
		sentinel = ErrTopicNotFound
	case codes.InvalidArgument:
		sentinel = ErrInvalidMessage
	default:
		// Unavailable, DeadlineExceeded, PermissionDenied,
		// ResourceExhausted, Internal, a context error...: the service or
		// its configuration, not the message; a later retry may pass.
		sentinel = ErrUnavailable
	}
	return fmt.Errorf("%w: %s: %w", sentinel, topic, err)
}
