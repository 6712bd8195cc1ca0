package test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Topic ids of every stack: one per kind, so that a test can see that an
// event went to the topic of its kind, plus the default (unknown kinds) and
// the quarantine topic.
const (
	topicDefault     = "events"
	topicBatch       = "batch-events"
	topicInteraction = "interaction-events"
	topicVideo       = "video-events"
	topicQuarantine  = "events-quarantine"

	secretID = "webhook-signing"
	audience = "https://hooks.example.test/gemini"

	// routeTokensID is the secret of the route tokens, and routeToken its
	// first version: per-request deliveries go to /r/<routeToken>.
	routeTokensID = "route-tokens"
	routeToken    = "ZGVsaXZlcmllcy1mb3ItdXMtb25seS10ZXN0"
)

var allTopics = []string{topicDefault, topicBatch, topicInteraction, topicVideo, topicQuarantine}

// topicOf is the topic a published event of kind k must arrive on.
func topicOf(k events.Kind) string {
	switch k {
	case events.KindBatch:
		return topicBatch
	case events.KindInteraction:
		return topicInteraction
	case events.KindVideo:
		return topicVideo
	}
	return topicDefault
}

// setup changes how newStack builds a stack; the zero value is the
// production composition (geminihook.NewService) on the shared emulators.
type setup struct {
	// env overrides or adds GEMINIHOOK_* variables.
	env map[string]string
	// firestoreAddr, when set, is dialed instead of the emulator (a closed
	// port: Firestore unreachable).
	firestoreAddr string
	// firestoreProxy puts a proxy the test can cut (stack.fsProxy) between
	// the function and the Firestore emulator.
	firestoreProxy bool
	// secretsDown takes the Secret Manager down before the first request.
	secretsDown bool
	// flaky wraps NewService's publisher in a flakyPublisher the test
	// controls (Parts.WrapPublisher).
	flaky bool
	// pstest, when set, puts Pub/Sub on an in-process pstest server with
	// these reactors instead of the emulator: faults at the gRPC boundary
	// that the emulator cannot make.
	pstest []pstest.ServerReactorOption
	// pubsubDial adds dial options (interceptors) to the function's Pub/Sub
	// connection.
	pubsubDial []grpc.DialOption
	// project, when set, is another stack's project: a second instance of
	// the same deployment (same ledger, same topics).
	project string
	// noTopics skips creating the topics and the test's subscriptions
	// (the first instance of the project made them).
	noTopics bool
	// tracerProvider traces the function's deliveries (Parts.TracerProvider).
	tracerProvider trace.TracerProvider
}

// stack is one geminihook function served over HTTP on 127.0.0.1: real
// Firestore and Pub/Sub clients on the official emulators (each counting its
// gRPC calls), a loopback Secret Manager and an httptest JWKS. Every stack
// has a project of its own, so parallel tests never see each other's data.
type stack struct {
	t       *testing.T
	project string
	cfg     geminihook.Config
	url     string
	signer  *verifytest.Signer

	sm      *secretstest.Server
	version string // the first secret version's full name
	jwks    *verifytest.JWKSServer

	fsCalls, psCalls emulator.Counter // the function's RPCs
	admin            *pubsub.Client   // the test's own, not counted
	subs             map[string]string
	ledger           *ledger.Firestore // the test's view of the ledger, not counted
	flaky            *flakyPublisher   // set with setup.flaky
	fsProxy          *proxy            // set with setup.firestoreProxy

	logs *cloudlogtest.Buffer

	mu        sync.Mutex
	forbidden []string // never to appear in the logs: secrets, signatures, body markers
}

