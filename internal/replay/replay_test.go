package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/replay"
)

func TestMain(m *testing.M) { emulator.Main(m) }

var t0 = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// rig is a ledger on the Firestore emulator and the function's publisher on
// the Pub/Sub emulator, with a subscription on each topic, in a project of
// the test's own.
type rig struct {
	project string
	fs      *firestore.Client
	ps      *pubsub.Client
	clock   time.Time
	ledger  *ledger.Firestore
	pub     *publish.Publisher
	subs    map[string]string // topic id → subscription
}

var topicIDs = []string{"events", "batch-events", "events-quarantine"}

func newRig(t *testing.T) *rig {
	t.Helper()
	fsEmu, psEmu := emulator.Firestore(t), emulator.PubSub(t)
	r := &rig{project: emulator.ProjectID(t), subs: map[string]string{}}
	var err error
	if r.fs, err = firestore.NewClient(t.Context(), r.project, fsEmu.ClientOptions(t, nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.fs.Close() })
	if r.ps, err = pubsub.NewClient(t.Context(), r.project, psEmu.ClientOptions(t, nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close() })
	r.ledger = ledger.NewFirestore(r.fs, ledger.Options{Now: func() time.Time { return r.clock }, Retention: 30 * 24 * time.Hour})
	r.pub, err = publish.New(r.ps, publish.Options{Topic: "events", Topics: map[events.Kind]string{events.KindBatch: "batch-events"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pub.Close)
	if err := publish.EnsureTopics(t.Context(), r.ps, r.pub.Topics()...); err != nil {
		t.Fatal(err)
	}
	for _, id := range topicIDs {
		sub := "projects/" + r.project + "/subscriptions/consumer-" + id
		if _, err := r.ps.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
			Name: sub, Topic: "projects/" + r.project + "/topics/" + id, AckDeadlineSeconds: 60,
		}); err != nil {
			t.Fatal(err)
		}
		r.subs[id] = sub
	}
	return r
}

// delivery records a delivery as the function does (claim, publish,
// complete) at t0+at; unpublished ones stay processing.
type delivery struct {
	id        string
	body      string
	at        time.Duration
	scheme    string
	token     string
	published bool
}

