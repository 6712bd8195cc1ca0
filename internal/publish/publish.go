package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

// The errors of this package. Each returned error wraps one of them and,
// where there is one, the cause (a gRPC status, a context error).
var (
	// ErrTopicNotFound means Pub/Sub answered NotFound: the topic does not
	// exist (or the project does not). Not retried by the client.
	ErrTopicNotFound = errors.New("publish: topic not found")
	// ErrUnavailable means the publish failed or was not acknowledged before
	// the context ended: Pub/Sub unavailable, permission denied, timeout.
	// The same call may succeed later.
	ErrUnavailable = errors.New("publish: pub/sub unavailable")
	// ErrInvalidMessage means the message breaks a Pub/Sub limit (no data
	// and no attributes, over 10 MB, over 100 attributes, an attribute key
	// over 256 bytes or value over 1024 bytes, a key starting with "goog",
	// text that is not UTF-8) or Pub/Sub answered InvalidArgument.
	// Retrying the same message cannot succeed.
	ErrInvalidMessage = errors.New("publish: invalid message")
	// ErrClosed means Close was called before the publish was handed over.
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
)

// DefaultTimeout is how long the client keeps trying to publish one message
// (retrying transient errors) when Options.Timeout is zero. It is a little
// over the function's default request deadline (8 s), so that a publish is
// not abandoned while its request still waits for it.
const DefaultTimeout = 10 * time.Second

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
	// Timeout bounds the client's attempts (retries included) to publish one
	// message, whatever the caller's context. Zero means DefaultTimeout.
	Timeout time.Duration
}

// kinds are the keys Options.Topics may hold.
var kinds = []events.Kind{events.KindBatch, events.KindInteraction, events.KindVideo, events.KindUnknown}

// Publisher publishes events.Message values to the topic of their kind. It
// is safe for concurrent use. Build it with New; the zero value is not
// usable.
type Publisher struct {
	def        *pubsub.Publisher
	byKind     map[events.Kind]*pubsub.Publisher
	quarantine *pubsub.Publisher
	all        []*pubsub.Publisher // one per distinct topic, sorted by name

	closed    atomic.Bool
	closeOnce sync.Once
}

// New returns a Publisher over c for the topics of o. It builds one
// *pubsub.Publisher per distinct topic, reused by every call, and makes no
// RPC: a missing topic shows as ErrTopicNotFound at the first publish (or
// create the topics first with EnsureTopics). It fails with
// ErrInvalidOptions when c is nil or o is invalid.
func New(c *pubsub.Client, o Options) (*Publisher, error) {
	s := pubsub.DefaultPublishSettings
	s.DelayThreshold = 0
	s.CountThreshold = 1
	s.Timeout = o.Timeout
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	return newPublisher(c, o, s)
}

// newPublisher is New with explicit client settings (for the benchmarks
// that compare them with the library's defaults).
func newPublisher(c *pubsub.Client, o Options, s pubsub.PublishSettings) (*Publisher, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil pubsub client", ErrInvalidOptions)
	}
	if o.Topic == "" {
		return nil, fmt.Errorf("%w: no default topic", ErrInvalidOptions)
	}
	if o.QuarantineTopic == "" {
		o.QuarantineTopic = o.Topic + "-quarantine"
	}
	pubs := map[string]*pubsub.Publisher{}
	get := func(name string) (*pubsub.Publisher, error) {
		full, err := fullTopicName(c.Project(), name)
		if err != nil {
			return nil, err
		}
		if tp, ok := pubs[full]; ok {
			return tp, nil
		}
		tp := c.Publisher(full)
		tp.PublishSettings = s
		pubs[full] = tp
		return tp, nil
	}

	p := &Publisher{byKind: map[events.Kind]*pubsub.Publisher{}}
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
	for _, name := range slices.Sorted(maps.Keys(pubs)) {
		p.all = append(p.all, pubs[name])
	}
	return p, nil
}

// Publish sends m to the topic of kind (its Options.Topics entry, else
// Options.Topic) and returns the message ID assigned by Pub/Sub. It waits
// for the acknowledgement until ctx ends. m is copied, so the caller may
// reuse it as soon as Publish returns.
//
// Errors: ErrInvalidMessage (checked before any RPC), ErrTopicNotFound,
// ErrUnavailable (also when ctx ends first; the client may still deliver
// the message later, within Options.Timeout), ErrClosed.
func (p *Publisher) Publish(ctx context.Context, kind events.Kind, m events.Message) (id string, err error) {
	tp, ok := p.byKind[kind]
	if !ok {
		tp = p.def
	}
	return p.publish(ctx, tp, m)
}

