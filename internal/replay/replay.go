// Package replay republishes deliveries recorded in the ledger: the engine
// of `geminihook replay`, for a consumer that lost events it had already
// been sent (a bug that acknowledged without processing, a subscription
// created too late, a dead-letter topic drained by mistake).
//
// Run reads the records of a first_seen_at range page by page
// (ledger.Firestore.List), keeps those that match the filters, rebuilds
// each event from its stored envelope with events.Parse and the stored
// delivery facts (scheme, received_at), and publishes it with the same
// topic-per-kind routing as the function (publish.Publisher). Each
// replayed message keeps its ce-id, so a consumer that dedupes on it drops
// the copy unless it wants it, and carries events.AttrReplay with the run
// id, so a consumer can tell a replay from the original and process each
// replay run once. An envelope that events.Parse still refuses goes to the
// quarantine topic again; one it now understands is published as an event.
//
// A run is repeatable: the same range, filters and run id select the same
// records (the ledger is not written) and publish the same messages, so a
// run repeated after a failure gives consumers nothing new but duplicates
// of ce-id and run id. It is resumable: Summary.Cursor is the position
// after the last record handled (published, skipped or filtered out), and
// Options.After resumes there without republishing what the run already
// published. A publish that has started when ctx ends is finished (within
// PublishTimeout) before Run returns, so a cursor never stops in front of
// a message that may have been sent.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
)

// ErrInvalidOptions means Options cannot describe a replay: no run id or
// a malformed one, no range or an empty one, an unknown type or kind, a
// cursor outside the range, a negative rate or limit.
var ErrInvalidOptions = errors.New("replay: invalid options")

// KindQuarantined selects, in Options.Kinds, the deliveries whose envelope
// events.Parse refuses: they are replayed to the quarantine topic.
const KindQuarantined = "quarantined"

// Kinds are the values Options.Kinds accepts.
var Kinds = []string{string(events.KindBatch), string(events.KindInteraction), string(events.KindVideo), string(events.KindUnknown), KindQuarantined}

// PublishTimeout bounds one publish, which runs to its end even when the
// run's context ends (see the package documentation).
const PublishTimeout = 30 * time.Second

// MaxRunIDBytes bounds a run id: it is an attribute value, and a consumer's
// dedup key.
const MaxRunIDBytes = 128

// Source is the ledger replay reads; *ledger.Firestore is the one.
type Source interface {
	List(ctx context.Context, r ledger.Range) (ledger.Page, error)
}

// Publisher sends the rebuilt messages; *publish.Publisher is the one.
type Publisher interface {
	Publish(ctx context.Context, kind events.Kind, m events.Message) (string, error)
	Quarantine(ctx context.Context, m events.Message) (string, error)
	TopicFor(kind events.Kind) string
	QuarantineTopic() string
}

// Options describe one replay run.
type Options struct {
	// RunID names the run: the value of the events.AttrReplay attribute of
	// every message it publishes. Required: 1 to MaxRunIDBytes of
	// A-Z a-z 0-9 . _ : -.
	RunID string
	// Since and Until select first_seen_at in [Since, Until). Both are
	// required: an open end would make a repeated run select more.
	Since, Until time.Time
	// After resumes a run after this position (Summary.Cursor of an
	// earlier run); it must lie within the range. Zero: from Since.
	After ledger.Cursor
	// Types keeps only events of these Gemini types (documented types
	// only: events.DocumentedTypes). Empty: every type.
	Types []string
	// Kinds keeps only these kinds (Kinds). Empty: every kind.
	Kinds []string
	// IDs keeps only these webhook ids. Empty: every id.
	IDs []string
	// MetadataKeys are lifted into attributes as the function does
	// (GEMINIHOOK_METADATA_ATTRIBUTES).
	MetadataKeys []string
	// DryRun selects and rebuilds but publishes nothing.
	DryRun bool
	// Rate bounds publishes per second; 0 means no bound.
	Rate float64
	// Limit stops the run after this many messages replayed (or, in a dry
	// run, that would be); 0 means no limit. Summary.Cursor resumes.
	Limit int
	// PageSize is the number of ledger documents read per query; 0 means
	// ledger.DefaultPageSize.
	PageSize int
	// Out receives one line per replayed delivery (stdout); nil discards.
	Out io.Writer
	// Progress receives a progress line with the cursor every
	// ProgressEvery, and when the run stops (stderr); nil discards.
	Progress io.Writer
	// ProgressEvery defaults to 5 s.
	ProgressEvery time.Duration
	// Now is the clock for pacing and progress; nil means time.Now.
	Now func() time.Time
}

