package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/loadtest"
)

// Defaults shared by serve and tail.
const (
	defaultPubSubAddr = "127.0.0.1:8085"
	defaultProject    = "geminihook-local"
	// adminTimeout bounds one Pub/Sub or Firestore admin call (create a
	// topic or a subscription, delete one, probe).
	adminTimeout = 10 * time.Second
	// dialTimeout bounds the TCP probe that tells "nothing listens" apart
	// from slower failures.
	dialTimeout = 2 * time.Second
)

const tailAbout = `
Attaches to the Pub/Sub server that serve publishes to, makes a temporary
subscription on each topic (deleted on exit), and prints every event as
one line: time, Gemini type, kind/outcome, job id, webhook id, scheme.
--json prints each message as one JSON object instead: topic,
message_id, publish_time, attributes and data (the event JSON).

The server is --pubsub-addr, else $PUBSUB_EMULATOR_HOST, else
127.0.0.1:8085 (serve's default). A subscription sees only messages
published after it was made: start tail before sending.

Exit status 0 on Ctrl-C, after --count messages, or at --timeout without
--count; 1 when --timeout ends before --count messages arrived; 3 when no
Pub/Sub server answers.`

const tailExamples = `  geminihook tail
  geminihook tail --json --count 9 --timeout 30s
  geminihook tail --topic gemini-job-events --topic my-batch-topic
  PUBSUB_EMULATOR_HOST=127.0.0.1:8681 geminihook tail --project my-project`

type tailOptions struct {
	addr    string
	project string
	topics  stringList
	json    bool
	count   int
	timeout time.Duration
}

func runTail(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("tail", "[--topic TOPIC]... [--json] [--count N] [--timeout D]", tailAbout, tailExamples, e)
	var o tailOptions
	fs.StringVar(&o.addr, "pubsub-addr", "", "Pub/Sub server host:port (default $PUBSUB_EMULATOR_HOST, else "+defaultPubSubAddr+")")
	fs.StringVar(&o.project, "project", defaultProject, "project of the topics (serve --project)")
	fs.Var(&o.topics, "topic", "`TOPIC` id or full name to follow, repeatable (default "+geminihook.DefaultTopic+" and its -quarantine topic)")
	fs.BoolVar(&o.json, "json", false, "print each message as one JSON object per line")
	fs.IntVar(&o.count, "count", 0, "exit after this many messages (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit after this long (0: run until Ctrl-C)")
	if err := parseFlags(fs, args, e); err != nil {
		return err
	}
	switch {
	case o.count < 0:
		return usageError("--count must not be negative")
	case o.timeout < 0:
		return usageError("--timeout must not be negative")
	case o.project == "":
		return usageError("--project must not be empty")
	}
	if o.addr == "" {
		o.addr = e.getenv("PUBSUB_EMULATOR_HOST")
	}
	if o.addr == "" {
		o.addr = defaultPubSubAddr
	}
	if len(o.topics) == 0 {
		o.topics = stringList{geminihook.DefaultTopic, geminihook.DefaultTopic + "-quarantine"}
	}
	if err := probe(ctx, o.addr, "Pub/Sub", "start 'geminihook serve' (it serves Pub/Sub on "+defaultPubSubAddr+"), or pass --pubsub-addr or PUBSUB_EMULATOR_HOST"); err != nil {
		return err
	}
	client, closeClient, err := dialPubSub(ctx, o.addr, o.project)
	if err != nil {
		return err
	}
	defer closeClient()

	t := &tailer{client: client, o: o, out: e.stdout}
	defer t.deleteSubscriptions(e.stderr)
	if err := t.subscribe(ctx, e.stderr); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "geminihook tail: waiting for events from %s (Ctrl-C to stop)\n", o.addr)
	return t.receive(ctx)
}

// probe reports errUnreachable, with hint, when nothing accepts a TCP
// connection at addr: the gRPC clients would otherwise retry for a long
// time before saying so.
func probe(ctx context.Context, addr, what, hint string) error {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: no %s server at %s (%v): %s", errUnreachable, what, addr, err, hint)
	}
	c.Close()
	return nil
}

// dialPubSub returns a Pub/Sub client for the emulator or pstest server at
// addr (plaintext, no credentials) and a function that closes it.
func dialPubSub(ctx context.Context, addr, project string) (*pubsub.Client, func(), error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, usageError("Pub/Sub address %q: %v", addr, err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("pubsub client: %w", err)
	}
	return c, func() { c.Close(); conn.Close() }, nil
}

// tailer follows the topics through subscriptions of its own.
type tailer struct {
	client *pubsub.Client
	o      tailOptions
	subs   []loadtest.Subscription

	mu  sync.Mutex // guards out and n
	out io.Writer
	n   int
}