func (r *rig) record(t *testing.T, d delivery) {
	t.Helper()
	r.clock = t0.Add(d.at)
	received := r.clock.Add(-123456789 * time.Nanosecond)
	lz, err := r.ledger.Claim(t.Context(), ledger.Delivery{WebhookID: d.id, Envelope: []byte(d.body), Token: d.token,
		Scheme: d.scheme, ReceivedAt: received})
	if err != nil {
		t.Fatal(err)
	}
	if !d.published {
		return
	}
	var id string
	if ev, perr := events.Parse([]byte(d.body)); perr == nil {
		ev.WebhookID, ev.Scheme, ev.ReceivedAt = d.id, d.scheme, received
		m, err := ev.Message()
		if err != nil {
			t.Fatal(err)
		}
		id, err = r.pub.Publish(t.Context(), ev.Kind, m)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		id, err = r.pub.Quarantine(t.Context(), events.QuarantineMessage([]byte(d.body), d.id, d.scheme, perr, received))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.ledger.Complete(t.Context(), lz, id); err != nil {
		t.Fatal(err)
	}
}

// got is a message as a consumer receives it.
type got struct {
	topic string
	id    string // ce-id
	run   string // geminihook_replay
	data  string
	attrs map[string]string
}

// drain pulls and acknowledges everything on the consumer's subscriptions:
// it publishes a marker to each topic and pulls until every marker came.
func (r *rig) drain(t *testing.T) []got {
	t.Helper()
	var out []got
	for _, topic := range topicIDs {
		marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
		if _, err := r.ps.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{
			Topic:    "projects/" + r.project + "/topics/" + topic,
			Messages: []*pubsubpb.PubsubMessage{{Data: []byte(marker), Attributes: map[string]string{"marker": marker}}},
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for seen := false; !seen; {
			if time.Now().After(deadline) {
				t.Fatalf("the marker on %s did not arrive", topic)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			res, err := r.ps.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: r.subs[topic], MaxMessages: 100})
			cancel()
			if err != nil {
				continue // the emulator answers an empty pull with a deadline
			}
			var acks []string
			for _, rm := range res.ReceivedMessages {
				acks = append(acks, rm.AckId)
				m := rm.Message
				if m.Attributes["marker"] == marker {
					seen = true
					continue
				}
				if m.Attributes["marker"] != "" {
					continue
				}
				out = append(out, got{topic, m.Attributes[events.AttrID], m.Attributes[events.AttrReplay], string(m.Data), m.Attributes})
			}
			if len(acks) > 0 {
				if err := r.ps.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: r.subs[topic], AckIds: acks}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b got) int { return strings.Compare(a.topic+a.id, b.topic+b.id) })
	return out
}

func body(typ, job string) string {
	return fmt.Sprintf(`{"type":%q,"version":"v1","timestamp":"2026-01-22T11:59:00Z","data":{"id":%q,"output_file_uri":"gs://b/%s.jsonl"}}`, typ, job, job)
}

// history is a day of deliveries: every kind, a quarantined body, one
// never published, a JWT one (its token binding shares the collection).
var history = []delivery{
	{"msg_a", body("batch.succeeded", "batches/a"), 1 * time.Minute, "v1", "", true},
	{"msg_b", body("interaction.completed", "interactions/b"), 2 * time.Minute, "v1a", "", true},
	{"msg_c", body("batch.failed", "batches/c"), 3 * time.Minute, "jwt", "tok-c", true},
	{"msg_d", `not json at all`, 4 * time.Minute, "v1", "", true},
	{"msg_e", body("video.generated", "operations/e"), 5 * time.Minute, "v1", "", false},
	{"msg_f", body("batch.succeeded", "batches/f"), 6 * time.Minute, "v1", "", true},
	{"msg_g", body("batch.paused", "batches/g"), 7 * time.Minute, "v1", "", true},
}

func (r *rig) setUp(t *testing.T) map[string]got {
	t.Helper()
	for _, d := range history {
		r.record(t, d)
	}
	// The consumer received everything and lost it (acknowledged without
	// doing the work): the originals, to compare the replays with.
	orig := map[string]got{}
	for _, g := range r.drain(t) {
		orig[g.id] = g
	}
	if len(orig) != 6 {
		t.Fatalf("originals: %d, want the 6 published", len(orig))
	}
	return orig
}

func ids(gs []got) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.topic+":"+g.id)
	}
	slices.Sort(out)
	return out
}

