package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/replay"
)

const replayAbout = `
Republishes deliveries recorded in the Firestore ledger, for a consumer
that lost events it had been sent. It selects the records first seen in
[--since, --until), keeps those matching --type, --kind and --id, rebuilds
each event from the stored envelope (events.Parse, with the stored scheme
and arrival time) and publishes it to the topic of its kind, as the
function does. Each replayed message keeps its ce-id (a consumer that
dedupes on it drops the copy) and carries the attribute
geminihook_replay=<run id>, so that a consumer can choose to process it
again. A quarantined body goes to the quarantine topic again, or as an
event when the parser now understands it. Records never published (their
delivery is still being retried by Gemini) and records without a stored
envelope (empty, or 256 KiB and more) are skipped and counted.

Project, database, collection, topics, user_metadata attributes and
ordering come from the function's GEMINIHOOK_* variables and
GOOGLE_CLOUD_PROJECT, so run it with the function's environment; the
flags override. With FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST set
it uses those emulators, else Google Cloud with Application Default
Credentials (roles/datastore.viewer and roles/pubsub.publisher).

Stdout gets one line per replayed delivery and a summary; stderr gets
progress with the cursor. A run that stops (--limit, Ctrl-C, a failure)
prints how to resume: the same command with --cursor, after which it
publishes nothing it already published. The same command with the same
--run-id over the same range answers the same and publishes the same
messages. Without --until the range ends when the run starts; the summary
prints the bound to reuse.

When the messages are still retained by Pub/Sub (the topic's message
retention, or a subscription's retain_acked_messages), seeking a
subscription to a time (gcloud pubsub subscriptions seek SUB --time=T)
redelivers them to that subscription alone, with their original message
ids and no replay mark; replay works from the ledger, for as long as its
records live (GEMINIHOOK_RETENTION), and publishes to every subscription of
the topics, or to --topic.

The query is a range on first_seen_at ordered by first_seen_at and
document id: Firestore's automatic single-field index serves it (keep
first_seen_at indexed if you add index exemptions). The other filters are
applied here, on the records read.`

const replayExamples = `  geminihook replay --since 2026-01-22T00:00:00Z --until 2026-01-23T00:00:00Z --dry-run
  geminihook replay --since 6h --type batch.succeeded --type batch.failed
  geminihook replay --since 24h --kind quarantined
  geminihook replay --since 2026-01-22 --id msg_2vLy… --topic replays-for-billing
  geminihook replay --since 2026-01-22 --until 2026-01-23 --run-id fix-42 --cursor 2026-01-22T13:04:05.123456Z/5d41…`

// defaultReplayRate is --rate's default: publishes per second.
const defaultReplayRate = 50

// replayOptions are the parsed flags of replay.
type replayOptions struct {
	since, until string // as given, resolved into opts
	types, kinds stringList
	ids          stringList
	topic        string
	dryRun       bool
	rate         float64
	limit        int
	cursor       string
	runID        string
	project      string
	database     string
	collection   string
	pageSize     int
	untilGiven   bool
	runIDGiven   bool

	opts replay.Options // the engine's options, resolved
}

func runReplay(ctx context.Context, args []string, e env) error {
	o, err := parseReplay(args, e, time.Now())
	if err != nil {
		return err
	}
	cfg, err := o.config(e)
	if err != nil {
		return err
	}
	fs, ps, closeClients, err := replayClients(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer closeClients()
	pub, err := publish.New(ps, o.publishOptions(cfg))
	if err != nil {
		return badUsage("topics: %v", err)
	}
	defer pub.Close()
	src := ledger.NewFirestore(fs, ledger.Options{Collection: cfg.Collection, Retention: cfg.Retention})

	ro := o.opts
	ro.MetadataKeys = replayList(cfg.MetadataKeys)
	ro.Out, ro.Progress = e.stdout, e.stderr
	dry := ""
	if ro.DryRun {
		dry = " (dry run)"
	}
	fmt.Fprintf(e.stderr, "geminihook replay: run %s, records first seen in [%s, %s) of %s/%s%s\n", ro.RunID,
		ro.Since.Format(time.RFC3339Nano), ro.Until.Format(time.RFC3339Nano), cfg.Database, cfg.Collection, dry)
	s, err := replay.Run(ctx, src, pub, ro)
	replay.WriteSummary(e.stdout, s)
	if !s.Done {
		fmt.Fprintf(e.stdout, "  resume: %s\n", o.resumeLine(s))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, replay.ErrInvalidOptions):
		return badUsage("%v", err)
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "geminihook replay: interrupted; resume with:\n  %s\n", o.resumeLine(s))
		return errFailed
	case s.Total() == 0 && s.Cursor.IsZero() && unreachable(err):
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	fmt.Fprintf(e.stderr, "geminihook replay: %v\nresume with:\n  %s\n", err, o.resumeLine(s))
	return errFailed
}

