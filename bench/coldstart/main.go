// Command coldstart measures the cold start of two built functions: the
// time from starting the process to the first 200 answer to a POST, for
// the geminihook Cloud Function (bench/coldstart/function, whose Service is
// built from process start, as deployed, or by the first request in the
// variants below) beside a bare functions-framework function
// (bench/coldstart/bare), and the second request to the warm process.
//
//	go build -o /tmp/bare ./bench/coldstart/bare
//	go build -o /tmp/function ./bench/coldstart/function
//	go run ./bench/coldstart -bare /tmp/bare -function /tmp/function -n 20 > cold.txt
//	benchstat -col '/fn@(bare geminihook-nowarm geminihook-warm-build geminihook)' cold.txt
//
// It starts the official Firestore and Pub/Sub emulators, a JWKS server and
// a loopback Secret Manager (package benchfn: Google ships no Secret
// Manager emulator), all on 127.0.0.1, and configures the function as
// deployed but pointed at them: GOOGLE_CLOUD_PROJECT,
// FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, GEMINIHOOK_SECRET and
// GEMINIHOOK_ROUTE_TOKENS (secrets read from that Secret Manager) and
// GEMINIHOOK_JWKS_URL, so each delivery is signed v1a (Ed25519) and sent to
// /r/<route token>. The first request thus pays what it pays in
// production: building the clients, reading the route tokens from Secret
// Manager, fetching the keys, the ledger writes (two preconditioned
// commits) and the first publish, each over a new connection.
// bench/coldstart/function says how it differs from the deployed entry
// point (where its Secret Manager client points).
//
// The function is started in the warm-up variants given by -variants
// (bench/coldstart/function's GEMINIHOOK_BENCH_WARM), each a benchstat
// column: geminihook (start: the build and Service.WarmUp started with the
// process, as the deployed function does), geminihook-warm-build (build:
// WarmUp started by the first request's build) and geminihook-nowarm (off:
// neither, the entry point before the warm start).
//
// Every start gets a new port and two deliveries with new webhook-ids, the
// second sent once the first is answered (the warm latency, for
// comparison); each must be answered 200 ({"status":"published"} for
// geminihook), or the run stops with an error. At the end it checks that
// the Pub/Sub emulator holds exactly one message per geminihook delivery.
// The functions start in turn (the order rotating every round), after
// -warmup untimed starts each.
//
// Output, on standard output, is one line per timed start in the Go
// benchmark format, for benchstat:
//
//	BenchmarkColdStart/fn=geminihook 1 41234567 ns/op 9812345 listen-ns/op 31422222 request-ns/op 30100000 handler-ns/op 9200000 second-ns/op
//
// ns/op is exec to the first 200 (one op is one start); listen-ns exec to
// the first accepted TCP connection (process start, package init,
// functions-framework listening); request-ns the rest (the first
// request; with -delay, the first request from its send, sent that long
// after the process listens: an instance started ahead of traffic, as with
// minimum instances); handler-ns, for geminihook, the part of it the handler logged
// as its latency (route token and verification with their first fetches,
// the ledger's commits, the first publish), the remainder being mostly the
// lazy build of the clients; second-ns the second delivery, on a new
// connection to the warm process (with -idle-second, sent -delay after the
// first was answered, so that both follow the same idle time);
// first-extra-ns is request-ns minus
// second-ns, what the first delivery costs more than the second. A summary
// with the median and the 90th percentile goes to standard error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/bench"
	"github.com/geminihook/geminihook/bench/internal/benchfn"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/verify/verifytest"
)

const project = "geminihook-coldstart"

// routeTokensSecret is the Secret Manager secret of the route tokens.
const routeTokensSecret = "geminihook-route-tokens"

// pollInterval is how often a start that does not listen yet is tried
// again: the resolution of listen-ms.
const pollInterval = 250 * time.Microsecond

