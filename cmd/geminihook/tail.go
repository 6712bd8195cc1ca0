package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/internal/subscription"
)

const tailAbout = `
Attaches to the Pub/Sub server that serve publishes to, makes a temporary
subscription on each topic (deleted on exit), and prints every event as
one line: time, Gemini type, kind/outcome, job id, webhook id, scheme.
--json prints each message as one JSON object instead: topic,
message_id, publish_time, attributes and data (the event JSON).

The server is --pubsub-addr, else $PUBSUB_EMULATOR_HOST, else
` + defaultPubSubAddr + ` (serve's default). A subscription sees only messages
published after it was made: start tail before sending. When serve
restarts, its in-process Pub/Sub server comes back without tail's
subscriptions: tail says so and subscribes again once the topics are back
(what was published in between is not seen).

Exit status 0 on Ctrl-C, after --count messages, or at --timeout without
--count; 1 when --timeout ends before --count messages arrived; 3 when no
Pub/Sub server answers.`

const tailExamples = `  geminihook tail
  geminihook tail --json --count 9 --timeout 30s
  geminihook tail --topic gemini-job-events --topic my-batch-topic
  PUBSUB_EMULATOR_HOST=127.0.0.1:8681 geminihook tail --project my-project`

// tailOptions are the parsed flags of tail.
type tailOptions struct {
	pubsubFlags
	json    bool
	count   int
	timeout time.Duration
}

func runTail(ctx context.Context, args []string, e env) error {
	o, err := parseTail(args, e)
	if err != nil {
		return err
	}
	if err := probe(ctx, o.addr, "Pub/Sub", "start 'geminihook serve' (it serves Pub/Sub on "+defaultPubSubAddr+"), or pass --pubsub-addr or PUBSUB_EMULATOR_HOST"); err != nil {
		return err
	}
	client, conn, err := connectPubSub(ctx, o.addr, o.project)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer client.Close()

	t := &tailer{client: client, conn: conn, o: o, out: e.stdout, log: e.stderr}
	defer t.deleteSubscriptions()
	if err := t.subscribe(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "geminihook tail: waiting for events from %s (Ctrl-C to stop)\n", o.addr)
	return t.receive(ctx)
}

// parseTail parses and checks tail's command line, with the Pub/Sub
// address of the environment when --pubsub-addr is not given.
func parseTail(args []string, e env) (tailOptions, error) {
	fs := newFlagSet("tail", "[--topic TOPIC]... [--json] [--count N] [--timeout D]", tailAbout, tailExamples, e)
	var o tailOptions
	o.pubsubFlags.register(fs, "follow")
	fs.BoolVar(&o.json, "json", false, "print each message as one JSON object per line")
	fs.IntVar(&o.count, "count", 0, "exit after this many messages (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit after this long (0: run until Ctrl-C)")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	switch {
	case o.count < 0:
		return o, badFlag("count", "must not be negative: want a number of messages, or 0 for no limit")
	case o.timeout < 0:
		return o, badFlag("timeout", "must not be negative: want a duration such as 30s, or 0 to run until Ctrl-C")
	}
	return o, o.pubsubFlags.resolve(e)
}

// tailer follows the topics through subscriptions of its own.
type tailer struct {
	client *pubsub.Client
	conn   *grpc.ClientConn // under client
	o      tailOptions
	log    io.Writer
	subs   []subscription.Subscription

	mu  sync.Mutex // guards out and n
	out io.Writer
	n   int
}

// subscribe makes one subscription per topic. They expire by themselves
// after a day unused, should tail die before it can delete them.
func (t *tailer) subscribe(ctx context.Context) error {
	subs, err := subscription.Temp(ctx, t.client, t.o.topics, "geminihook-tail", 30*time.Second)
	switch {
	case errors.Is(err, subscription.ErrTopicNotFound):
		return fmt.Errorf("%w; or pass the --project and --topic that serve uses (Pub/Sub server %s)", err, t.o.addr)
	case gone(err):
		return fmt.Errorf("%w: the Pub/Sub server at %s does not answer: %v", errUnreachable, t.o.addr, err)
	case err != nil:
		return err
	}
	t.subs = subs
	for _, s := range subs {
		fmt.Fprintf(t.log, "geminihook tail: following %s (temporary subscription %s)\n", s.Topic, s.Name)
	}
	return nil
}

// resubscribe replaces subscriptions the server lost (it restarted): it
// waits for the server and its topics, then subscribes again.
func (t *tailer) resubscribe(ctx context.Context, cause error) error {
	fmt.Fprintf(t.log, "geminihook tail: the Pub/Sub server at %s lost tail's subscriptions (%v; did serve restart?): subscribing again once it and its topics are back\n",
		t.o.addr, status.Code(cause))
	t.deleteSubscriptions() // what is left of them, if anything
	wait := 100 * time.Millisecond
	for {
		if localnet.Probe(ctx, t.o.addr) == nil {
			t.conn.ResetConnectBackoff() // reconnect now, not at the next backoff
			err := t.subscribe(ctx)
			if err == nil {
				fmt.Fprintf(t.log, "geminihook tail: subscribed again; waiting for events from %s\n", t.o.addr)
				return nil
			}
			if !errors.Is(err, subscription.ErrTopicNotFound) && !errors.Is(err, errUnreachable) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// gone reports whether err means that the server is away, or came back
// without the subscription: tail subscribes again.
func gone(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// deleteSubscriptions removes what subscribe made.
func (t *tailer) deleteSubscriptions() {
	if err := subscription.Delete(t.client, t.subs); err != nil {
		fmt.Fprintf(t.log, "geminihook tail: could not delete a subscription (it expires after a day unused): %v\n", err)
	}
	t.subs = nil
}

// errCountReached ends the receive loops once --count messages are in.
var errCountReached = errors.New("count reached")

// receive prints messages until ctx ends, --count or --timeout,
// subscribing again when the server loses the subscriptions.
func (t *tailer) receive(ctx context.Context) error {
	if t.o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.o.timeout)
		defer cancel()
	}
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	for {
		err := t.receiveAll(rctx, stop)
		if err == nil || rctx.Err() != nil {
			break
		}
		if !gone(err) {
			return fmt.Errorf("receiving from %s: %w", t.o.addr, err)
		}
		if err := t.resubscribe(rctx, err); err != nil {
			if rctx.Err() != nil {
				break
			}
			return err
		}
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

// receiveAll receives from every subscription until ctx ends or one of
// them fails (the others are stopped then); it returns the first error.
func (t *tailer) receiveAll(ctx context.Context, stop context.CancelCauseFunc) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make(chan error, len(t.subs))
	for _, s := range t.subs {
		sub := t.client.Subscriber(s.Name)
		go func() {
			err := sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
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
			if err != nil {
				cancel(err)
			}
			errs <- err
		}()
	}
	var first error
	for range t.subs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
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