// unreachable reports whether err is a backend that did not answer.
func unreachable(err error) bool {
	for _, c := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded} {
		var se interface{ GRPCStatus() *status.Status }
		if errors.As(err, &se) && se.GRPCStatus().Code() == c {
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// parseReplay parses and checks replay's command line; now resolves
// relative times and the default --until.
func parseReplay(args []string, e env, now time.Time) (replayOptions, error) {
	fs := newFlagSet("replay", "--since T [--until T] [--type T]... [--kind K]... [--id ID]... [--topic TOPIC] [--dry-run] [--rate R] [--run-id ID] [--cursor C]",
		replayAbout, replayExamples, e)
	var o replayOptions
	fs.StringVar(&o.since, "since", "", "first `TIME` of the range (first_seen_at, included): RFC 3339, a date (UTC), or a duration ago such as 6h; required")
	fs.StringVar(&o.until, "until", "", "end `TIME` of the range (excluded), in the same forms (default: when the run starts)")
	fs.Var(&o.types, "type", "keep only this Gemini `TYPE` (batch.succeeded, ...); repeatable")
	fs.Var(&o.kinds, "kind", "keep only this `KIND`: "+strings.Join(replay.Kinds, ", ")+"; repeatable")
	fs.Var(&o.ids, "id", "keep only this webhook `ID`; repeatable")
	fs.StringVar(&o.topic, "topic", "", "publish every event to this `TOPIC` instead of the topic of its kind (quarantined bodies still go to the quarantine topic)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be replayed; publish nothing")
	fs.Float64Var(&o.rate, "rate", defaultReplayRate, "publishes per second at most (0: no limit)")
	fs.IntVar(&o.limit, "limit", 0, "stop after this many messages, printing the cursor to resume (0: no limit)")
	fs.StringVar(&o.cursor, "cursor", "", "resume after this `CURSOR`, printed by a run that stopped (use the same --since, --until and --run-id)")
	fs.StringVar(&o.runID, "run-id", "", "`ID` of the run, the value of the geminihook_replay attribute (default: replay-<time>-<random>); reuse it to repeat or resume a run")
	fs.StringVar(&o.project, "project", "", "Google Cloud project (default $GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&o.database, "database", "", "Firestore database of the ledger (default $GEMINIHOOK_FIRESTORE_DATABASE, else "+geminihook.DefaultDatabase+"; (default) with the emulator)")
	fs.StringVar(&o.collection, "collection", "", "Firestore collection of the ledger (default $GEMINIHOOK_COLLECTION, else "+geminihook.DefaultCollection+")")
	fs.IntVar(&o.pageSize, "page-size", ledger.DefaultPageSize, "ledger documents read per query")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "until":
			o.untilGiven = true
		case "run-id":
			o.runIDGiven = true
		}
	})
	ro := replay.Options{DryRun: o.dryRun, Rate: o.rate, Limit: o.limit, PageSize: o.pageSize, Types: o.types, Kinds: o.kinds, IDs: o.ids}
	var err error
	if o.since == "" {
		return o, badFlag("since", "is required: want the start of the range, e.g. --since 24h or --since 2026-01-22T00:00:00Z")
	}
	if ro.Since, err = parseReplayTime(o.since, now); err != nil {
		return o, badFlag("since", "%q: %v", o.since, err)
	}
	ro.Until = now.UTC().Truncate(time.Microsecond) // the run's start, at the ledger's precision
	if o.untilGiven {
		if ro.Until, err = parseReplayTime(o.until, now); err != nil {
			return o, badFlag("until", "%q: %v", o.until, err)
		}
	}
	if !ro.Until.After(ro.Since) {
		return o, badUsage("--since %s is not before --until %s: want a range that holds time", ro.Since.Format(time.RFC3339Nano), ro.Until.Format(time.RFC3339Nano))
	}
	for _, t := range o.types {
		if k, _ := events.Classify(t); k == events.KindUnknown {
			return o, badFlag("type", "%q: not a documented Gemini type; want one of %s (select other types with --kind unknown)", t, strings.Join(events.DocumentedTypes(), ", "))
		}
	}
	for _, k := range o.kinds {
		if !slices.Contains(replay.Kinds, k) {
			return o, badFlag("kind", "%q: want one of %s", k, strings.Join(replay.Kinds, ", "))
		}
	}
	switch {
	case o.rate < 0:
		return o, badFlag("rate", "must not be negative: want publishes per second, or 0 for no limit")
	case o.limit < 0:
		return o, badFlag("limit", "must not be negative: want a number of messages, or 0 for no limit")
	case o.pageSize < 1 || o.pageSize > 1000:
		return o, badFlag("page-size", "%d: want 1 to 1000", o.pageSize)
	}
	if o.cursor != "" {
		if ro.After, err = ledger.ParseCursor(o.cursor); err != nil {
			return o, badFlag("cursor", "%q: want the cursor a stopped run printed (<time>/<document id>)", o.cursor)
		}
		if !o.runIDGiven {
			return o, badFlag("cursor", "needs the --run-id of the run it resumes, so that its messages carry the same replay attribute")
		}
	}
	ro.RunID = o.runID
	if !o.runIDGiven {
		b := make([]byte, 3)
		rand.Read(b) // never fails (crypto/rand)
		ro.RunID = "replay-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
	}
	if err := ro.Check(); err != nil {
		if !o.runIDGiven || !strings.Contains(err.Error(), "run id") {
			return o, badUsage("%v", strings.TrimPrefix(err.Error(), replay.ErrInvalidOptions.Error()+": "))
		}
		return o, badFlag("run-id", "%q: want 1 to %d of A-Z a-z 0-9 . _ : -", o.runID, replay.MaxRunIDBytes)
	}
	o.opts = ro
	return o, nil
}