// Summary is what a run did. Equal options over an unchanged ledger give
// an equal Summary.
type Summary struct {
	RunID        string
	Since, Until time.Time
	DryRun       bool
	// Replayed counts the events published (or, in a dry run, that would
	// be), by Gemini type ("" for an event without a type).
	Replayed map[string]int
	// Quarantined counts the deliveries sent to the quarantine topic.
	Quarantined int
	// NotPublished counts selected records still processing (their
	// delivery was never published: Gemini's retry publishes it), and
	// NoEnvelope those whose body was not stored (empty, or 256 KiB and
	// more): they cannot be replayed.
	NotPublished, NoEnvelope int
	// Cursor is the position after the last record handled; Done reports
	// that the range was read to its end.
	Cursor ledger.Cursor
	Done   bool
}

// Total is the number of messages the run published (or would have).
func (s Summary) Total() int {
	n := s.Quarantined
	for _, v := range s.Replayed {
		n += v
	}
	return n
}

// Check validates o; errors wrap ErrInvalidOptions.
func (o Options) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	switch {
	case o.RunID == "" || len(o.RunID) > MaxRunIDBytes || strings.Trim(o.RunID, runIDChars) != "":
		return bad("run id %q: want 1 to %d of A-Z a-z 0-9 . _ : -", o.RunID, MaxRunIDBytes)
	case o.Since.IsZero() || o.Until.IsZero():
		return bad("since and until are required")
	case !o.Until.After(o.Since):
		return bad("until (%s) must be after since (%s)", o.Until.UTC().Format(time.RFC3339Nano), o.Since.UTC().Format(time.RFC3339Nano))
	case !o.After.IsZero() && (o.After.FirstSeenAt.Before(o.Since) || !o.After.FirstSeenAt.Before(o.Until)):
		return bad("cursor %s is outside [since, until)", o.After)
	case o.Rate < 0 || o.Limit < 0 || o.PageSize < 0:
		return bad("negative rate, limit or page size")
	}
	for _, t := range o.Types {
		if k, _ := events.Classify(t); k == events.KindUnknown {
			return bad("type %q is not a documented Gemini type (%s); select other types with kind unknown", t, strings.Join(events.DocumentedTypes(), ", "))
		}
	}
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds, k) {
			return bad("kind %q: want one of %s", k, strings.Join(Kinds, ", "))
		}
	}
	for _, id := range o.IDs {
		if id == "" {
			return bad("empty webhook id")
		}
	}
	return nil
}

const runIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"

// Run replays the records o selects from src through pub. It returns the
// Summary of what it did also with an error: ctx's error when interrupted,
// ErrInvalidOptions, or the failure of a ledger read or a publish (the
// cursor then resumes at the record that failed).
func Run(ctx context.Context, src Source, pub Publisher, o Options) (Summary, error) {
	s := Summary{RunID: o.RunID, Since: o.Since.UTC(), Until: o.Until.UTC(), DryRun: o.DryRun, Replayed: map[string]int{}, Cursor: o.After}
	if err := o.Check(); err != nil {
		return s, err
	}
	r := &run{o: o, src: src, pub: pub, s: &s}
	r.init()
	err := r.loop(ctx)
	r.progress(true)
	return s, err
}

// run is the state of one Run.
type run struct {
	o        Options
	src      Source
	pub      Publisher
	s        *Summary
	now      func() time.Time
	types    map[string]bool
	kinds    map[string]bool
	ids      map[string]bool
	start    time.Time
	sent     int // publishes paced so far
	lastNote time.Time
}