// TestReplaySelected: a replay of a range republishes exactly the published
// deliveries in it that match the filters, each to the topic the function
// used, with its ce-id, the data it had (received_at at the ledger's
// microseconds) and the replay attribute; a quarantined body goes to the
// quarantine topic again.
func TestReplaySelected(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	orig := r.setUp(t)

	tests := []struct {
		name string
		o    replay.Options
		want []string
	}{
		{"everything", replay.Options{Since: t0, Until: t0.Add(time.Hour)},
			[]string{"batch-events:msg_a", "batch-events:msg_c", "batch-events:msg_f", "events-quarantine:msg_d", "events:msg_b", "events:msg_g"}},
		{"since included, until excluded", replay.Options{Since: t0.Add(2 * time.Minute), Until: t0.Add(6 * time.Minute)},
			[]string{"batch-events:msg_c", "events-quarantine:msg_d", "events:msg_b"}},
		{"by type", replay.Options{Since: t0, Until: t0.Add(time.Hour), Types: []string{"batch.succeeded", "interaction.completed"}},
			[]string{"batch-events:msg_a", "batch-events:msg_f", "events:msg_b"}},
		{"by kind", replay.Options{Since: t0, Until: t0.Add(time.Hour), Kinds: []string{"quarantined", "unknown"}},
			[]string{"events-quarantine:msg_d", "events:msg_g"}},
		{"by id", replay.Options{Since: t0, Until: t0.Add(time.Hour), IDs: []string{"msg_c", "msg_e", "msg_zz"}},
			[]string{"batch-events:msg_c"}},
	}
	for i, tt := range tests {
		o := tt.o
		o.RunID = fmt.Sprintf("run-%d", i)
		var out bytes.Buffer
		o.Out = &out
		s, err := replay.Run(t.Context(), r.ledger, r.pub, o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !s.Done || s.Total() != len(tt.want) {
			t.Errorf("%s: summary %+v, want done with %d", tt.name, s, len(tt.want))
		}
		gs := r.drain(t)
		if got := ids(gs); !slices.Equal(got, tt.want) {
			t.Errorf("%s: replayed %v\nwant %v", tt.name, got, tt.want)
		}
		if n := strings.Count(out.String(), "\n"); n != len(tt.want) {
			t.Errorf("%s: %d output lines for %d replays:\n%s", tt.name, n, len(tt.want), out.String())
		}
		for _, g := range gs {
			if g.run != o.RunID {
				t.Errorf("%s: %s carries %s=%q, want %q", tt.name, g.id, events.AttrReplay, g.run, o.RunID)
			}
			want := orig[g.id]
			if g.topic != want.topic {
				t.Errorf("%s: %s went to %s, the original to %s", tt.name, g.id, g.topic, want.topic)
			}
			for k, v := range want.attrs {
				if k == events.AttrTime && g.topic == "events-quarantine" {
					// A quarantine message's time is received_at: microseconds.
					w, _ := time.Parse(time.RFC3339Nano, v)
					v = w.Truncate(time.Microsecond).Format(time.RFC3339Nano)
				}
				if g.attrs[k] != v {
					t.Errorf("%s: %s attribute %s = %q, the original had %q", tt.name, g.id, k, g.attrs[k], v)
				}
			}
			if g.topic == "events-quarantine" {
				if g.data != want.data {
					t.Errorf("%s: quarantined %s data = %q, want %q", tt.name, g.id, g.data, want.data)
				}
				continue
			}
			ev, err := events.Decode([]byte(g.data), g.attrs)
			if err != nil {
				t.Fatal(err)
			}
			before, err := events.Decode([]byte(want.data), want.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Replay != o.RunID || before.Replay != "" || !ev.ReceivedAt.Equal(before.ReceivedAt.Truncate(time.Microsecond)) {
				t.Errorf("%s: %s replay %q received_at %v; original replay %q received_at %v", tt.name, g.id, ev.Replay, ev.ReceivedAt, before.Replay, before.ReceivedAt)
			}
			ev.ReceivedAt, ev.Replay = before.ReceivedAt, ""
			if fmt.Sprintf("%+v", *ev) != fmt.Sprintf("%+v", *before) {
				t.Errorf("%s: replayed event\n%+v\nwant the original\n%+v", tt.name, *ev, *before)
			}
		}
	}
}

// TestReplayDryRun: a dry run selects and prints what it would publish,
// and publishes nothing.
func TestReplayDryRun(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.setUp(t)
	var out bytes.Buffer
	s, err := replay.Run(t.Context(), r.ledger, r.pub, replay.Options{RunID: "dry", Since: t0, Until: t0.Add(time.Hour), DryRun: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if s.Total() != 6 || s.NotPublished != 1 || !s.Done {
		t.Errorf("summary %+v, want 6 that would be replayed, 1 not published", s)
	}
	for _, id := range []string{"msg_a", "msg_b", "msg_c", "msg_d", "msg_f", "msg_g"} {
		if !strings.Contains(out.String(), id) {
			t.Errorf("dry run output lacks %s:\n%s", id, out.String())
		}
	}
	if !strings.Contains(out.String(), "projects/"+r.project+"/topics/batch-events") {
		t.Errorf("dry run output does not name the topics:\n%s", out.String())
	}
	if gs := r.drain(t); len(gs) != 0 {
		t.Errorf("a dry run published %v", ids(gs))
	}
}

// stopAfter wraps the publisher and cancels the run's context once n
// messages were published: an interrupt (Ctrl-C) in the middle of a run.
type stopAfter struct {
	*publish.Publisher
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (s *stopAfter) count() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n--; s.n == 0 {
		s.cancel()
	}
}

func (s *stopAfter) Publish(ctx context.Context, k events.Kind, m events.Message) (string, error) {
	id, err := s.Publisher.Publish(ctx, k, m)
	s.count()
	return id, err
}

func (s *stopAfter) Quarantine(ctx context.Context, m events.Message) (string, error) {
	id, err := s.Publisher.Quarantine(ctx, m)
	s.count()
	return id, err
}

// TestReplayResumes: a run interrupted after some publishes (its context
// canceled during a publish, which still completes) stops with a cursor;
// resumed from that cursor's text, the run publishes the rest, and nothing
// twice. Run twice with the same run id, a replay gives the same summary
// and the same messages.
func TestReplayResumes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.setUp(t)
	base := replay.Options{RunID: "resume-1", Since: t0, Until: t0.Add(time.Hour), PageSize: 2}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var progress bytes.Buffer
	o := base
	o.Progress = &progress
	first, err := replay.Run(ctx, r.ledger, &stopAfter{Publisher: r.pub, n: 3, cancel: cancel}, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run = %v, want context.Canceled", err)
	}
	if first.Done || first.Total() != 3 {
		t.Fatalf("interrupted run: %+v, want 3 published and not done", first)
	}
	if !strings.Contains(progress.String(), "cursor "+first.Cursor.String()) {
		t.Errorf("progress does not show the cursor %s:\n%s", first.Cursor, progress.String())
	}
	cur, err := ledger.ParseCursor(first.Cursor.String())
	if err != nil {
		t.Fatal(err)
	}
	o = base
	o.After = cur
	rest, err := replay.Run(t.Context(), r.ledger, r.pub, o)
	if err != nil || !rest.Done || rest.Total() != 3 {
		t.Fatalf("resumed run: %+v, %v; want the other 3", rest, err)
	}
	gs := r.drain(t)
	want := []string{"batch-events:msg_a", "batch-events:msg_c", "batch-events:msg_f", "events-quarantine:msg_d", "events:msg_b", "events:msg_g"}
	if got := ids(gs); !slices.Equal(got, want) {
		t.Errorf("interrupted + resumed published %v\nwant each once: %v", got, want)
	}

	// The same run again: the same answer, the same messages.
	var out1, out2 bytes.Buffer
	o = base
	o.Out = &out1
	s1, err := replay.Run(t.Context(), r.ledger, r.pub, o)
	if err != nil {
		t.Fatal(err)
	}
	g1 := r.drain(t)
	o.Out = &out2
	s2, err := replay.Run(t.Context(), r.ledger, r.pub, o)
	if err != nil {
		t.Fatal(err)
	}
	g2 := r.drain(t)
	var sum1, sum2 bytes.Buffer
	replay.WriteSummary(&sum1, s1)
	replay.WriteSummary(&sum2, s2)
	if sum1.String() != sum2.String() || out1.String() != out2.String() {
		t.Errorf("two runs with the same id answer differently:\n%s%s\n---\n%s%s", out1.String(), sum1.String(), out2.String(), sum2.String())
	}
	if fmt.Sprint(g1) != fmt.Sprint(g2) || len(g1) != 6 {
		t.Errorf("two runs with the same id published different messages:\n%v\n%v", g1, g2)
	}
}

// TestReplayLimitAndRate: --limit stops after that many with a cursor that
// resumes; --rate paces the publishes.
func TestReplayLimitAndRate(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.setUp(t)
	began := time.Now()
	s, err := replay.Run(t.Context(), r.ledger, r.pub, replay.Options{RunID: "lim", Since: t0, Until: t0.Add(time.Hour), Limit: 4, Rate: 10})
	if err != nil || s.Done || s.Total() != 4 {
		t.Fatalf("limited run: %+v, %v; want 4 and not done", s, err)
	}
	// 4 publishes at 10/s: the 4th at 300 ms.
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("4 publishes at --rate 10 took %v, want at least 300ms", d)
	}
	var sum bytes.Buffer
	replay.WriteSummary(&sum, s)
	if !strings.Contains(sum.String(), "resume with --cursor "+s.Cursor.String()) {
		t.Errorf("summary of a stopped run lacks the cursor:\n%s", sum.String())
	}
	rest, err := replay.Run(t.Context(), r.ledger, r.pub, replay.Options{RunID: "lim", Since: t0, Until: t0.Add(time.Hour), After: s.Cursor})
	if err != nil || !rest.Done || rest.Total() != 2 {
		t.Fatalf("rest: %+v, %v; want 2", rest, err)
	}
	if got := r.drain(t); len(got) != 6 {
		t.Errorf("limited + resumed published %d, want 6: %v", len(got), ids(got))
	}
}

func TestOptionsCheck(t *testing.T) {
	ok := replay.Options{RunID: "r1", Since: t0, Until: t0.Add(time.Hour)}
	if err := ok.Check(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	bad := map[string]func(o *replay.Options){
		"no run id":         func(o *replay.Options) { o.RunID = "" },
		"run id with space": func(o *replay.Options) { o.RunID = "a b" },
		"run id too long":   func(o *replay.Options) { o.RunID = strings.Repeat("r", replay.MaxRunIDBytes+1) },
		"no since":          func(o *replay.Options) { o.Since = time.Time{} },
		"no until":          func(o *replay.Options) { o.Until = time.Time{} },
		"since after until": func(o *replay.Options) { o.Since = o.Until.Add(time.Second) },
		"empty range":       func(o *replay.Options) { o.Since = o.Until },
		"unknown type":      func(o *replay.Options) { o.Types = []string{"batch.paused"} },
		"unknown kind":      func(o *replay.Options) { o.Kinds = []string{"audio"} },
		"cursor before":     func(o *replay.Options) { o.After = ledger.Cursor{FirstSeenAt: t0.Add(-time.Second), DocumentID: "x"} },
		"cursor at the end": func(o *replay.Options) { o.After = ledger.Cursor{FirstSeenAt: o.Until, DocumentID: "x"} },
		"negative rate":     func(o *replay.Options) { o.Rate = -1 },
		"negative limit":    func(o *replay.Options) { o.Limit = -1 },
		"empty id":          func(o *replay.Options) { o.IDs = []string{""} },
	}
	for name, f := range bad {
		o := ok
		f(&o)
		if err := o.Check(); !errors.Is(err, replay.ErrInvalidOptions) {
			t.Errorf("%s: Check = %v, want ErrInvalidOptions", name, err)
		}
		if _, err := replay.Run(t.Context(), nil, nil, o); !errors.Is(err, replay.ErrInvalidOptions) {
			t.Errorf("%s: Run = %v, want ErrInvalidOptions before any I/O", name, err)
		}
	}
}

// TestReplayQuarantinedNowParsed: a delivery that went to the quarantine
// topic (there, Pub/Sub refused the event at the time) but whose stored
// envelope events.Parse understands is replayed as an event, to the topic
// of its kind; one still unparsable goes to the quarantine topic again.
func TestReplayQuarantinedNowParsed(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for i, b := range []string{body("batch.succeeded", "batches/q"), `{"type":`} {
		r.clock = t0.Add(time.Duration(i+1) * time.Minute)
		id := fmt.Sprintf("msg_q%d", i)
		lz, err := r.ledger.Claim(t.Context(), ledger.Delivery{WebhookID: id, Envelope: []byte(b), Scheme: "v1", ReceivedAt: r.clock})
		if err != nil {
			t.Fatal(err)
		}
		mid, err := r.pub.Quarantine(t.Context(), events.QuarantineMessage([]byte(b), id, "v1", errors.New("refused at the time"), r.clock))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ledger.Complete(t.Context(), lz, mid); err != nil {
			t.Fatal(err)
		}
	}
	r.drain(t)
	s, err := replay.Run(t.Context(), r.ledger, r.pub, replay.Options{RunID: "parsed", Since: t0, Until: t0.Add(time.Hour)})
	if err != nil || s.Replayed["batch.succeeded"] != 1 || s.Quarantined != 1 {
		t.Fatalf("summary %+v, %v; want 1 event and 1 quarantined", s, err)
	}
	got := r.drain(t)
	if ids := ids(got); !slices.Equal(ids, []string{"batch-events:msg_q0", "events-quarantine:msg_q1"}) {
		t.Fatalf("replayed %v", ids)
	}
	ev, err := events.Decode([]byte(got[0].data), got[0].attrs)
	if err != nil || ev.JobID != "batches/q" || ev.Replay != "parsed" || ev.Scheme != "v1" || !ev.ReceivedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("replayed event %+v, %v", ev, err)
	}
}