// parseReplayTime reads an RFC 3339 time, a date (midnight UTC) or a
// duration before now.
func parseReplayTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.UTC().Add(-d), nil
	}
	return time.Time{}, errors.New("want an RFC 3339 time (2026-01-22T12:00:00Z), a date (2026-01-22) or a duration ago (6h)")
}

// config is the function's configuration from the environment, with the
// flags on top.
func (o replayOptions) config(e env) (geminihook.Config, error) {
	set := map[string]string{}
	if o.project != "" {
		set["GOOGLE_CLOUD_PROJECT"] = o.project
	}
	if o.database != "" {
		set["GEMINIHOOK_FIRESTORE_DATABASE"] = o.database
	} else if e.variable("FIRESTORE_EMULATOR_HOST") != "" && e.variable("GEMINIHOOK_FIRESTORE_DATABASE") == "" {
		set["GEMINIHOOK_FIRESTORE_DATABASE"] = firestore.DefaultDatabaseID // the emulator's, as serve
	}
	if o.collection != "" {
		set["GEMINIHOOK_COLLECTION"] = o.collection
	}
	cfg, err := geminihook.LoadConfig(func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return e.variable(k)
	})
	if err != nil {
		if e.variable("GOOGLE_CLOUD_PROJECT") == "" && o.project == "" {
			return cfg, badFlag("project", "is needed: pass --project or set GOOGLE_CLOUD_PROJECT (and the function's GEMINIHOOK_* variables)")
		}
		return cfg, badUsage("the function's configuration (GEMINIHOOK_* variables): %v", err)
	}
	return cfg, nil
}

