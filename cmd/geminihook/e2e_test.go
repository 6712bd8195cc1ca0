package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/route"
)

// These tests run the binary that TestMain built, as a user would: serve on
// free ports, tail, send, and check what arrived on Pub/Sub.

// procWait bounds every wait on a child process.
const procWait = 30 * time.Second

// proc is a running geminihook command.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr cloudlogtest.Buffer
	done           chan struct{}
	err            error
}

// cliEnv is the environment of the child processes: this process's, minus
// the emulator variables, plus extra.
func cliEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PUBSUB_EMULATOR_HOST=") && !strings.HasPrefix(kv, "FIRESTORE_EMULATOR_HOST=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func needBinary(t *testing.T) {
	t.Helper()
	if binary == "" {
		t.Skip("-short: the binary was not built")
	}
}

// start runs the binary with args; the process is killed when the test
// ends, if it still runs.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting geminihook %q: %v", args, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// runCLI runs the binary to its end and returns its exit code and output.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, env, args...)
	return p.wait(t), p.stdout.String(), p.stderr.String()
}

// wait returns the exit code of p, failing the test after procWait.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(procWait):
		t.Fatalf("geminihook %q still runs after %v; stdout:\n%s\nstderr:\n%s", p.args, procWait, p.stdout.String(), p.stderr.String())
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("geminihook %q: %v", p.args, p.err)
	}
	return 0
}

// waitOutput waits until cond holds for the stream's text (stdout when
// errStream is false).
func (p *proc) waitOutput(t *testing.T, errStream bool, what string, cond func(string) bool) string {
	t.Helper()
	buf := &p.stdout
	if errStream {
		buf = &p.stderr
	}
	deadline := time.Now().Add(procWait)
	for {
		s := buf.String()
		if cond(s) {
			return s
		}
		select {
		case <-p.done:
			t.Fatalf("geminihook %q exited before %s; stdout:\n%s\nstderr:\n%s", p.args, what, p.stdout.String(), p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("geminihook %q: no %s after %v; stdout:\n%s\nstderr:\n%s", p.args, what, procWait, p.stdout.String(), p.stderr.String())
		}
	}
}

// interrupt sends SIGINT and expects a clean exit 0.
func (p *proc) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to geminihook %q: %v", p.args, err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("geminihook %q after SIGINT: exit %d, want 0; stderr:\n%s", p.args, code, p.stderr.String())
	}
}

var (
	reListen  = regexp.MustCompile(`listening on (http://\S+)`)
	reInProc  = regexp.MustCompile(`pubsub:\s+in-process at (\S+),`)
	reSecret  = regexp.MustCompile(`secret (whsec_\S+) \(made for this run`)
	reAttempt = regexp.MustCompile(`(?m)^(\S+)\s+(msg_\S+) (v1a|v1|jwt)\s+→ (\d+) ?(\S*)`)
)

// served is what a started serve printed.
type served struct {
	url, pubsubAddr, secret string
	banner                  string
}

func startServe(t *testing.T, env []string, args ...string) (*proc, served) {
	t.Helper()
	p := start(t, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--pubsub-addr", "127.0.0.1:0"}, args...)...)
	out := p.waitOutput(t, false, "start banner", func(s string) bool { return strings.Contains(s, "Stop with Ctrl-C.") })
	var s served
	s.banner = out
	if m := reListen.FindStringSubmatch(out); m != nil {
		s.url = m[1]
	}
	if m := reInProc.FindStringSubmatch(out); m != nil {
		s.pubsubAddr = m[1]
	}
	if m := reSecret.FindStringSubmatch(out); m != nil {
		s.secret = m[1]
	}
	if s.url == "" || s.secret == "" {
		t.Fatalf("serve banner lacks the address or the generated secret:\n%s", out)
	}
	for _, want := range []string{"geminihook tail", "geminihook send --url " + s.url + " --secret " + s.secret + " --all"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve banner lacks the command %q:\n%s", want, out)
		}
	}
	return p, s
}