func (r *run) init() {
	r.now = r.o.Now
	if r.now == nil {
		r.now = time.Now
	}
	if r.o.Out == nil {
		r.o.Out = io.Discard
	}
	if r.o.Progress == nil {
		r.o.Progress = io.Discard
	}
	if r.o.ProgressEvery <= 0 {
		r.o.ProgressEvery = 5 * time.Second
	}
	set := func(xs []string) map[string]bool {
		if len(xs) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	r.types, r.kinds, r.ids = set(r.o.Types), set(r.o.Kinds), set(r.o.IDs)
	r.start, r.lastNote = r.now(), r.now()
}

// errLimit ends the loop at Options.Limit.
var errLimit = errors.New("limit reached")

func (r *run) loop(ctx context.Context) error {
	rg := ledger.Range{Since: r.o.Since, Until: r.o.Until, After: r.o.After, Limit: r.o.PageSize}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := r.src.List(ctx, rg)
		if err != nil {
			return fmt.Errorf("reading the ledger after %v: %w", orStart(r.s.Cursor), err)
		}
		for _, rec := range page.Records {
			if err := r.handle(ctx, rec); err != nil {
				if errors.Is(err, errLimit) {
					return nil
				}
				return err
			}
			r.s.Cursor = rec.Cursor()
			r.progress(false)
		}
		// Past documents that are not records (token bindings, expired).
		r.s.Cursor = page.Next
		if page.Done {
			r.s.Done = true
			return nil
		}
		rg.After = page.Next
	}
}

func orStart(c ledger.Cursor) string {
	if c.IsZero() {
		return "the start of the range"
	}
	return c.String()
}

// handle replays one record, or counts why not. It returns errLimit
// before a record that would exceed Options.Limit.
func (r *run) handle(ctx context.Context, rec *ledger.Record) error {
	if r.ids != nil && !r.ids[rec.WebhookID] {
		return nil
	}
	received := rec.ReceivedAt
	if received.IsZero() {
		received = rec.FirstSeenAt // a record from before received_at was stored
	}
	// What the record holds now: an event, a quarantined body, or nothing
	// to rebuild from (then the stored type decides the filters).
	var ev *events.Event
	var parseErr error
	kind, typ := string(events.KindUnknown), rec.EventType
	if rec.Envelope != nil {
		if ev, parseErr = events.Parse(rec.Envelope); parseErr == nil {
			ev.WebhookID, ev.Scheme, ev.ReceivedAt = rec.WebhookID, rec.Scheme, received
			kind, typ = string(ev.Kind), ev.Type
		} else {
			kind, typ = KindQuarantined, ""
		}
	} else if typ != "" {
		k, _ := events.Classify(typ)
		kind = string(k)
	}
	if (r.types != nil && !r.types[typ]) || (r.kinds != nil && !r.kinds[kind]) {
		return nil
	}
	switch {
	case rec.State != ledger.StatePublished:
		r.s.NotPublished++
		return nil
	case rec.Envelope == nil:
		r.s.NoEnvelope++
		return nil
	}
	if r.o.Limit > 0 && r.s.Total() >= r.o.Limit {
		return errLimit
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	var m events.Message
	quarantine := parseErr != nil
	if quarantine {
		m = events.QuarantineMessage(rec.Envelope, rec.WebhookID, rec.Scheme, parseErr, received)
	} else {
		var err error
		if m, err = ev.MessageWith(r.o.MetadataKeys); err != nil {
			// As the handler does with an event it cannot encode.
			quarantine = true
			m = events.QuarantineMessage(rec.Envelope, rec.WebhookID, rec.Scheme, err, received)
		}
	}
	m.Attributes = maps.Clone(m.Attributes)
	m.Attributes[events.AttrReplay] = r.o.RunID

	topic := r.pub.QuarantineTopic()
	if !quarantine {
		topic = r.pub.TopicFor(ev.Kind)
	}
	if !r.o.DryRun {
		if err := r.pace(ctx); err != nil {
			return err
		}
		var err error
		if topic, quarantine, err = r.publish(ctx, ev, m, quarantine); err != nil {
			return fmt.Errorf("publishing %q (first seen %s): %w", rec.WebhookID, rec.FirstSeenAt.Format(time.RFC3339Nano), err)
		}
	}
	if quarantine {
		r.s.Quarantined++
		typ = "QUARANTINED"
	} else {
		r.s.Replayed[typ]++
	}
	fmt.Fprintf(r.o.Out, "%s  %-40s  %-28s  → %s\n", rec.FirstSeenAt.UTC().Format(time.RFC3339Nano), rec.WebhookID, orDash(typ), topic)
	return nil
}

// publish sends m and returns the topic it went to and whether that is
// the quarantine topic. A publish runs to its end even when ctx ends, so
// that the cursor is exact.
func (r *run) publish(ctx context.Context, ev *events.Event, m events.Message, quarantine bool) (string, bool, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), PublishTimeout)
	defer cancel()
	if quarantine {
		_, err := r.pub.Quarantine(pctx, m)
		return r.pub.QuarantineTopic(), true, err
	}
	_, err := r.pub.Publish(pctx, ev.Kind, m)
	if errors.Is(err, publish.ErrInvalidMessage) {
		// Pub/Sub refuses the event: the handler quarantined it too.
		q := events.QuarantineMessage(ev.Envelope, ev.WebhookID, ev.Scheme, err, ev.ReceivedAt)
		q.Attributes[events.AttrReplay] = r.o.RunID
		_, err = r.pub.Quarantine(pctx, q)
		return r.pub.QuarantineTopic(), true, err
	}
	return r.pub.TopicFor(ev.Kind), false, err
}