// publishOptions routes as the function does, or everything to --topic.
func (o replayOptions) publishOptions(cfg geminihook.Config) publish.Options {
	po := publish.Options{Topic: cfg.Topic, QuarantineTopic: cfg.QuarantineTopic, Ordering: cfg.Ordering, Topics: map[events.Kind]string{}}
	if o.topic != "" {
		po.Topic = o.topic
		return po
	}
	for k, t := range map[events.Kind]string{events.KindBatch: cfg.BatchTopic, events.KindInteraction: cfg.InteractionTopic, events.KindVideo: cfg.VideoTopic} {
		if t != "" {
			po.Topics[k] = t
		}
	}
	return po
}

// resumeLine is the command that resumes the run after s.Cursor.
func (o replayOptions) resumeLine(s replay.Summary) string {
	parts := []string{"geminihook replay",
		"--since", s.Since.Format(time.RFC3339Nano), "--until", s.Until.Format(time.RFC3339Nano)}
	for _, f := range []struct {
		name string
		vs   []string
	}{{"type", o.types}, {"kind", o.kinds}, {"id", o.ids}} {
		for _, v := range f.vs {
			parts = append(parts, "--"+f.name, shellQuote(v))
		}
	}
	if o.topic != "" {
		parts = append(parts, "--topic", shellQuote(o.topic))
	}
	if o.dryRun {
		parts = append(parts, "--dry-run")
	}
	if o.rate != defaultReplayRate {
		parts = append(parts, "--rate", strconv.FormatFloat(o.rate, 'g', -1, 64))
	}
	parts = append(parts, "--run-id", shellQuote(s.RunID))
	if !s.Cursor.IsZero() {
		parts = append(parts, "--cursor", s.Cursor.String())
	}
	return strings.Join(parts, " ")
}

// replayClients returns the Firestore and Pub/Sub clients of cfg's project:
// on the emulators that FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST
// name, else on Google Cloud with Application Default Credentials.
func replayClients(ctx context.Context, e env, cfg geminihook.Config) (*firestore.Client, *pubsub.Client, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var fsOpts, psOpts []option.ClientOption
	if addr := e.variable("FIRESTORE_EMULATOR_HOST"); addr != "" {
		if err := probe(ctx, addr, "Firestore", "start the emulator FIRESTORE_EMULATOR_HOST names, or unset it to use Google Cloud"); err != nil {
			return nil, nil, nil, err
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(emulatorOwner{}))
		if err != nil {
			return nil, nil, nil, badUsage("FIRESTORE_EMULATOR_HOST=%q: %v", addr, err)
		}
		closers = append(closers, func() { conn.Close() })
		fsOpts = []option.ClientOption{option.WithGRPCConn(conn)}
	}
	if addr := e.variable("PUBSUB_EMULATOR_HOST"); addr != "" {
		if err := probe(ctx, addr, "Pub/Sub", "start the emulator PUBSUB_EMULATOR_HOST names, or unset it to use Google Cloud"); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, nil, badUsage("PUBSUB_EMULATOR_HOST=%q: %v", addr, err)
		}
		closers = append(closers, func() { conn.Close() })
		psOpts = []option.ClientOption{option.WithGRPCConn(conn), option.WithoutAuthentication()}
	}
	fs, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.Database, fsOpts...)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("firestore client: %w", err)
	}
	closers = append(closers, func() { fs.Close() })
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID, psOpts...)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("pubsub client: %w", err)
	}
	closers = append(closers, func() { ps.Close() })
	return fs, ps, closeAll, nil
}

// emulatorOwner is the admin credential the Firestore emulator expects
// from the Google clients ("Bearer owner"), which they send themselves only
// when FIRESTORE_EMULATOR_HOST is in the process environment.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorOwner) RequireTransportSecurity() bool { return false }

// replayList splits a comma-separated list (GEMINIHOOK_METADATA_ATTRIBUTES).
func replayList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
