package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/loadtest"
)

// Limits of load beyond those of the engine (loadtest.Max…).
const (
	maxSettle = 10 * time.Minute
	maxGrace  = time.Minute
)

const loadAbout = `
Loads a local receiver the way Gemini would and checks that nothing was
lost, doubled or forged on the way to Pub/Sub.

It sends --n deliveries signed with --secret (v1), the nine documented
types round robin, --concurrency HTTP attempts at a time (optionally paced
to --rate deliveries per second). A --duplicates share of them are extra
sends of an authentic delivery (same webhook-id and body) started together
with it; a --forged share are forgeries: a wrong secret, a body changed
after signing, or a stale timestamp (an hour old), each with its own id.
Every send is retried like Gemini retries: on 408, 409, 425, 429, 5xx and
transport errors, with exponential backoff from --min-backoff to
--max-backoff (a Retry-After header is honoured up to --max-backoff), each
attempt re-signed with the current time, until a 2xx, a final 4xx (400,
401, ...), --max-attempts or --deadline. An authentic delivery that never
got a 2xx is "lost at the sender".

Before the first send it subscribes to the receiver's topics (like tail:
--pubsub-addr, else $PUBSUB_EMULATOR_HOST, else 127.0.0.1:8085), and after
the last send it reads until every authentic delivery has arrived and then
no message came for --grace (second copies can trail), or until --settle.
A second Pub/Sub message id for one ce-id is a doubled publish; a
redelivery of the same message id is Pub/Sub's at-least-once and is not
counted.

The report: deliveries, unique events published, doubled, lost, forged
published (the last three must be 0), throughput, latency percentiles per
HTTP attempt, the status histogram and the retries; --json prints it as
one JSON object. A progress line goes to standard error every second.

--no-verify-delivery skips Pub/Sub: for a baseline against a receiver that
checks nothing, it reports throughput and latency and fails only when an
authentic delivery never got a 2xx.

Loopback only: --url and the Pub/Sub address must be 127.0.0.0/8, ::1 or
localhost; there is no flag to load anything else.

Exit status 1 when anything was lost, doubled, or forged and accepted or
published; 3 when nothing answers at --url or at the Pub/Sub address.`

const loadExamples = `  geminihook serve --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw        # in another terminal
  geminihook load --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  geminihook load --secret-file keys/secret.txt --n 5000 --concurrency 50 --duplicates 0.2 --forged 0.05
  geminihook load --secret whsec_… --n 2000 --rate 100 --json > report.json
  PUBSUB_EMULATOR_HOST=127.0.0.1:8681 geminihook load --secret whsec_… --project demo
  geminihook load --secret whsec_… --url http://127.0.0.1:9090/ --no-verify-delivery   # bare baseline`

type loadOptions struct {
	url            string
	secret         string
	secretFile     string
	n              int
	concurrency    int
	duplicates     float64
	forged         float64
	rate           float64
	maxAttempts    int
	timeout        time.Duration
	deadline       time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	pubsubAddr     string
	project        string
	topics         stringList
	settle         time.Duration
	grace          time.Duration
	noVerify       bool
	json           bool
	quiet          bool
	progressPeriod time.Duration
}

