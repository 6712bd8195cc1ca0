package bench

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// project is the Pub/Sub project of the in-process pstest server.
const project = "geminihook-bench"

// secret signs the v1 deliveries (verifytest's public test secret).
const secret = verifytest.Secret

// fixture is geminihook as the Cloud Function composes it, with the
// in-memory ledger and a pstest server in place of Firestore and Pub/Sub:
// the real verify.Verifier (v1, static secret), ledger.Memory, the real
// publish.Publisher over a real Pub/Sub client on loopback gRPC, and the
// production logger (Cloud Logging JSON, one access line per delivery)
// writing to io.Discard. The pstest server runs in this process
// (pubsubInProcess) or in a child process (pubsubRemote: closer to
// production, where Pub/Sub's work is not the function's); without Pub/Sub
// (pubsubNone), the Publisher is a counter instead: what the handler costs
// by itself.
type fixture struct {
	pstest  *pstest.Server // with pubsubInProcess
	remote  *remotePubSub  // with pubsubRemote
	counter *counter       // with pubsubNone
	handler http.Handler
	calls   atomic.Int64 // Publish calls the publisher made (pstest modes)
}

// pubsubMode says where a fixture's Pub/Sub server runs.
type pubsubMode int

const (
	pubsubInProcess pubsubMode = iota
	pubsubRemote
	pubsubNone
)

func newFixture(tb testing.TB, mode pubsubMode) *fixture {
	tb.Helper()
	f := &fixture{}
	var pub geminihook.Publisher
	switch mode {
	case pubsubInProcess:
		f.pstest = pstest.NewServerWithAddress("127.0.0.1:0")
		tb.Cleanup(func() { f.pstest.Close() })
		pub = newPublisher(tb, f.pstest.Addr, &f.calls)
	case pubsubRemote:
		f.remote = startRemotePubSub(tb)
		pub = newPublisher(tb, f.remote.addr, &f.calls)
	default:
		f.counter = &counter{}
		pub = f.counter
	}
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(secret)})
	if err != nil {
		tb.Fatal(err)
	}
	f.handler = geminihook.NewHandler(geminihook.Deps{
		Verifier:  v,
		Ledger:    ledger.NewMemory(ledger.Options{}),
		Publisher: pub,
		Logger:    geminihook.NewLogger(io.Discard, geminihook.Config{ProjectID: project}),
	})
	return f
}

// newPublisher returns a publish.Publisher on a real client connected to
// the pstest server at addr, its topics created; all are closed when tb
// ends. calls counts the Publish calls it makes (an atomic add each).
func newPublisher(tb testing.TB, addr string, calls *atomic.Int64) *publish.Publisher {
	tb.Helper()
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == emulator.PublishMethod {
			calls.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(count))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	client, err := pubsub.NewClient(context.Background(), project, option.WithGRPCConn(conn))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	pub, err := publish.New(client, publish.Options{Topic: geminihook.DefaultTopic})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pub.Close) // before the client and the server: cleanups run last first
	if err := publish.EnsureTopics(context.Background(), client, pub.Topics()...); err != nil {
		tb.Fatal(err)
	}
	return pub
}

// published is the number of messages published so far.
func (f *fixture) published() int {
	switch {
	case f.counter != nil:
		return int(f.counter.n.Load())
	case f.remote != nil:
		return int(f.remote.ask("count"))
	}
	return len(f.pstest.Messages())
}

// pubsubCPU is the CPU time of the Pub/Sub server's process when it is not
// this one (0 otherwise).
func (f *fixture) pubsubCPU() time.Duration {
	if f == nil || f.remote == nil {
		return 0
	}
	return time.Duration(f.remote.ask("cpu"))
}

// counter is a geminihook.Publisher that only counts.
type counter struct{ n atomic.Int64 }

func (c *counter) Publish(context.Context, events.Kind, events.Message) (string, error) {
	return strconv.FormatInt(c.n.Add(1), 10), nil
}

func (c *counter) Quarantine(context.Context, events.Message) (string, error) {
	return strconv.FormatInt(c.n.Add(1), 10), nil
}

