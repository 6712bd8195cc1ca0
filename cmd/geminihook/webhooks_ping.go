package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/subscription"
)

const pingAbout = `
Asks Gemini to send a ping event to the webhook (POST :ping).

With --wait it also checks the whole path: before the ping, it makes a
temporary subscription on the function's topic (as 'geminihook tail' does;
deleted on exit), then waits until the function has verified the ping and
published it, and reports how long that took. A ping is an event of a type
the function does not classify, so it goes to the default topic
(GEMINIHOOK_TOPIC, --topic). The first event whose type contains "ping"
counts (--event-type names an exact type instead), unless it names another
webhook ("webhook": "webhooks/ID" or data.webhook_id).

Pub/Sub is Google's, in --project, with your application default
credentials; with --pubsub-addr (or $PUBSUB_EMULATOR_HOST) an emulator or
'geminihook serve' instead. Exit 1 when no ping arrived before --timeout.`

const pingExamples = `  geminihook webhooks ping 8f1c2d3e4b5a6978
  geminihook webhooks ping 8f1c2d3e4b5a6978 --wait --project my-project
  geminihook webhooks ping 8f1c2d3e4b5a6978 --wait --project my-project --topic gemini-job-events --timeout 2m
  geminihook webhooks ping 8f1c2d3e4b5a6978 --wait --pubsub-addr 127.0.0.1:8085   # geminihook serve`

func runWebhooksPing(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks ping", "ID [--wait [--project P] [--topic T] [--timeout D]]", pingAbout, pingExamples, e)
	var a apiFlags
	a.register(fs, time.Minute)
	wait := fs.Bool("wait", false, "wait until the ping is published on --topic, and report how long it took")
	var topics stringList
	fs.Var(&topics, "topic", "`TOPIC` id or full name to watch, repeatable (default "+geminihook.DefaultTopic+")")
	pubsubAddr := fs.String("pubsub-addr", "", "Pub/Sub emulator `host:port` (default $PUBSUB_EMULATOR_HOST, else Google's Pub/Sub)")
	eventType := fs.String("event-type", "", "exact event `type` of the ping (default: any type containing \"ping\")")
	ctx, s, id, done, err := a.startOne(ctx, fs, args, e, false)
	if err != nil {
		return err
	}
	defer done()
	if !*wait {
		if err := s.client.Ping(ctx, id); err != nil {
			return apiError(err, &a)
		}
		fmt.Fprintf(e.stdout, "pinged webhook %s; follow it with 'geminihook webhooks ping %s --wait' or on the topic\n", id, id)
		return nil
	}

	if len(topics) == 0 {
		topics = stringList{geminihook.DefaultTopic}
	}
	addr := *pubsubAddr
	if addr == "" {
		addr = e.variable("PUBSUB_EMULATOR_HOST")
	}
	project := a.projectOr(e)
	var client *pubsub.Client
	var closeClient func()
	if addr != "" {
		if project == "" {
			project = defaultProject
		}
		if err := probe(ctx, addr, "Pub/Sub", "start the emulator or 'geminihook serve', or drop --pubsub-addr for Google's Pub/Sub"); err != nil {
			return err
		}
		if client, closeClient, err = dialPubSub(ctx, addr, project); err != nil {
			return err
		}
	} else {
		if project == "" {
			return badUsage("--wait needs the project of the topic: --project or $GOOGLE_CLOUD_PROJECT")
		}
		if client, err = pubsub.NewClient(ctx, project); err != nil {
			return fmt.Errorf("creating the Pub/Sub client: %v (sign in with 'gcloud auth application-default login')", err)
		}
		closeClient = func() { client.Close() }
	}
	defer closeClient()

	subs, err := subscription.Temp(ctx, client, topics, "geminihook-ping", 30*time.Second)
	switch {
	case errors.Is(err, subscription.ErrTopicNotFound):
		return fmt.Errorf("%v; pass the --project and --topic of the function (GEMINIHOOK_TOPIC)", err)
	case status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded:
		return fmt.Errorf("%w: Pub/Sub does not answer: %v", errUnreachable, err)
	case status.Code(err) == codes.PermissionDenied:
		return fmt.Errorf("%v: you need roles/pubsub.editor (create and delete a subscription) on the project", err)
	case err != nil:
		return err
	}
	defer func() {
		if err := subscription.Delete(client, subs); err != nil {
			fmt.Fprintf(e.stderr, "geminihook webhooks ping: could not delete a subscription (it expires after a day unused): %v\n", err)
		}
	}()

	type arrival struct {
		topic string
		ev    *events.Event
		at    time.Time
	}
	found := make(chan arrival, 1)
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, sub := range subs {
		wg.Go(func() {
			client.Subscriber(sub.Name).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
				m.Ack()
				ev, err := events.Decode(m.Data, m.Attributes)
				if err != nil || !isPing(ev.Type, *eventType) || !pingOf(ev.Envelope, id) {
					return
				}
				select {
				case found <- arrival{sub.Topic, ev, time.Now()}:
				default:
				}
				stop()
			})
		})
	}

	start := time.Now()
	if err := s.client.Ping(ctx, id); err != nil {
		return apiError(err, &a)
	}
	fmt.Fprintf(e.stderr, "geminihook webhooks ping: pinged webhook %s; waiting for the ping on %s\n", id, strings.Join(topicNames(subs), ", "))
	select {
	case got := <-found:
		took := got.at.Sub(start)
		fmt.Fprintf(e.stdout, "ping of webhook %s arrived on %s after %v (type %s, webhook-id %s, scheme %s)\n",
			id, got.topic, took.Round(time.Millisecond), got.ev.Type, got.ev.WebhookID, got.ev.Scheme)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no ping event on %s within %v after the ping: is the webhook enabled, and its uri the function's ('geminihook webhooks get %s%s')? "+
			"The function's logs say what it answered; --topic and --project must name its topic", strings.Join(topicNames(subs), ", "), a.timeout, id, a.echo())
	}
}

// isPing reports whether an event type is the ping's.
func isPing(typ, want string) bool {
	if want != "" {
		return typ == want
	}
	return strings.Contains(strings.ToLower(typ), "ping")
}

// pingOf reports whether a ping's envelope may be about webhook id: it
// is unless it names another webhook (top-level "webhook": "webhooks/X",
// or data.webhook_id), as when several webhooks deliver to one function.
func pingOf(envelope []byte, id string) bool {
	var env struct {
		Webhook string `json:"webhook"`
		Data    struct {
			WebhookID string `json:"webhook_id"`
		} `json:"data"`
	}
	if json.Unmarshal(envelope, &env) != nil {
		return true
	}
	for _, named := range []string{env.Webhook, env.Data.WebhookID} {
		if named != "" && strings.TrimPrefix(named, "webhooks/") != id {
			return false
		}
	}
	return true
}

func topicNames(subs []subscription.Subscription) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.Topic
	}
	return out
}