func runLoad(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("load", "--secret whsec_… [--url URL] [--n N] [--concurrency C] [flags]", loadAbout, loadExamples, e)
	var o loadOptions
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080/", "receiver to load (loopback only)")
	fs.StringVar(&o.secret, "secret", "", "`whsec_…` secret the receiver verifies v1 with (serve prints it)")
	fs.StringVar(&o.secretFile, "secret-file", "", "read the secret from this file (keys writes secret.txt)")
	fs.IntVar(&o.n, "n", loadtest.DefaultN, fmt.Sprintf("deliveries to send, duplicates and forgeries included (at most %d)", loadtest.MaxN))
	fs.IntVar(&o.concurrency, "concurrency", loadtest.DefaultConcurrency, fmt.Sprintf("HTTP attempts in flight at once (at most %d)", loadtest.MaxConcurrency))
	fs.Float64Var(&o.duplicates, "duplicates", 0.2, "share of --n re-sent concurrently with an authentic delivery's webhook-id (0 to 0.9)")
	fs.Float64Var(&o.forged, "forged", 0.05, "share of --n forged or stale (0 to 0.5)")
	fs.Float64Var(&o.rate, "rate", 0, "deliveries started per second (0: as fast as --concurrency allows)")
	fs.IntVar(&o.maxAttempts, "max-attempts", loadtest.DefaultMaxAttempts, fmt.Sprintf("attempts per send before giving up (at most %d)", loadtest.MaxAttemptsLimit))
	fs.DurationVar(&o.timeout, "timeout", loadtest.DefaultAttemptTimeout, fmt.Sprintf("bound on each HTTP attempt (at most %v)", loadtest.MaxAttemptTimeout))
	fs.DurationVar(&o.deadline, "deadline", loadtest.DefaultDeadline, fmt.Sprintf("no retry of a send starts later than this after its first attempt (at most %v)", loadtest.MaxDeadline))
	fs.DurationVar(&o.minBackoff, "min-backoff", loadtest.DefaultMinBackoff, "wait before the first retry, doubled per retry")
	fs.DurationVar(&o.maxBackoff, "max-backoff", loadtest.DefaultMaxBackoff, fmt.Sprintf("longest wait between retries, Retry-After included (at most %v)", loadtest.MaxBackoffLimit))
	fs.StringVar(&o.pubsubAddr, "pubsub-addr", "", "Pub/Sub server host:port to subscribe on (default $PUBSUB_EMULATOR_HOST, else "+defaultPubSubAddr+")")
	fs.StringVar(&o.project, "project", defaultProject, "project of the topics (serve --project)")
	fs.Var(&o.topics, "topic", "`TOPIC` id or full name to watch, repeatable (default "+geminihook.DefaultTopic+" and its -quarantine topic)")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, fmt.Sprintf("after the last send, wait at most this long for the events (at most %v)", maxSettle))
	fs.DurationVar(&o.grace, "grace", time.Second, fmt.Sprintf("once every event arrived, stop reading after this long without a new message (second copies can trail) (at most %v)", maxGrace))
	fs.BoolVar(&o.noVerify, "no-verify-delivery", false, "do not subscribe: report throughput and latency only (for a baseline receiver)")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON object")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on standard error")
	fs.DurationVar(&o.progressPeriod, "progress", time.Second, "period of the progress lines")
	if err := parseFlags(fs, args, e); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch {
	case o.secret != "" && o.secretFile != "":
		return usageError("--secret and --secret-file both given: pick one")
	case o.secret == "" && o.secretFile == "":
		return usageError("no signing key: pass --secret with the whsec_ secret that geminihook serve printed (or --secret-file)")
	case o.settle <= 0 || o.settle > maxSettle:
		return usageError("--settle %v: want more than 0 and at most %v", o.settle, maxSettle)
	case o.grace < 0 || o.grace > maxGrace:
		return usageError("--grace %v: want 0 to %v", o.grace, maxGrace)
	case o.progressPeriod <= 0:
		return usageError("--progress must be positive")
	case o.project == "":
		return usageError("--project must not be empty")
	case o.noVerify && (set["pubsub-addr"] || set["topic"] || set["settle"] || set["grace"]):
		return usageError("--no-verify-delivery reads no subscription: drop --pubsub-addr, --topic, --settle and --grace")
	}
	for _, name := range []string{"n", "concurrency", "max-attempts"} {
		if v := fs.Lookup(name).Value.String(); v == "0" {
			return usageError("--%s 0: want at least 1", name)
		}
	}
	for _, name := range []string{"timeout", "deadline", "min-backoff", "max-backoff"} {
		if d, _ := time.ParseDuration(fs.Lookup(name).Value.String()); d <= 0 {
			return usageError("--%s must be positive", name)
		}
	}
	if o.secretFile != "" {
		s, err := readSecretFile(o.secretFile)
		if err != nil {
			return err
		}
		o.secret = s
	}
	lo := loadtest.Options{
		URL: o.url, Secret: o.secret, N: o.n, Concurrency: o.concurrency,
		Duplicates: o.duplicates, Forged: o.forged, Rate: o.rate,
		MaxAttempts: o.maxAttempts, AttemptTimeout: o.timeout, Deadline: o.deadline,
		MinBackoff: o.minBackoff, MaxBackoff: o.maxBackoff,
		Types: events.DocumentedTypes(), Body: sampleBody, ProgressEvery: o.progressPeriod,
	}
	if !o.quiet {
		lo.Progress = func(p loadtest.Progress) { fmt.Fprintf(e.stderr, "geminihook load: %s\n", p) }
	}
	// Check every option before touching the network.
	if err := loadtest.Validate(lo); err != nil {
		return usageError("%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), loadtest.ErrInvalidOptions.Error()+": "), "loadtest: "))
	}
	if err := loadtest.Probe(ctx, o.url); err != nil {
		return fmt.Errorf("%w: nothing answers at %s: start 'geminihook serve' (or pass the receiver's address with --url)", errUnreachable, o.url)
	}

	var col *loadtest.Collector
	if !o.noVerify {
		c, closeClient, err := o.subscribe(ctx, e)
		if err != nil {
			return err
		}
		col = c
		defer func() {
			if err := col.Close(); err != nil {
				fmt.Fprintf(e.stderr, "geminihook load: %v\n", err)
			}
			closeClient()
		}()
	}
	if !o.quiet {
		fmt.Fprintf(e.stderr, "geminihook load: sending %d deliveries to %s, %d at a time\n", o.n, o.url, o.concurrency)
	}
	res, err := loadtest.Run(ctx, lo)
	if err != nil {
		return usageError("%v", err)
	}

	var seen map[string]loadtest.Seen
	if col != nil {
		var want []string
		for _, s := range res.Sends {
			if s.Role == loadtest.RoleOriginal {
				want = append(want, s.ID)
			}
		}
		if !o.quiet {
			fmt.Fprintf(e.stderr, "geminihook load: sends done in %.1fs; waiting up to %v for %d events on the subscription\n",
				res.End.Sub(res.Start).Seconds(), o.settle, len(want))
		}
		col.Wait(ctx, want, o.settle, o.grace)
		seen = col.Seen()
		if _, _, rerr := col.Stats(); rerr != nil {
			fmt.Fprintf(e.stderr, "geminihook load: %v\n", rerr)
		}
	}
	rep := loadtest.NewReport(res, seen)
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ") // plain data: cannot fail
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		rep.WriteText(e.stdout)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: the report covers what was done")
	case len(rep.Problems()) > 0:
		return errFailed
	}
	return nil
}