// sent is one delivery as send reported it.
type sent struct{ typ, scheme string }

// send runs `send` and returns the deliveries it printed, by webhook id,
// with how many attempts of each were answered "published".
func send(t *testing.T, env []string, args ...string) (map[string]sent, map[string]int, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, env, append([]string{"send"}, args...)...)
	if code != 0 {
		t.Fatalf("send %q: exit %d; stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	ds := map[string]sent{}
	published := map[string]int{}
	for _, m := range reAttempt.FindAllStringSubmatch(stdout, -1) {
		ds[m[2]] = sent{typ: m[1], scheme: m[3]}
		if m[4] == "200" && m[5] == "published" {
			published[m[2]]++
		}
	}
	if len(ds) == 0 {
		t.Fatalf("send %q printed no attempt:\n%s", args, stdout)
	}
	return ds, published, stdout
}

// scenario runs tail, then the sends, and checks that tail saw every
// delivery exactly once, with its type and scheme, and deleted its
// subscriptions. env is the child environment; psAddr and project name
// the Pub/Sub server and project that tailArgs (or env) point tail at.
func scenario(t *testing.T, keys string, s served, env []string, psAddr, project string, tailArgs ...string) map[string]sent {
	t.Helper()
	tail := start(t, env, append([]string{"tail", "--json", "--timeout", "60s"}, tailArgs...)...)
	tail.waitOutput(t, true, "tail's ready line", func(s string) bool { return strings.Contains(s, "waiting for events") })

	want := map[string]sent{}
	add := func(ds map[string]sent, published map[string]int) {
		for id, d := range ds {
			want[id] = d
			if published[id] != 1 {
				t.Errorf("delivery %s (%s) was answered published %d times, want once", id, d.typ, published[id])
			}
		}
	}
	ds, pub, _ := send(t, env, "--url", s.url, "--secret", s.secret, "--all")
	if len(ds) != 9 {
		t.Errorf("send --all sent %d deliveries, want 9", len(ds))
	}
	add(ds, pub)
	ds, pub, out := send(t, env, "--url", s.url, "--secret", s.secret, "--type", "video.generated", "--repeat", "10", "--concurrency", "5")
	if len(ds) != 1 || !strings.Contains(out, "summary: 1 delivery, 10 attempts:") || !strings.Contains(out, "1 × 200 published") {
		t.Errorf("send --repeat 10: want 10 attempts of one delivery, one published:\n%s", out)
	}
	add(ds, pub)
	// Per-request deliveries: only at /r/<route token>, JWT only for our
	// audience. Refused ones exit 1 and publish nothing (tail would see
	// an id no send reported as published).
	token := readRouteToken(t, keys)
	routed := s.url + "r/" + token
	ed := []string{"--scheme", "v1a", "--ed25519-seed", filepath.Join(keys, fileEd25519)}
	jwt := []string{"--scheme", "jwt", "--rsa-key", filepath.Join(keys, fileRSA), "--audience", localAudience}
	for _, refused := range [][]string{
		append([]string{"--url", s.url}, ed...),                           // v1a at /
		append([]string{"--url", s.url + "r/" + route.NewToken()}, ed...), // v1a with another token
		append([]string{"--url", s.url}, jwt...),                          // jwt at /
		{"--url", routed, "--scheme", "jwt", "--rsa-key", filepath.Join(keys, fileRSA), "--audience", "someone-else"},
	} {
		code, stdout, _ := runCLI(t, env, append([]string{"send", "--type", "batch.failed"}, refused...)...)
		if code != exitFailure || !strings.Contains(stdout, "→ 401") {
			t.Errorf("send %q: exit %d, want 1 with a 401; stdout:\n%s", refused, code, stdout)
		}
	}
	ds, pub, _ = send(t, env, append([]string{"--url", routed, "--type", "interaction.completed"}, ed...)...)
	add(ds, pub)
	ds, pub, _ = send(t, env, append([]string{"--url", routed, "--type", "batch.expired", "--repeat", "2"}, jwt...)...)
	add(ds, pub)
	ds, pub, _ = send(t, env, "--url", routed, "--secret", s.secret, "--type", "batch.cancelled") // v1 is fine there too
	add(ds, pub)
	ds, pub, _ = send(t, env, "--url", s.url, "--secret", s.secret, "--type", "geminihook.test.unknown")
	add(ds, pub)

	// Every publish was acknowledged before its 200: wait for the lines,
	// then a little longer for any extra copy, then stop tail.
	lines := func(s string) []string { return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }) }
	tail.waitOutput(t, false, "every event", func(s string) bool { return len(lines(s)) >= len(want) })
	time.Sleep(300 * time.Millisecond)
	tail.interrupt(t)
	if !strings.Contains(tail.stderr.String(), "following") {
		t.Errorf("tail stderr does not name its subscriptions:\n%s", tail.stderr.String())
	}
	checkNoSubscriptions(t, psAddr, project)

	got := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(tail.stdout.String()))
	for sc.Scan() {
		var l tailJSON
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("tail --json line %q: %v", sc.Text(), err)
		}
		ev, err := events.Decode(l.Data, l.Attributes)
		if err != nil {
			t.Errorf("events.Decode(tail line %s) = %v", sc.Text(), err)
			continue
		}
		got[ev.WebhookID]++
		d, ok := want[ev.WebhookID]
		switch {
		case !ok:
			t.Errorf("tail saw webhook id %q, which no send reported", ev.WebhookID)
		case ev.Type != d.typ || ev.Scheme != d.scheme || l.Attributes[events.AttrID] != ev.WebhookID:
			t.Errorf("event %s = type %q scheme %q ce-id %q, want %q %q %[1]q", ev.WebhookID, ev.Type, ev.Scheme, l.Attributes[events.AttrID], d.typ, d.scheme)
		}
		if kind, _ := events.Classify(ev.Type); !strings.HasSuffix(l.Topic, "/topics/"+geminihook.DefaultTopic) || ev.Kind != kind {
			t.Errorf("event %s of kind %s on topic %s", ev.WebhookID, ev.Kind, l.Topic)
		}
	}
	seenTypes := map[string]bool{}
	for id, d := range want {
		if got[id] != 1 {
			t.Errorf("delivery %s (%s, %s) arrived %d times, want exactly once", id, d.typ, d.scheme, got[id])
		}
		seenTypes[d.typ] = got[id] > 0
	}
	for _, typ := range events.DocumentedTypes() {
		if !seenTypes[typ] {
			t.Errorf("no %s event arrived", typ)
		}
	}
	return want
}