// newStack builds a stack and registers its teardown, which also checks
// the logs it wrote (checkLogs). It skips under -short.
func newStack(t *testing.T, su setup) *stack {
	t.Helper()
	emulator.SkipShort(t) // counted in the -short summary
	fsEmu := emulator.Firestore(t)
	var psEmu *emulator.Emulator
	if su.pstest == nil {
		psEmu = emulator.PubSub(t)
	}
	s := &stack{t: t, project: cmp.Or(su.project, emulator.ProjectID(t)), signer: verifytest.NewSigner(), logs: &cloudlogtest.Buffer{}}
	s.signer.Audience = audience
	s.forbid(verifytest.Secret, strings.TrimPrefix(verifytest.Secret, "whsec_"),
		verifytest.SecondSecret, strings.TrimPrefix(verifytest.SecondSecret, "whsec_"))
	t.Cleanup(func() { // last: after the server and service are gone
		s.checkLogs(t)
		if t.Failed() {
			t.Logf("the function's log:\n%s", s.logs)
		}
	})

	s.jwks = verifytest.NewJWKSServer(verifytest.JWKS(s.signer))
	t.Cleanup(s.jwks.Close)
	s.sm = secretstest.NewServer(t)
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT":         s.project,
		"GEMINIHOOK_SECRET":            secretID,
		"GEMINIHOOK_JWKS_URL":          s.jwks.URL,
		"GEMINIHOOK_JWT_AUDIENCE":      audience,
		"GEMINIHOOK_ROUTE_TOKENS":      routeTokensID,
		"GEMINIHOOK_TOPIC":             topicDefault,
		"GEMINIHOOK_TOPIC_BATCH":       topicBatch,
		"GEMINIHOOK_TOPIC_INTERACTION": topicInteraction,
		"GEMINIHOOK_TOPIC_VIDEO":       topicVideo,
		"GEMINIHOOK_LOG_LEVEL":         "debug",
	}
	for k, v := range su.env {
		env[k] = v
	}
	cfg, err := geminihook.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.version = s.sm.AddVersion(cfg.Secret, []byte(verifytest.Secret+"\n"))
	if cfg.RouteTokens != "" {
		s.sm.AddVersion(cfg.RouteTokens, []byte(routeToken+"\n"))
	}
	s.forbid(routeToken)
	if su.secretsDown {
		s.sm.SetDown(true)
	}

	ctx := context.Background()
	fsOpts := fsEmu.ClientOptions(t, &s.fsCalls)
	if su.firestoreProxy {
		s.fsProxy = newProxy(t, fsEmu.Addr())
		su.firestoreAddr = s.fsProxy.addr()
	}
	if su.firestoreAddr != "" {
		conn, err := emulator.Dial(su.firestoreAddr, &s.fsCalls)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fsOpts = []option.ClientOption{option.WithGRPCConn(conn)}
	}
	fs, err := firestore.NewClient(ctx, s.project, fsOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	psAddr := ""
	if psEmu != nil {
		psAddr = psEmu.Addr()
	} else {
		srv := pstest.NewServerWithAddress("127.0.0.1:0", su.pstest...)
		t.Cleanup(func() { srv.Close() })
		psAddr = srv.Addr
	}
	psOpts := func(c *emulator.Counter, opts ...grpc.DialOption) []option.ClientOption {
		conn, err := emulator.Dial(psAddr, c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return []option.ClientOption{option.WithGRPCConn(conn)}
	}
	ps, err := pubsub.NewClient(ctx, s.project, psOpts(&s.psCalls, su.pubsubDial...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })

	// The test's own clients: topics, subscriptions, pulls and ledger
	// lookups are not the function's round trips.
	if s.admin, err = pubsub.NewClient(ctx, s.project, psOpts(nil)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.admin.Close() })
	if !su.noTopics {
		s.createTopics()
	}
	testFS, err := firestore.NewClient(ctx, s.project, fsEmu.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testFS.Close() })
	s.ledger = ledger.NewFirestore(testFS, ledger.Options{Collection: cfg.Collection, Lease: cfg.Lease, Retention: cfg.Retention})

	parts := geminihook.Parts{
		Clients: geminihook.Clients{Firestore: fs, PubSub: ps, SecretManager: s.sm.Client()},
		Logger:  geminihook.NewLogger(s.logs, cfg),

		TracerProvider: su.tracerProvider,
	}
	if su.flaky {
		// The seam through which publishing faults are injected: the real
		// publisher behind a switch.
		parts.WrapPublisher = func(p geminihook.Publisher) geminihook.Publisher {
			s.flaky = &flakyPublisher{Publisher: p}
			return s.flaky
		}
	}
	svc, err := geminihook.NewService(cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("Service.Close: %v", err)
		}
	})
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// flakyPublisher is the real publisher behind a switch: while failing is
// set, Publish and Quarantine fail without calling Pub/Sub. afterPublish,
// when set, runs after each successful Publish.
type flakyPublisher struct {
	geminihook.Publisher
	failing      atomic.Bool
	afterPublish atomic.Pointer[func()]
}

var errInjected = fmt.Errorf("%w: injected by the test", publish.ErrUnavailable)

func (f *flakyPublisher) Publish(ctx context.Context, k events.Kind, m events.Message) (string, error) {
	if f.failing.Load() {
		return "", errInjected
	}
	id, err := f.Publisher.Publish(ctx, k, m)
	if after := f.afterPublish.Load(); after != nil && err == nil {
		(*after)()
	}
	return id, err
}