// subscribe attaches to the Pub/Sub server and subscribes to the topics;
// closeClient closes the client after the Collector.
func (o *loadOptions) subscribe(ctx context.Context, e env) (col *loadtest.Collector, closeClient func(), err error) {
	addr := o.pubsubAddr
	if addr == "" {
		addr = e.getenv("PUBSUB_EMULATOR_HOST")
	}
	if addr == "" {
		addr = defaultPubSubAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, usageError("Pub/Sub address %q: want host:port, e.g. %s", addr, defaultPubSubAddr)
	}
	if !loadtest.IsLoopbackHost(host) {
		return nil, nil, usageError("Pub/Sub address %s is not on loopback: load only talks to local servers", addr)
	}
	if err := probe(ctx, addr, "Pub/Sub", "start 'geminihook serve' (it serves Pub/Sub on "+defaultPubSubAddr+"), or pass --pubsub-addr or PUBSUB_EMULATOR_HOST; --no-verify-delivery skips Pub/Sub"); err != nil {
		return nil, nil, err
	}
	client, closeClient, err := dialPubSub(ctx, addr, o.project)
	if err != nil {
		return nil, nil, err
	}
	topics := []string(o.topics)
	if len(topics) == 0 {
		topics = []string{geminihook.DefaultTopic, geminihook.DefaultTopic + "-quarantine"}
	}
	col, err = loadtest.Subscribe(ctx, client, topics, loadtest.SubscribeOptions{})
	switch {
	case errors.Is(err, loadtest.ErrTopicNotFound):
		closeClient()
		return nil, nil, fmt.Errorf("%w; or pass the --project and --topic that serve uses", err)
	case status.Code(err) == codes.Unavailable, status.Code(err) == codes.DeadlineExceeded:
		closeClient()
		return nil, nil, fmt.Errorf("%w: %w", errUnreachable, err)
	case err != nil:
		closeClient()
		return nil, nil, err
	}
	return col, closeClient, nil
}