// pace waits until the next publish keeps Options.Rate.
func (r *run) pace(ctx context.Context) error {
	defer func() { r.sent++ }()
	if r.o.Rate <= 0 {
		return nil
	}
	at := r.start.Add(time.Duration(float64(r.sent) / r.o.Rate * float64(time.Second)))
	d := at.Sub(r.now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progress writes a progress line every ProgressEvery, or now when final.
func (r *run) progress(final bool) {
	now := r.now()
	if !final && now.Sub(r.lastNote) < r.o.ProgressEvery {
		return
	}
	r.lastNote = now
	verb := "replayed"
	if r.o.DryRun {
		verb = "would replay"
	}
	fmt.Fprintf(r.o.Progress, "replay %s: %s %d (%d quarantined), skipped %d; cursor %s\n",
		r.o.RunID, verb, r.s.Total(), r.s.Quarantined, r.s.NotPublished+r.s.NoEnvelope, orStart(r.s.Cursor))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteSummary writes s for people, in a fixed order: equal summaries
// print equally.
func WriteSummary(w io.Writer, s Summary) {
	mode := ""
	if s.DryRun {
		mode = " (dry run: nothing was published)"
	}
	fmt.Fprintf(w, "replay %s: first_seen_at from %s until %s%s\n", s.RunID,
		s.Since.Format(time.RFC3339Nano), s.Until.Format(time.RFC3339Nano), mode)
	types := make([]string, 0, len(s.Replayed))
	n := 0
	for t, c := range s.Replayed {
		types = append(types, fmt.Sprintf("%s %d", orDash(t), c))
		n += c
	}
	sort.Strings(types)
	fmt.Fprintf(w, "  events:      %d", n)
	if len(types) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(types, ", "))
	}
	fmt.Fprintf(w, "\n  quarantined: %d\n", s.Quarantined)
	fmt.Fprintf(w, "  skipped:     %d not published yet (Gemini's retry publishes them), %d without a stored envelope\n", s.NotPublished, s.NoEnvelope)
	if s.Done {
		fmt.Fprintf(w, "  done: the whole range was read\n")
	} else {
		fmt.Fprintf(w, "  stopped: resume with --cursor %s\n", orStart(s.Cursor))
	}
}