func main() {
	bare := flag.String("bare", "", "built bench/coldstart/bare binary (required)")
	function := flag.String("function", "", "built bench/coldstart/function binary (required)")
	n := flag.Int("n", 20, "timed starts of each function")
	warmup := flag.Int("warmup", 3, "untimed starts of each function first (page cache, emulators' JIT)")
	timeout := flag.Duration("timeout", 30*time.Second, "limit of one start")
	logDir := flag.String("logs", "", "keep the output of every geminihook start in this directory")
	delay := flag.Duration("delay", 0, "send the first request this long after the process listens (an instance started ahead of traffic), instead of as soon as it listens")
	idle := flag.Bool("idle-second", false, "with -delay, send the second request -delay after the first is answered too, so that both follow the same idle time")
	variants := flag.String("variants", "off,build,start", "warm-up variants of the function to start (GEMINIHOOK_BENCH_WARM), comma-separated")
	flag.Parse()
	vs := strings.Split(*variants, ",")
	for _, v := range vs {
		if _, ok := variantNames[v]; !ok {
			fmt.Fprintf(os.Stderr, "coldstart: -variants: unknown %q (want off, build, start)\n", v)
			os.Exit(2)
		}
	}
	if *bare == "" || *function == "" || *n < 1 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "usage: coldstart -bare BIN -function BIN [-n 20] [-warmup 3]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bare, *function, vs, *n, *warmup, *timeout, *logDir, *delay, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// fn is one function under test.
type fn struct {
	name    string
	bin     string
	path    string // of the deliveries
	env     []string
	publish bool // answers {"status":"published"}
	results []result
}

// result is one timed start: exec to the first accepted connection
// (listen) and to the first 200, the latency the function logged for that
// first delivery (its access log's latency_ms; -1 when it logs none), and
// the time of a second delivery sent after the first was answered.
type result struct{ listen, first200, first, handler, second time.Duration }

// variantNames name the warm-up variants of bench/coldstart/function
// (its GEMINIHOOK_BENCH_WARM) in the output.
var variantNames = map[string]string{
	"off":   "geminihook-nowarm",
	"build": "geminihook-warm-build",
	"start": "geminihook",
}

func run(ctx context.Context, bareBin, functionBin string, variants []string, n, warmup int, timeout time.Duration, logDir string, delay time.Duration, idleSecond bool) error {
	printHeader()
	fs, err := emulator.StartFirestore(ctx, emulator.Options{})
	if err != nil {
		return err
	}
	defer fs.Close()
	ps, err := emulator.StartPubSub(ctx, emulator.Options{})
	if err != nil {
		return err
	}
	defer ps.Close()
	sub, err := prepareTopic(ctx, ps)
	if err != nil {
		return err
	}
	signer := verifytest.NewSigner()
	jwks := verifytest.NewJWKSServer(verifytest.JWKS(signer))
	defer jwks.Close()
	// Per-request (v1a) deliveries come to /r/<route token>; the token and
	// the v1 secret are read from Secret Manager, here a loopback one.
	token := route.NewToken()
	sm, err := benchfn.StartSecretManager("127.0.0.1:0", map[string][]byte{
		"projects/" + project + "/secrets/" + geminihook.DefaultSecret: []byte(verifytest.Secret),
		"projects/" + project + "/secrets/" + routeTokensSecret:        []byte(token),
	})
	if err != nil {
		return err
	}
	defer sm.Stop()

	fns := []*fn{{name: "bare", bin: bareBin, path: "/", env: []string{"FUNCTION_TARGET=Bare"}}}
	for _, v := range variants {
		fns = append(fns, &fn{name: variantNames[v], bin: functionBin, path: route.Prefix + token, publish: true, env: []string{
			"FUNCTION_TARGET=GeminiWebhookBench", // bench/coldstart/function
			"GOOGLE_CLOUD_PROJECT=" + project,
			"FIRESTORE_EMULATOR_HOST=" + fs.Addr(),
			"PUBSUB_EMULATOR_HOST=" + ps.Addr(),
			"GEMINIHOOK_SECRET=" + geminihook.DefaultSecret,
			"GEMINIHOOK_ROUTE_TOKENS=" + routeTokensSecret,
			"GEMINIHOOK_JWKS_URL=" + jwks.URL + "/.well-known/jwks.json",
			benchfn.EnvSecretManager + "=" + sm.Addr(),
			"GEMINIHOOK_BENCH_WARM=" + v,
		}})
	}
	s := &starter{delay: delay, idleSecond: idleSecond, logDir: logDir, signer: signer, body: bench.Body(), timeout: timeout, prefix: "msg_coldstart_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_"}
	published := 0
	for i := range warmup + n {
		// Every function once per round, in an order rotating by one each
		// round; bare first in the first timed round: benchstat's baseline.
		order := make([]*fn, len(fns))
		for j := range fns {
			order[j] = fns[(j+i-warmup+len(fns)*(warmup+1))%len(fns)]
		}
		for _, f := range order {
			r, err := s.start(ctx, f)
			if err != nil {
				return fmt.Errorf("%s, start %d: %w", f.name, i+1, err)
			}
			if f.publish {
				published += 2
			}
			if i < warmup {
				continue
			}
			f.results = append(f.results, r)
			line := fmt.Sprintf("BenchmarkColdStart/fn=%s 1 %d ns/op %d listen-ns/op %d request-ns/op",
				f.name, r.first200.Nanoseconds(), r.listen.Nanoseconds(), r.first.Nanoseconds())
			if r.handler >= 0 {
				line += fmt.Sprintf(" %d handler-ns/op", r.handler.Nanoseconds())
			}
			line += fmt.Sprintf(" %d second-ns/op %d first-extra-ns/op", r.second.Nanoseconds(), (r.first - r.second).Nanoseconds())
			fmt.Println(line)
		}
	}
	if err := checkPublished(ctx, sub, published); err != nil {
		return err
	}
	for _, f := range fns {
		summarize(os.Stderr, f)
	}
	return nil
}

// prepareTopic creates geminihook's topics on the emulator and a
// subscription to count what the starts publish.
func prepareTopic(ctx context.Context, ps *emulator.Emulator) (*pubsub.Subscriber, error) {
	conn, err := ps.Dial(nil)
	if err != nil {
		return nil, err
	}
	client, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		return nil, err
	}
	topic := "projects/" + project + "/topics/" + geminihook.DefaultTopic
	if err := publish.EnsureTopics(ctx, client, topic, topic+"-quarantine"); err != nil {
		return nil, err
	}
	name := "projects/" + project + "/subscriptions/coldstart"
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: name, Topic: topic}); err != nil {
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	return client.Subscriber(name), nil
}

