package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/loadtest"
	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/internal/subscription"
	"github.com/geminihook/geminihook/verify/verifytest"
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

` + secretsRule + ` Each secret adds one v1 token to
webhook-signature.

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

// loadOptions are the parsed flags of load.
type loadOptions struct {
	lo       loadtest.Options // the engine's options, all but the secrets
	secrets  secretFlags
	pubsub   pubsubFlags
	settle   time.Duration
	grace    time.Duration
	noVerify bool
	json     bool
	quiet    bool
}

func runLoad(ctx context.Context, args []string, e env) error {
	o, err := parseLoad(args, e)
	if err != nil {
		return err
	}
	secrets, err := o.secrets.read()
	if err != nil {
		return err
	}
	lo := o.lo
	lo.Secret, lo.Secrets = secrets[0], secrets[1:]
	if !o.quiet {
		lo.Progress = func(p loadtest.Progress) { fmt.Fprintf(e.stderr, "geminihook load: %s\n", p) }
	}
	if err := loadtest.Probe(ctx, lo.URL); err != nil {
		return fmt.Errorf("%w: nothing answers at %s: start 'geminihook serve' (or pass the receiver's address with --url)", errUnreachable, lo.URL)
	}

	var col *loadtest.Collector
	if !o.noVerify {
		c, closeClient, err := o.subscribe(ctx)
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
		fmt.Fprintf(e.stderr, "geminihook load: sending %d deliveries to %s, %d at a time\n", lo.N, lo.URL, lo.Concurrency)
	}
	res, err := loadtest.Run(ctx, lo)
	if err != nil {
		return loadUsage(err)
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

// parseLoad parses and checks load's command line: every option is
// checked before anything touches the network.
func parseLoad(args []string, e env) (loadOptions, error) {
	fs := newFlagSet("load", "--secret whsec_… [--url URL] [--n N] [--concurrency C] [flags]", loadAbout, loadExamples, e)
	var o loadOptions
	lo := &o.lo
	fs.StringVar(&lo.URL, "url", defaultURL, "receiver to load (loopback only)")
	o.secrets.register(fs, "that signs the deliveries (serve prints it)", "")
	fs.IntVar(&lo.N, "n", loadtest.DefaultN, fmt.Sprintf("deliveries to send, duplicates and forgeries included (at most %d)", loadtest.MaxN))
	fs.IntVar(&lo.Concurrency, "concurrency", loadtest.DefaultConcurrency, fmt.Sprintf("HTTP attempts in flight at once (at most %d)", loadtest.MaxConcurrency))
	fs.Float64Var(&lo.Duplicates, "duplicates", 0.2, "share of --n re-sent concurrently with an authentic delivery's webhook-id (0 to 0.9)")
	fs.Float64Var(&lo.Forged, "forged", 0.05, "share of --n forged or stale (0 to 0.5)")
	fs.Float64Var(&lo.Rate, "rate", 0, "deliveries started per second (0: as fast as --concurrency allows)")
	fs.IntVar(&lo.MaxAttempts, "max-attempts", loadtest.DefaultMaxAttempts, fmt.Sprintf("attempts per send before giving up (at most %d)", loadtest.MaxAttemptsLimit))
	fs.DurationVar(&lo.AttemptTimeout, "timeout", loadtest.DefaultAttemptTimeout, fmt.Sprintf("bound on each HTTP attempt (at most %v)", loadtest.MaxAttemptTimeout))
	fs.DurationVar(&lo.Deadline, "deadline", loadtest.DefaultDeadline, fmt.Sprintf("no retry of a send starts later than this after its first attempt (at most %v)", loadtest.MaxDeadline))
	fs.DurationVar(&lo.MinBackoff, "min-backoff", loadtest.DefaultMinBackoff, "wait before the first retry, doubled per retry")
	fs.DurationVar(&lo.MaxBackoff, "max-backoff", loadtest.DefaultMaxBackoff, fmt.Sprintf("longest wait between retries, Retry-After included (at most %v)", loadtest.MaxBackoffLimit))
	o.pubsub.register(fs, "watch")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, fmt.Sprintf("after the last send, wait at most this long for the events (at most %v)", maxSettle))
	fs.DurationVar(&o.grace, "grace", time.Second, fmt.Sprintf("once every event arrived, stop reading after this long without a new message (second copies can trail) (at most %v)", maxGrace))
	fs.BoolVar(&o.noVerify, "no-verify-delivery", false, "do not subscribe: report throughput and latency only (for a baseline receiver)")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON object")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on standard error")
	fs.DurationVar(&lo.ProgressEvery, "progress", loadtest.DefaultProgressEvery, "period of the progress lines")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	lo.Types, lo.Body = events.DocumentedTypes(), sampleBody

	switch {
	case !o.secrets.given():
		return o, badUsage("no signing key: pass --secret with the whsec_ secret that geminihook serve printed (or --secret-file)")
	case o.settle <= 0 || o.settle > maxSettle:
		return o, badFlag("settle", "%v: want more than 0 and at most %v", o.settle, maxSettle)
	case o.grace < 0 || o.grace > maxGrace:
		return o, badFlag("grace", "%v: want 0 to %v", o.grace, maxGrace)
	case lo.ProgressEvery <= 0:
		return o, badFlag("progress", "must be positive: want a duration such as 1s, not %v", lo.ProgressEvery)
	case o.noVerify && (set["pubsub-addr"] || set["topic"] || set["settle"] || set["grace"]):
		return o, badFlag("no-verify-delivery", "reads no subscription: drop --pubsub-addr, --topic, --settle and --grace")
	}
	if err := o.secrets.check(); err != nil {
		return o, err
	}
	// Zero is the engine's "default"; on the command line it is a mistake.
	for name, v := range map[string]struct{ n, max int }{
		"n": {lo.N, loadtest.MaxN}, "concurrency": {lo.Concurrency, loadtest.MaxConcurrency}, "max-attempts": {lo.MaxAttempts, loadtest.MaxAttemptsLimit},
	} {
		if v.n < 1 {
			return o, badFlag(name, "%d: want 1 to %d", v.n, v.max)
		}
	}
	for name, d := range map[string]time.Duration{"timeout": lo.AttemptTimeout, "deadline": lo.Deadline, "min-backoff": lo.MinBackoff, "max-backoff": lo.MaxBackoff} {
		if d <= 0 {
			return o, badFlag(name, "must be positive: want a duration such as 5s, not %v", d)
		}
	}
	// The secrets are checked above (--secret-file is read by runLoad): a
	// stand-in lets the engine check every other option.
	check := o.lo
	check.Secret = verifytest.Secret
	if err := loadtest.Validate(check); err != nil {
		return o, loadUsage(err)
	}
	if o.noVerify {
		return o, nil
	}
	if err := o.pubsub.resolve(e); err != nil {
		return o, err
	}
	if host, _, _ := splitHostPort(o.pubsub.addr); !localnet.IsLoopbackHost(host) {
		if o.pubsub.fromEnv {
			return o, badUsage("PUBSUB_EMULATOR_HOST=%s is not on loopback: load only talks to local servers (or pass --no-verify-delivery)", o.pubsub.addr)
		}
		return o, badFlag("pubsub-addr", "%s: not on loopback: load only talks to local servers (127.0.0.0/8, ::1, localhost)", o.pubsub.addr)
	}
	return o, nil
}