// checkNoSubscriptions fails when a subscription is left on the default
// topics: tail must delete its own on exit.
func checkNoSubscriptions(t *testing.T, psAddr, project string) {
	t.Helper()
	c, closeClient, err := dialPubSub(context.Background(), psAddr, project)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient()
	for _, topic := range []string{geminihook.DefaultTopic, geminihook.DefaultTopic + "-quarantine"} {
		it := c.TopicAdminClient.ListTopicSubscriptions(context.Background(), &pubsubpb.ListTopicSubscriptionsRequest{
			Topic: "projects/" + project + "/topics/" + topic,
		})
		for {
			sub, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				t.Fatalf("listing the subscriptions of %s: %v", topic, err)
			}
			t.Errorf("subscription %s on %s left behind after tail exited", sub, topic)
		}
	}
}

// readRouteToken reads the route token that keys wrote into dir.
func readRouteToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fileRoute))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if _, err := route.ParseToken(tok); err != nil {
		t.Fatalf("keys wrote route token %q: %v", tok, err)
	}
	return tok
}

// perRequestFlags are serve's flags for v1a and JWT with the keys in dir.
func perRequestFlags(dir string) []string {
	return []string{"--jwks-file", filepath.Join(dir, fileJWKS), "--route-token-file", filepath.Join(dir, fileRoute), "--audience", localAudience}
}