// subscribe makes one subscription per topic. They expire by themselves
// after a day unused, should tail die before it can delete them.
func (t *tailer) subscribe(ctx context.Context, log io.Writer) error {
	subs, err := loadtest.TempSubscriptions(ctx, t.client, t.o.topics, "geminihook-tail", 30*time.Second)
	switch {
	case errors.Is(err, loadtest.ErrTopicNotFound):
		return fmt.Errorf("%w; or pass the --project and --topic that serve uses (Pub/Sub server %s)", err, t.o.addr)
	case status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded:
		return fmt.Errorf("%w: the Pub/Sub server at %s does not answer: %v", errUnreachable, t.o.addr, err)
	case err != nil:
		return err
	}
	t.subs = subs
	for _, s := range subs {
		fmt.Fprintf(log, "geminihook tail: following %s (temporary subscription %s)\n", s.Topic, s.Name)
	}
	return nil
}

// deleteSubscriptions removes what subscribe made.
func (t *tailer) deleteSubscriptions(log io.Writer) {
	if err := loadtest.DeleteSubscriptions(t.client, t.subs); err != nil {
		fmt.Fprintf(log, "geminihook tail: could not delete a subscription (it expires after a day unused): %v\n", err)
	}
}

// errCountReached ends the receive loops once --count messages are in.
var errCountReached = errors.New("count reached")

// receive prints messages until ctx ends, --count or --timeout.
func (t *tailer) receive(ctx context.Context) error {
	if t.o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.o.timeout)
		defer cancel()
	}
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	errs := make(chan error, len(t.subs))
	for _, s := range t.subs {
		sub := t.client.Subscriber(s.Name)
		go func() {
			errs <- sub.Receive(rctx, func(_ context.Context, m *pubsub.Message) {
				if !t.print(s.Topic, m) {
					m.Nack() // over --count: leave it, the subscription goes away anyway
					return
				}
				m.Ack()
				t.mu.Lock()
				done := t.o.count > 0 && t.n >= t.o.count
				t.mu.Unlock()
				if done {
					stop(errCountReached)
				}
			})
		}()
	}
	var firstErr error
	for range t.subs {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil && rctx.Err() == nil {
		return fmt.Errorf("receiving from %s: %w", t.o.addr, firstErr)
	}
	t.mu.Lock()
	n := t.n
	t.mu.Unlock()
	switch {
	case context.Cause(rctx) == errCountReached:
		return nil
	case t.o.count > 0 && n < t.o.count && ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("saw %d of the %d messages of --count before --timeout %v: were they sent after tail started, to this server and project?",
			n, t.o.count, t.o.timeout)
	}
	return nil
}

// print writes m and counts it; it returns false (and writes nothing) once
// --count messages have been printed.
func (t *tailer) print(topic string, m *pubsub.Message) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.o.count > 0 && t.n >= t.o.count {
		return false
	}
	t.n++
	if t.o.json {
		b, _ := json.Marshal(jsonLine(topic, m)) // strings, maps and raw JSON: cannot fail
		fmt.Fprintf(t.out, "%s\n", b)
		return true
	}
	fmt.Fprintln(t.out, textLine(m))
	return true
}

// tailJSON is one --json line.
type tailJSON struct {
	Topic       string            `json:"topic"`
	MessageID   string            `json:"message_id"`
	PublishTime time.Time         `json:"publish_time"`
	Attributes  map[string]string `json:"attributes"`
	// Data is the event JSON; a quarantined body that is not JSON is in
	// DataBase64 instead.
	Data       json.RawMessage `json:"data,omitempty"`
	DataBase64 []byte          `json:"data_base64,omitempty"`
}

func jsonLine(topic string, m *pubsub.Message) tailJSON {
	l := tailJSON{Topic: topic, MessageID: m.ID, PublishTime: m.PublishTime.UTC(), Attributes: m.Attributes}
	if json.Valid(m.Data) {
		l.Data = m.Data
	} else {
		l.DataBase64 = m.Data
	}
	return l
}

// textLine is the readable form of m.
func textLine(m *pubsub.Message) string {
	at := m.PublishTime.Local().Format("15:04:05.000")
	ev, err := events.Decode(m.Data, m.Attributes)
	switch {
	case errors.Is(err, events.ErrQuarantined):
		return fmt.Sprintf("%s  %-28s %-24s %-40s %s %s  (%s bytes; reason: %s)", at, "QUARANTINED", "-", "-",
			orDash(m.Attributes[events.AttrID]), orDash(m.Attributes[events.AttrScheme]),
			orDash(m.Attributes[events.AttrBodyBytes]), orDash(m.Attributes[events.AttrReason]))
	case err != nil:
		return fmt.Sprintf("%s  undecodable message %s: %v", at, m.ID, err)
	}
	return fmt.Sprintf("%s  %-28s %-24s %-40s %s %s", at, orDash(ev.Type), string(ev.Kind)+"/"+string(ev.Outcome),
		orDash(ev.JobID), orDash(ev.WebhookID), orDash(ev.Scheme))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