// loadFlags are the flags of the engine's options, by Options field.
var loadFlags = map[string]string{
	"URL": "url", "Secret": "secret", "N": "n", "Concurrency": "concurrency", "Duplicates": "duplicates",
	"Forged": "forged", "Rate": "rate", "MaxAttempts": "max-attempts", "AttemptTimeout": "timeout",
	"Deadline": "deadline", "MinBackoff": "min-backoff", "MaxBackoff": "max-backoff", "ProgressEvery": "progress",
}

// loadUsage is the usage error of an option the engine refuses, naming
// its flag.
func loadUsage(err error) error {
	oe, ok := errors.AsType[*loadtest.OptionError](err)
	if !ok {
		return badUsage("%v", err)
	}
	name, ok := loadFlags[oe.Field]
	switch {
	case !ok:
		return badUsage("%v", err)
	case oe.Value == "":
		return badFlag(name, "is not valid: %s", oe.Want)
	}
	return badFlag(name, "%s: %s", oe.Value, oe.Want)
}

// subscribe attaches to the Pub/Sub server and subscribes to the topics;
// closeClient closes the client after the Collector.
func (o *loadOptions) subscribe(ctx context.Context) (col *loadtest.Collector, closeClient func(), err error) {
	addr := o.pubsub.addr
	if err := probe(ctx, addr, "Pub/Sub", "start 'geminihook serve' (it serves Pub/Sub on "+defaultPubSubAddr+"), or pass --pubsub-addr or PUBSUB_EMULATOR_HOST; --no-verify-delivery skips Pub/Sub"); err != nil {
		return nil, nil, err
	}
	client, closeClient, err := dialPubSub(ctx, addr, o.pubsub.project)
	if err != nil {
		return nil, nil, err
	}
	col, err = loadtest.Subscribe(ctx, client, o.pubsub.topics, loadtest.SubscribeOptions{})
	switch {
	case errors.Is(err, subscription.ErrTopicNotFound):
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