func (f *flakyPublisher) Quarantine(ctx context.Context, m events.Message) (string, error) {
	if f.failing.Load() {
		return "", errInjected
	}
	return f.Publisher.Quarantine(ctx, m)
}

func (s *stack) createTopics() {
	t := s.t
	ctx := context.Background()
	if err := publish.EnsureTopics(ctx, s.admin, allTopics...); err != nil {
		t.Fatal(err)
	}
	s.subs = map[string]string{}
	for _, topic := range allTopics {
		sub := "projects/" + s.project + "/subscriptions/test-" + topic
		if _, err := s.admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: sub, Topic: "projects/" + s.project + "/topics/" + topic,
		}); err != nil {
			t.Fatal(err)
		}
		s.subs[topic] = sub
	}
}

// forbid adds strings that must never appear in the logs.
func (s *stack) forbid(v ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range v {
		if x != "" {
			s.forbidden = append(s.forbidden, x)
		}
	}
}

// sign returns the webhook headers of a delivery signed with scheme by s's
// signer, and forbids its signature tokens in the logs.
func (s *stack) sign(scheme, id string, ts time.Time, body []byte) http.Header {
	return s.signWith(s.signer, scheme, id, ts, body)
}

func (s *stack) signWith(sg *verifytest.Signer, scheme, id string, ts time.Time, body []byte) http.Header {
	h := sg.Header(scheme, id, ts, body)
	for _, tok := range strings.Fields(h.Get(verify.HeaderSignature)) {
		s.forbid(tok)
		if _, sig, ok := strings.Cut(tok, ","); ok {
			s.forbid(sig) // v1 and v1a: base64 of the MAC or signature
		}
		if i := strings.LastIndexByte(tok, '.'); i >= 0 {
			s.forbid(tok[i+1:]) // JWT: its signature part
		}
	}
	return h
}

// warmUp sends authentic deliveries until one is published (at most for
// 30 s) and consumes the messages. Tests with a short request deadline call
// it first: the first calls to a freshly started emulator JVM can take
// seconds on a loaded 2-core machine, and that is not what they test.
func (s *stack) warmUp() {
	t := s.t
	t.Helper()
	var last reply
	if took, ok := waitFor(30*time.Second, func() bool {
		last = s.send("v1", newID(), s.body(events.TypeBatchCancelled, "batch_warm_up"))
		return last.status == 200
	}); !ok {
		t.Fatalf("the stack is not ready after %v: %d %q", took, last.status, last.body)
	}
	// An attempt answered 503 may have been published all the same (its
	// RPC was under way when the deadline came: at least once): take all.
	if ms := s.messages(1); len(ms) == 0 {
		t.Fatal("warm-up: no message")
	}
}

// reply is one HTTP answer of the function.
type reply struct {
	status     int
	body       string
	retryAfter string
	latency    time.Duration
}

// answer decodes a 200's JSON body: {"status":…,"id":…}.
func (r reply) answer(t *testing.T) (status, id string) {
	t.Helper()
	var a struct{ Status, ID string }
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", r.status, r.body, err)
	}
	return a.Status, a.ID
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends one request to the function: at "/" for a project (v1)
// delivery, at /r/<routeToken> for a per-request one (no v1 token), as
// their owner configures Gemini.
func (s *stack) do(method string, h http.Header, body []byte) reply {
	path := "/"
	if sig := h.Get(verify.HeaderSignature); sig != "" && !strings.Contains(" "+sig, " v1,") {
		path = "/r/" + routeToken
	}
	return s.doAt(method, path, h, body)
}

// doAt sends one request to the function at path.
func (s *stack) doAt(method, path string, h http.Header, body []byte) reply {
	t := s.t
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, s.url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: res.StatusCode, body: string(b), retryAfter: res.Header.Get("Retry-After"), latency: time.Since(start)}
}

// post sends a delivery with the given headers.
func (s *stack) post(h http.Header, body []byte) reply { return s.do(http.MethodPost, h, body) }

// send signs a delivery now with scheme and posts it.
func (s *stack) send(scheme, id string, body []byte) reply {
	return s.post(s.sign(scheme, id, time.Now(), body), body)
}

// newID returns a fresh webhook id in Gemini's format.
var newID = verifytest.NewWebhookID