// deliveries makes signed v1 deliveries of one body: each new one has a
// new webhook-id, all have the timestamp of the deliveries' creation (the
// benchmarks end long before the 5-minute tolerance does).
type deliveries struct {
	key    []byte
	body   []byte
	ts     string
	prefix string
	n      atomic.Uint64
}

func newDeliveries(tb testing.TB, body []byte) *deliveries {
	tb.Helper()
	key, err := verify.ParseSecret(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return &deliveries{
		key:    key,
		body:   body,
		ts:     strconv.FormatInt(time.Now().Unix(), 10),
		prefix: "msg_bench_" + rand.Text()[:12] + "_",
	}
}

// signer signs deliveries with a pre-keyed HMAC; it is one goroutine's.
type signer struct {
	d   *deliveries
	mac hash.Hash
	sum []byte
}

func (d *deliveries) signer() *signer {
	return &signer{d: d, mac: hmac.New(sha256.New, d.key), sum: make([]byte, 0, sha256.Size)}
}

// newID returns a webhook-id never returned before by d.
func (s *signer) newID() string {
	return s.d.prefix + strconv.FormatUint(s.d.n.Add(1), 10)
}

// header returns the Standard Webhooks headers of delivery id.
func (s *signer) header(id string) http.Header {
	s.mac.Reset()
	io.WriteString(s.mac, id)
	io.WriteString(s.mac, ".")
	io.WriteString(s.mac, s.d.ts)
	io.WriteString(s.mac, ".")
	s.mac.Write(s.d.body)
	s.sum = s.mac.Sum(s.sum[:0])
	return http.Header{
		"Content-Type":     {"application/json"},
		canonicalID:        {id},
		canonicalTimestamp: {s.d.ts},
		canonicalSignature: {"v1," + base64.StdEncoding.EncodeToString(s.sum)},
	}
}

// The header names as net/http's canonical keys, made once: header builds
// a map by hand, as a server receives it.
var (
	canonicalID        = http.CanonicalHeaderKey(verify.HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(verify.HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(verify.HeaderSignature)
)

// slot is a swappable handler behind one registered functions-framework
// function: each benchmark installs a fresh fixture.
type slot struct{ h atomic.Pointer[http.Handler] }

func (s *slot) serve(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		http.Error(w, "no handler installed", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func (s *slot) set(h http.Handler) { s.h.Store(&h) }

// framework is the in-process functions-framework-go server: Bare at
// /bare and geminihook at /geminihook, both registered with
// funcframework.RegisterHTTPFunctionContext and served by
// funcframework.StartHostPort on 127.0.0.1, as the Cloud Function's
// generated main serves its target. It starts once per test binary (the
// framework's registry and server are process-wide and cannot be stopped).
var framework = struct {
	once       sync.Once
	url        string // http://127.0.0.1:port
	err        error
	bare, gemi slot
}{}

func frameworkURL(tb testing.TB) string {
	tb.Helper()
	framework.once.Do(func() { framework.url, framework.err = startFramework() })
	if framework.err != nil {
		tb.Fatal(framework.err)
	}
	return framework.url
}

func startFramework() (string, error) {
	if t := os.Getenv("FUNCTION_TARGET"); t != "" {
		// The framework would then serve only that function, at "/".
		return "", fmt.Errorf("FUNCTION_TARGET=%q is set; unset it to run these benchmarks", t)
	}
	framework.bare.set(http.HandlerFunc(Bare))
	ctx := context.Background()
	if err := funcframework.RegisterHTTPFunctionContext(ctx, "/bare", framework.bare.serve); err != nil {
		return "", err
	}
	// Cloud Functions strips the function's name from the path before the
	// function sees it; this framework serves two functions by path, so
	// strip it here as the platform would.
	gemi := func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/geminihook"), "/")
		framework.gemi.serve(w, r)
	}
	if err := funcframework.RegisterHTTPFunctionContext(ctx, "/geminihook", gemi); err != nil {
		return "", err
	}
	// StartHostPort takes a port, not a listener: find a free one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	failed := make(chan error, 1)
	go func() { failed <- funcframework.StartHostPort("127.0.0.1", port) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-failed:
			return "", fmt.Errorf("functions-framework on %s: %w", addr, err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("functions-framework did not listen on " + addr + " within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