// checkPublished reads the subscription until it has want distinct
// messages, and a little longer to see that no more come.
func checkPublished(ctx context.Context, sub *pubsub.Subscriber, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got atomic.Int64
	seen := make(chan string, want+100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ids := map[string]bool{}
		var settle <-chan time.Time
		for {
			select {
			case id := <-seen:
				ids[id] = true
				got.Store(int64(len(ids)))
				if len(ids) == want && settle == nil {
					settle = time.After(time.Second)
				}
			case <-settle:
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	err := sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		seen <- m.Attributes["ce-id"]
	})
	<-done
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("reading the subscription: %w", err)
	}
	if g := int(got.Load()); g != want {
		return fmt.Errorf("%d distinct events on Pub/Sub after %d geminihook deliveries, want %d", g, want, want)
	}
	return nil
}

// starter starts functions and sends each its first delivery.
type starter struct {
	delay time.Duration // wait this long after the process listens before the first request
	// idleSecond: wait delay before the second request too
	idleSecond bool
	logDir     string // when set, every start's output is kept there
	signer     *verifytest.Signer
	body       []byte
	timeout    time.Duration
	prefix     string
	n          int
}

func (s *starter) start(ctx context.Context, f *fn) (result, error) {
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	url := "http://127.0.0.1:" + port + f.path

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var t0 time.Time
	var listen atomic.Int64 // time.Duration from t0 to the first connection
	var dialer net.Dialer
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		// Try to connect until the process listens (or exits, which
		// cancels ctx).
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			for {
				c, err := dialer.DialContext(ctx, network, addr)
				if err == nil {
					listen.CompareAndSwap(0, int64(time.Since(t0)))
					return c, nil
				}
				if ctx.Err() != nil {
					return nil, err
				}
				time.Sleep(pollInterval)
			}
		},
	}}
	// Both deliveries are signed before the clock starts.
	first, err := s.request(ctx, url)
	if err != nil {
		return result{}, err
	}
	second, err := s.request(ctx, url)
	if err != nil {
		return result{}, err
	}

	var out bytes.Buffer
	cmd := exec.Command(f.bin)
	cmd.Env = append([]string{"PORT=" + port}, f.env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 = time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
		cancel() // a process that exits never answers
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	defer stop()

	if s.delay > 0 {
		// An instance started ahead of its first request: wait until it
		// listens, then as long again as -delay.
		for {
			c, err := dialer.DialContext(ctx, "tcp", "127.0.0.1:"+port)
			if err == nil {
				listen.CompareAndSwap(0, int64(time.Since(t0)))
				c.Close()
				break
			}
			if ctx.Err() != nil {
				return result{}, fmt.Errorf("not listening: %w; output: %s", err, tail(&out))
			}
			time.Sleep(pollInterval)
		}
		time.Sleep(s.delay)
	}
	t1 := time.Now()
	if err := deliver(client, first, f.publish); err != nil {
		return result{}, fmt.Errorf("first delivery: %w; output: %s", err, tail(&out))
	}
	r := result{listen: time.Duration(listen.Load()), first200: time.Since(t0), handler: -1}
	r.first = r.first200 - r.listen
	if s.delay > 0 {
		r.first = time.Since(t1)
	}
	if s.idleSecond {
		time.Sleep(s.delay)
	}
	t1 = time.Now()
	if err := deliver(client, second, f.publish); err != nil {
		return result{}, fmt.Errorf("second delivery: %w; output: %s", err, tail(&out))
	}
	r.second = time.Since(t1)
	if f.publish {
		stop() // the output is complete once the process is gone
		if s.logDir != "" {
			name := filepath.Join(s.logDir, fmt.Sprintf("%s-%03d.log", f.name, s.n/2))
			if err := os.WriteFile(name, out.Bytes(), 0o644); err != nil {
				return result{}, err
			}
		}
		if r.handler = loggedLatency(out.Bytes()); r.handler < 0 {
			return result{}, fmt.Errorf("no access log line with latency_ms in the output: %s", tail(&out))
		}
	}
	return r, nil
}