func TestServeEmbedded(t *testing.T) {
	needBinary(t)
	keys := makeKeys(t)
	env := cliEnv()
	serve, s := startServe(t, env, perRequestFlags(keys)...)
	if s.pubsubAddr == "" || !strings.Contains(s.banner, "in memory") {
		t.Fatalf("serve without emulator variables should use in-process Pub/Sub and the memory ledger:\n%s", s.banner)
	}
	scenario(t, keys, s, env, s.pubsubAddr, defaultProject, "--pubsub-addr", s.pubsubAddr)

	t.Run("tail timeout before count", func(t *testing.T) {
		code, _, stderr := runCLI(t, env, "tail", "--pubsub-addr", s.pubsubAddr, "--count", "1", "--timeout", "200ms")
		if code != exitFailure || !strings.Contains(stderr, "saw 0 of the 1 messages") {
			t.Errorf("tail --count 1 --timeout 200ms with no traffic: exit %d, want 1; stderr:\n%s", code, stderr)
		}
	})
	t.Run("tail missing topic", func(t *testing.T) {
		code, _, stderr := runCLI(t, env, "tail", "--pubsub-addr", s.pubsubAddr, "--topic", "no-such-topic")
		if code != exitFailure || !strings.Contains(stderr, "does not exist") {
			t.Errorf("tail on a missing topic: exit %d, want 1 and a hint; stderr:\n%s", code, stderr)
		}
	})
	t.Run("second serve on the same address", func(t *testing.T) {
		addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
		code, _, stderr := runCLI(t, env, "serve", "--addr", addr)
		if code != exitFailure || !strings.Contains(stderr, "--addr") {
			t.Errorf("serve on a taken address: exit %d, want 1 and a hint at --addr; stderr:\n%s", code, stderr)
		}
	})

	serve.interrupt(t)
	if !strings.Contains(serve.stderr.String(), "geminihook serve: stopped") {
		t.Errorf("serve did not report a clean stop; stderr:\n%s", serve.stderr.String())
	}
}

func TestServeEmulators(t *testing.T) {
	needBinary(t)
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	project := emulator.ProjectID(t)
	keys := makeKeys(t)
	env := cliEnv("FIRESTORE_EMULATOR_HOST="+fs.Addr(), "PUBSUB_EMULATOR_HOST="+ps.Addr())
	serve, s := startServe(t, env, append([]string{"--project", project}, perRequestFlags(keys)...)...)
	if !strings.Contains(s.banner, "Firestore emulator at "+fs.Addr()) || !strings.Contains(s.banner, "emulator at "+ps.Addr()) {
		t.Fatalf("serve with the emulator variables should use both emulators:\n%s", s.banner)
	}
	want := scenario(t, keys, s, env, ps.Addr(), project, "--project", project) // address from PUBSUB_EMULATOR_HOST
	serve.interrupt(t)

	// The ledger is the Firestore one: one published record per delivery.
	ctx := context.Background()
	c, err := firestore.NewClient(ctx, project, fs.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.Collection(geminihook.DefaultCollection).Documents(ctx)
	records := map[string]string{}
	for {
		doc, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("reading the ledger: %v", err)
		}
		if kind, _ := doc.Data()["kind"].(string); kind == "jwt_token" {
			continue // a JWT's single-use binding, not a delivery record
		}
		id, _ := doc.Data()["webhook_id"].(string)
		state, _ := doc.Data()["state"].(string)
		records[id] = state
	}
	if len(records) != len(want) {
		t.Errorf("ledger holds %d records, want %d (one per delivery)", len(records), len(want))
	}
	for id := range want {
		if records[id] != "published" {
			t.Errorf("ledger record of %s has state %q, want published", id, records[id])
		}
	}
}
