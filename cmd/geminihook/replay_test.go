package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
)

// TestReplayUsage: a command line replay cannot run is a usage error
// (exit 2) that names the flag at fault, before any connection.
func TestReplayUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--since is required"},
		{[]string{"--since", "2026-01-23", "--until", "2026-01-22"}, "is not before --until"},
		{[]string{"--since", "2026-01-22T10:00:00Z", "--until", "2026-01-22T10:00:00Z"}, "is not before --until"},
		{[]string{"--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"--since", "1h", "--until", "soon"}, `--until "soon"`},
		{[]string{"--since", "1h", "--type", "batch.paused"}, `--type "batch.paused": not a documented Gemini type`},
		{[]string{"--since", "1h", "--kind", "audio"}, `--kind "audio"`},
		{[]string{"--since", "1h", "--rate", "-1"}, "--rate must not be negative"},
		{[]string{"--since", "1h", "--rate", "fast"}, `--rate "fast"`},
		{[]string{"--since", "1h", "--limit", "-2"}, "--limit must not be negative"},
		{[]string{"--since", "1h", "--run-id", "a b"}, `--run-id "a b"`},
		{[]string{"--since", "1h", "--run-id", "r", "--cursor", "nonsense"}, `--cursor "nonsense"`},
		{[]string{"--since", "1h", "--cursor", "2026-01-22T10:00:00Z/abc"}, "--cursor needs the --run-id"},
		{[]string{"--since", "2026-01-22", "--until", "2026-01-23", "--run-id", "r", "--cursor", "2026-01-24T00:00:00Z/abc"}, "outside [since, until)"},
		{[]string{"--since", "1h", "--bogus"}, "--bogus is not a flag"},
		{[]string{"--since", "1h"}, "--project is needed"}, // no GOOGLE_CLOUD_PROJECT in runInProcess
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runInProcess(t, "", append([]string{"replay"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (usage); stderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
	code, stdout, _ := runInProcess(t, "", "replay", "--help")
	for _, want := range []string{"Usage: geminihook replay", "Examples:", "Exit codes", "--cursor", "seek"} {
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("replay --help: exit %d, lacks %q", code, want)
		}
	}
}

func TestParseReplayTimes(t *testing.T) {
	now := time.Date(2026, 1, 22, 12, 30, 0, 123_456_789, time.UTC)
	o, err := parseReplay([]string{"--since", "6h"}, env{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-6 * time.Hour); !o.opts.Since.Equal(want) {
		t.Errorf("--since 6h = %v, want %v", o.opts.Since, want)
	}
	if want := now.Truncate(time.Microsecond); !o.opts.Until.Equal(want) {
		t.Errorf("default --until = %v, want the start %v", o.opts.Until, want)
	}
	if !strings.HasPrefix(o.opts.RunID, "replay-20260122T123000Z-") {
		t.Errorf("default run id %q", o.opts.RunID)
	}
	o, err = parseReplay([]string{"--since", "2026-01-21", "--until", "2026-01-22T01:02:03+01:00"}, env{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !o.opts.Since.Equal(time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC)) || !o.opts.Until.Equal(time.Date(2026, 1, 22, 0, 2, 3, 0, time.UTC)) {
		t.Errorf("range = [%v, %v)", o.opts.Since, o.opts.Until)
	}
}

// replayEnv is a project on the emulators with three deliveries recorded
// and published as the function does, and a consumer's subscriptions.
type replayEnv struct {
	project string
	vars    map[string]string
	ps      *pubsub.Client
	subs    map[string]string
}

func newReplayEnv(t *testing.T) *replayEnv {
	t.Helper()
	fsEmu, psEmu := emulator.Firestore(t), emulator.PubSub(t)
	r := &replayEnv{project: emulator.ProjectID(t), subs: map[string]string{}}
	r.vars = map[string]string{
		"GOOGLE_CLOUD_PROJECT":    r.project,
		"FIRESTORE_EMULATOR_HOST": fsEmu.Addr(),
		"PUBSUB_EMULATOR_HOST":    psEmu.Addr(),
		"GEMINIHOOK_TOPIC_BATCH":  "batch-events",
	}
	fs, err := firestore.NewClient(t.Context(), r.project, fsEmu.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	if r.ps, err = pubsub.NewClient(t.Context(), r.project, psEmu.ClientOptions(t, nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close() })
	pub, err := publish.New(r.ps, publish.Options{Topic: "gemini-job-events", Topics: map[events.Kind]string{events.KindBatch: "batch-events"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := publish.EnsureTopics(t.Context(), r.ps, pub.Topics()...); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"gemini-job-events", "batch-events", "gemini-job-events-quarantine"} {
		sub := "projects/" + r.project + "/subscriptions/c-" + topic
		if _, err := r.ps.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{Name: sub, Topic: "projects/" + r.project + "/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
		r.subs[topic] = sub
	}
	clock := replayT0
	l := ledger.NewFirestore(fs, ledger.Options{Now: func() time.Time { return clock }, Retention: 100 * 365 * 24 * time.Hour})
	for i, typ := range []string{"batch.succeeded", "video.generated", "batch.failed"} {
		clock = replayT0.Add(time.Duration(i+1) * time.Minute)
		id := fmt.Sprintf("msg_cli_%d", i)
		body := fmt.Sprintf(`{"type":%q,"data":{"id":"jobs/%d"}}`, typ, i)
		lz, err := l.Claim(t.Context(), ledger.Delivery{WebhookID: id, EventType: typ, Envelope: []byte(body), Scheme: "v1", ReceivedAt: clock})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := events.Parse([]byte(body))
		ev.WebhookID, ev.Scheme, ev.ReceivedAt = id, "v1", clock
		m, _ := ev.Message()
		mid, err := pub.Publish(t.Context(), ev.Kind, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Complete(t.Context(), lz, mid); err != nil {
			t.Fatal(err)
		}
	}
	r.drain(t) // the consumer got them, and lost them
	return r
}

var replayT0 = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

func (r *replayEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return r.vars[k] }}
	code := run(context.Background(), append([]string{"replay"}, args...), e)
	return code, out.String(), errOut.String()
}

// drain returns "topic ce-id run data" of every message on the consumer's
// subscriptions, sorted: it publishes a marker to each topic and pulls up
// to it.
func (r *replayEnv) drain(t *testing.T) []string {
	t.Helper()
	var out []string
	for topic, sub := range r.subs {
		marker := fmt.Sprint("marker-", time.Now().UnixNano())
		if _, err := r.ps.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{Topic: "projects/" + r.project + "/topics/" + topic,
			Messages: []*pubsubpb.PubsubMessage{{Data: []byte(marker), Attributes: map[string]string{"marker": marker}}}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for seen := false; !seen && time.Now().Before(deadline); {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			res, err := r.ps.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100})
			cancel()
			if err != nil {
				continue
			}
			var acks []string
			for _, rm := range res.ReceivedMessages {
				acks = append(acks, rm.AckId)
				a := rm.Message.Attributes
				switch {
				case a["marker"] == marker:
					seen = true
				case a["marker"] == "":
					out = append(out, fmt.Sprintf("%s %s %s %s", topic, a[events.AttrID], a[events.AttrReplay], rm.Message.Data))
				}
			}
			if len(acks) > 0 {
				r.ps.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: acks})
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestReplayCommand runs `geminihook replay` in-process on the emulators:
// a dry run publishes nothing; a run stopped by --limit prints a resume
// command whose --cursor publishes the rest and nothing twice; the same
// command with the same --run-id answers the same and publishes the same
// messages; an unreachable Firestore is exit 3.
func TestReplayCommand(t *testing.T) {
	r := newReplayEnv(t)
	rangeArgs := []string{"--since", replayT0.Format(time.RFC3339), "--until", replayT0.Add(time.Hour).Format(time.RFC3339)}

	code, stdout, stderr := r.run(t, append(rangeArgs, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"msg_cli_0", "msg_cli_1", "msg_cli_2", "dry run: nothing was published", "events:      3", "projects/" + r.project + "/topics/batch-events"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run stdout lacks %q:\n%s", want, stdout)
		}
	}
	if got := r.drain(t); len(got) != 0 {
		t.Fatalf("dry run published %v", got)
	}

	code, stdout, stderr = r.run(t, append(rangeArgs, "--limit", "2", "--run-id", "cli-1")...)
	if code != exitOK {
		t.Fatalf("--limit 2: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("stopped run:\n%s%s", stdout, stderr)
	m := regexp.MustCompile(`resume: (geminihook replay .* --cursor (\S+))`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("--limit 2 printed no resume command:\n%s", stdout)
	}
	if !strings.Contains(stderr, "cursor "+m[2]) {
		t.Errorf("progress on stderr lacks the cursor %s:\n%s", m[2], stderr)
	}
	resume := strings.Fields(strings.TrimPrefix(m[1], "geminihook replay "))
	code, stdout, stderr = r.run(t, resume...)
	if code != exitOK || !strings.Contains(stdout, "done: the whole range was read") {
		t.Fatalf("resumed: exit %d\n%s%s", code, stdout, stderr)
	}
	got := r.drain(t)
	if len(got) != 3 {
		t.Fatalf("stopped + resumed published %d messages, want each of the 3 once:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i, g := range got {
		if f := strings.Fields(g); f[2] != "cli-1" || !strings.HasPrefix(f[1], "msg_cli_") || (i > 0 && f[1] == strings.Fields(got[i-1])[1]) {
			t.Errorf("message %q: want a distinct msg_cli_ ce-id with replay run cli-1", g)
		}
	}

	// The same run twice: the same answer, the same messages.
	again := append(rangeArgs, "--run-id", "cli-2")
	_, out1, _ := r.run(t, again...)
	got1 := r.drain(t)
	_, out2, _ := r.run(t, again...)
	got2 := r.drain(t)
	if out1 != out2 || !slices.Equal(got1, got2) || len(got1) != 3 {
		t.Errorf("the same run twice:\n%s\n%v\n---\n%s\n%v", out1, got1, out2, got2)
	}

	// Firestore unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	r.vars["FIRESTORE_EMULATOR_HOST"] = closed
	if code, _, stderr := r.run(t, rangeArgs...); code != exitUnreachable || !strings.Contains(stderr, "Firestore") {
		t.Errorf("Firestore at a closed port: exit %d, want %d; stderr:\n%s", code, exitUnreachable, stderr)
	}
}