// request returns a new signed delivery to url.
func (s *starter) request(ctx context.Context, url string) (*http.Request, error) {
	s.n++
	id := s.prefix + strconv.Itoa(s.n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(s.body))
	if err != nil {
		return nil, err
	}
	req.Header = s.signer.V1a(id, time.Now(), s.body)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// deliver sends req and checks that it is answered 200, and when
// published is set, {"status":"published"} with its webhook-id.
func deliver(c *http.Client, req *http.Request, published bool) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d %q", resp.StatusCode, answer)
	}
	if published {
		var a struct{ Status, ID string }
		id := req.Header.Get("Webhook-Id")
		if err := json.Unmarshal(answer, &a); err != nil || a.Status != "published" || a.ID != id {
			return fmt.Errorf("answer %q, want status published and id %q", answer, id)
		}
	}
	return nil
}

// loggedLatency returns the latency_ms of the function's access log line
// (Cloud Logging JSON on its standard output), or -1.
func loggedLatency(out []byte) time.Duration {
	for line := range bytes.Lines(out) {
		var l struct {
			LatencyMS *float64 `json:"latency_ms"`
		}
		if json.Unmarshal(line, &l) == nil && l.LatencyMS != nil {
			return time.Duration(*l.LatencyMS * float64(time.Millisecond))
		}
	}
	return -1
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func tail(b *bytes.Buffer) string {
	s := b.String()
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarize writes the median and the 90th percentile (nearest rank) of
// f's results.
func summarize(w io.Writer, f *fn) {
	pick := func(get func(result) time.Duration) (p50, p90 float64) {
		v := make([]time.Duration, len(f.results))
		for i, r := range f.results {
			v[i] = get(r)
		}
		slices.Sort(v)
		return ms(percentile(v, 50)), ms(percentile(v, 90))
	}
	a50, a90 := pick(func(r result) time.Duration { return r.first200 })
	l50, l90 := pick(func(r result) time.Duration { return r.listen })
	r50, r90 := pick(func(r result) time.Duration { return r.first })
	fmt.Fprintf(w, "%-22s n=%d  first 200: median %6.2f ms, p90 %6.2f ms;  listen: median %6.2f ms, p90 %6.2f ms;  first request: median %6.2f ms, p90 %6.2f ms",
		f.name, len(f.results), a50, a90, l50, l90, r50, r90)
	if f.publish {
		h50, h90 := pick(func(r result) time.Duration { return r.handler })
		fmt.Fprintf(w, " (of which the handler logged: median %6.2f ms, p90 %6.2f ms)", h50, h90)
	}
	s50, s90 := pick(func(r result) time.Duration { return r.second })
	d50, d90 := pick(func(r result) time.Duration { return r.first - r.second })
	fmt.Fprintf(w, ";  second request: median %6.2f ms, p90 %6.2f ms;  first minus second, per start: median %6.2f ms, p90 %6.2f ms\n", s50, s90, d50, d90)
}

// percentile is the nearest-rank p-th percentile of sorted v.
func percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(v)))) - 1
	return v[max(0, min(i, len(v)-1))]
}

// printHeader prints the lines benchstat shows above its tables.
func printHeader() {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Printf("goos: %s\ngoarch: %s\npkg: github.com/geminihook/geminihook/bench/coldstart\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, cpu)
}