// Quarantine sends m to the quarantine topic, as Publish does, with the
// same errors.
func (p *Publisher) Quarantine(ctx context.Context, m events.Message) (id string, err error) {
	return p.publish(ctx, p.quarantine, m)
}

func (p *Publisher) publish(ctx context.Context, tp *pubsub.Publisher, m events.Message) (string, error) {
	if p.closed.Load() {
		return "", ErrClosed
	}
	if err := checkMessage(m); err != nil {
		return "", err
	}
	// A request that has already timed out must not start a publish that
	// nobody will wait for.
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrUnavailable, tp, err)
	}
	r := tp.Publish(ctx, &pubsub.Message{
		Data:       bytes.Clone(m.Data),
		Attributes: maps.Clone(m.Attributes),
	})
	id, err := r.Get(ctx)
	if err != nil {
		return "", translate(tp.String(), err)
	}
	return id, nil
}

// Topics returns the full names of every topic p may publish to, the
// quarantine topic included, sorted and without duplicates.
func (p *Publisher) Topics() []string {
	names := make([]string, len(p.all))
	for i, tp := range p.all {
		names[i] = tp.String()
	}
	return names
}

// Close stops every topic's publisher after sending what they hold. It
// returns when each pending message is acknowledged or has failed, which
// may take up to Options.Timeout while Pub/Sub is unreachable. Later
// publishes fail with ErrClosed. Close is idempotent.
func (p *Publisher) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		var wg sync.WaitGroup
		for _, tp := range p.all {
			wg.Go(tp.Stop)
		}
		wg.Wait()
	})
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

// checkMessage enforces Pub/Sub's message limits (see ErrInvalidMessage).
func checkMessage(m events.Message) error {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return fmt.Errorf("%w: no data and no attributes", ErrInvalidMessage)
	}
	if len(m.Attributes) > maxAttributes {
		return fmt.Errorf("%w: %d attributes, limit %d", ErrInvalidMessage, len(m.Attributes), maxAttributes)
	}
	size := len(m.Data)
	for k, v := range m.Attributes {
		switch {
		case k == "":
			return fmt.Errorf("%w: empty attribute key", ErrInvalidMessage)
		case len(k) > maxAttributeKeyBytes:
			return fmt.Errorf("%w: attribute key of %d bytes, limit %d", ErrInvalidMessage, len(k), maxAttributeKeyBytes)
		case len(v) > maxAttributeValueBytes:
			return fmt.Errorf("%w: attribute %q has a value of %d bytes, limit %d", ErrInvalidMessage, k, len(v), maxAttributeValueBytes)
		case strings.HasPrefix(k, "goog"):
			return fmt.Errorf("%w: attribute key %q is reserved (goog prefix)", ErrInvalidMessage, k)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			// Protobuf string fields must be UTF-8; the client would fail
			// to marshal the request with a gRPC Internal error.
			return fmt.Errorf("%w: attribute %q is not valid UTF-8", ErrInvalidMessage, k)
		}
		size += len(k) + len(v)
	}
	if size > maxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidMessage, size, maxMessageBytes)
	}
	return nil
}

// translate maps a publish failure on topic to this package's errors,
// keeping err in the chain.
func translate(topic string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, pubsub.ErrPublisherStopped):
		sentinel = ErrClosed
	case errors.Is(err, pubsub.ErrOversizedMessage):
		sentinel = ErrInvalidMessage
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		sentinel = ErrUnavailable
	default:
		switch status.Code(err) {
		case codes.NotFound:
			sentinel = ErrTopicNotFound
		case codes.InvalidArgument:
			sentinel = ErrInvalidMessage
		default:
			// Unavailable, DeadlineExceeded, PermissionDenied,
			// ResourceExhausted, Internal...: the service or its
			// configuration, not the message; a later retry may pass.
			sentinel = ErrUnavailable
		}
	}
	return fmt.Errorf("%w: %s: %w", sentinel, topic, err)
}