// body returns a Gemini envelope of typ for job, carrying a random marker
// in user_metadata that must never reach the logs.
func (s *stack) body(typ, job string) []byte {
	b := make([]byte, 8)
	rand.Read(b)
	marker := "body-marker-" + hex.EncodeToString(b)
	s.forbid(marker)
	data := map[string]any{"id": job}
	switch {
	case strings.HasSuffix(typ, ".failed"):
		data["error_code"] = "RESOURCE_EXHAUSTED"
		data["error_message"] = "quota exceeded " + marker
	case typ == events.TypeBatchSucceeded:
		data["output_file_uri"] = "gs://bucket/" + job + "/results.jsonl"
	case typ == events.TypeVideoGenerated:
		data["output_file_uri"] = "https://generativelanguage.googleapis.com/v1beta/files/" + job + ":download?alt=media"
		data["file_name"] = "files/" + job
	}
	env := map[string]any{
		"type": typ, "version": "v1", "timestamp": time.Now().UTC().Format(time.RFC3339),
		"data": data, "user_metadata": map[string]string{"marker": marker},
	}
	out, err := json.Marshal(env)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// received is one message pulled from a stack's subscription.
type received struct {
	topic string
	msg   *pubsubpb.PubsubMessage
}

// pullImmediately pulls what a subscription holds now and acknowledges it.
func (s *stack) pullImmediately(ctx context.Context, topic string) ([]received, error) {
	res, err := s.admin.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{
		Subscription: s.subs[topic], MaxMessages: 1000,
		//lint:ignore SA1019 the emulator honours it; without it an empty pull waits 4 s
		ReturnImmediately: true,
	})
	if err != nil {
		return nil, err
	}
	var out []received
	var acks []string
	for _, rm := range res.ReceivedMessages {
		out = append(out, received{topic: topic, msg: rm.Message})
		acks = append(acks, rm.AckId)
	}
	if len(acks) > 0 {
		if err := s.admin.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: s.subs[topic], AckIds: acks}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// messages returns every message on every topic of the stack, waiting up
// to 10 s until there are at least want, then pulling once more for any
// extra copy. Each message is returned once (it is acknowledged).
func (s *stack) messages(want int) []received {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []received
	pullAll := func() int {
		n := 0
		for _, topic := range allTopics {
			ms, err := s.pullImmediately(ctx, topic)
			if err != nil {
				t.Fatalf("pulling %s: %v", topic, err)
			}
			got = append(got, ms...)
			n += len(ms)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for pullAll(); len(got) < want && time.Now().Before(deadline); pullAll() {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	pullAll()
	return got
}

// byID groups messages by their ce-id attribute.
func byID(ms []received) map[string][]received {
	m := map[string][]received{}
	for _, r := range ms {
		id := r.msg.Attributes[events.AttrID]
		m[id] = append(m[id], r)
	}
	return m
}

// logLine is a parsed log line with its text.
type logLine struct {
	text string
	m    map[string]any
}

func (l logLine) label(k string) string {
	labels, _ := l.m["logging.googleapis.com/labels"].(map[string]any)
	v, _ := labels[k].(string)
	return v
}

// lines parses every log line so far; a line that is not a JSON object
// fails the test.
func (s *stack) lines(t errorReporter) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSuffix(s.logs.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not a JSON object: %q", l)
			continue
		}
		out = append(out, logLine{text: l, m: m})
	}
	return out
}

// accessLines returns the access lines ("delivery") with the given result
// label, or all of them for "".
func (s *stack) accessLines(t *testing.T, result string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range s.lines(t) {
		if l.m["message"] == "delivery" && (result == "" || l.label("result") == result) {
			out = append(out, l)
		}
	}
	return out
}

var severities = []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}

// errorReporter is the part of testing.TB that checkLogs uses, so that a
// test can see the checker itself fail.
type errorReporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkLogs is done at the end of every stack's test: each line is a JSON
// object with a known severity and a message, and no secret, signature or
// body marker the test produced appears anywhere in the log.
func (s *stack) checkLogs(t errorReporter) {
	t.Helper()
	all := s.logs.String()
	for _, l := range s.lines(t) {
		sev, _ := l.m["severity"].(string)
		if !slices.Contains(severities, sev) {
			t.Errorf("log line without a Cloud Logging severity: %s", l.text)
		}
		if msg, _ := l.m["message"].(string); msg == "" {
			t.Errorf("log line without a message: %s", l.text)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.forbidden {
		if strings.Contains(all, f) {
			t.Errorf("the log contains %q… (%d bytes), which must never be logged", f[:min(len(f), 12)], len(f))
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// proxy forwards TCP connections from a loopback port to target until it
// is cut: then it closes every connection and refuses new ones, as when a
// backend goes away in the middle of a request.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			u.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// close cuts the proxy and stops listening: the port refuses connections.
func (p *proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// waitFor retries f every 50 ms until it returns true or d passes; it
// returns how long that took and whether f held.
func waitFor(d time.Duration, f func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if f() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
