package bench

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geminihook/geminihook/bench/internal/benchfn"
)

// The benchmarks are named .../delivery=new|duplicate/impl=bare|geminihook
// so that benchstat puts the two implementations side by side:
//
//	go test -c -o /tmp/bench.test ./bench
//	for i in 1 2 3 4 5 6; do /tmp/bench.test -test.run '^$' -test.bench . -test.benchmem -test.benchtime 10000x; done > b.txt
//	benchstat -col '/impl@(bare geminihook geminihook-remote geminihook-nopubsub)' b.txt
//
// bench/run does this (and the profile and the cold start).

var (
	deliveryKinds = []string{"new", "duplicate"}
	// impls are the functions compared: the baseline, geminihook as
	// deployed with Pub/Sub on a pstest server in this process, the same
	// with the pstest server in another process (closer to production,
	// where Pub/Sub's side of the call is not the function's), and
	// geminihook with a counter as its Publisher, which tells the
	// handler's own cost from Pub/Sub's.
	impls = []string{"bare", "geminihook", "geminihook-remote", "geminihook-nopubsub"}
)

// newImpl returns the handler of impl and, for geminihook, its fixture.
func newImpl(b *testing.B, impl string) (http.Handler, *fixture) {
	switch impl {
	case "bare":
		return http.HandlerFunc(Bare), nil
	case "geminihook":
		f := newFixture(b, pubsubInProcess)
		return f.handler, f
	case "geminihook-remote":
		f := newFixture(b, pubsubRemote)
		return f.handler, f
	case "geminihook-nopubsub":
		f := newFixture(b, pubsubNone)
		return f.handler, f
	}
	b.Fatalf("unknown impl %q", impl)
	return nil, nil
}

// BenchmarkRecorder serves one request at a time through
// httptest.NewRecorder, calling the handler directly (without the
// functions-framework wrapper, which is the same for both). ns/op is the
// latency of one delivery, which for geminihook includes waiting for
// pstest's acknowledgement over loopback gRPC; cpu-ns/op is the CPU time
// of this process (with the in-process pstest server, its share included)
// per delivery, and pubsub-cpu-ns/op that of the pstest server's process
// for geminihook-remote; B/op and allocs/op count this process. The signed
// requests are made outside the timer, in batches.
func BenchmarkRecorder(b *testing.B) {
	for _, kind := range deliveryKinds {
		for _, impl := range impls {
			b.Run("delivery="+kind+"/impl="+impl, func(b *testing.B) {
				benchRecorder(b, kind, impl)
			})
		}
	}
}

func benchRecorder(b *testing.B, kind, impl string) {
	h, f := newImpl(b, impl)
	body := Body()
	s := newDeliveries(b, body).signer()
	next := s.newID
	if kind == "duplicate" {
		id := s.newID()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, recorderRequest(s.header(id), body))
		if w.Code != http.StatusOK {
			b.Fatalf("first delivery: %d %s", w.Code, w.Body)
		}
		next = func() string { return id }
	}
	before, calls := 0, int64(0)
	if f != nil {
		before, calls = f.published(), f.calls.Load()
	}

	const batch = 1024
	reqs := make([]*http.Request, 0, batch)
	var cpuOutside time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, pcpu0 := benchfn.ProcessCPU(), f.pubsubCPU()
	for i := range b.N {
		if len(reqs) == 0 {
			b.StopTimer()
			c := benchfn.ProcessCPU()
			for range min(batch, b.N-i) {
				reqs = append(reqs, recorderRequest(s.header(next()), body))
			}
			cpuOutside += benchfn.ProcessCPU() - c
			b.StartTimer()
		}
		r := reqs[len(reqs)-1]
		reqs = reqs[:len(reqs)-1]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s %s delivery: %d %s", impl, kind, w.Code, w.Body)
		}
	}
	cpu := benchfn.ProcessCPU() - cpu0 - cpuOutside
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if f != nil && f.remote != nil {
		b.ReportMetric(float64((f.pubsubCPU()-pcpu0).Nanoseconds())/float64(b.N), "pubsub-cpu-ns/op")
	}
	reportCalls(b, f, calls)
	checkPublished(b, f, kind, before, b.N)
}

// recorderRequest is a server-side request as net/http would give it.
func recorderRequest(h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header = h
	return r
}

// checkPublished fails b unless every new delivery was published once and
// no duplicate was published again.
func checkPublished(b *testing.B, f *fixture, kind string, before, n int) {
	b.Helper()
	if f == nil {
		return
	}
	want := before
	if kind == "new" {
		want += n
	}
	if got := f.published(); got != want {
		b.Fatalf("%d messages on pstest after %d %s deliveries, want %d", got, n, kind, want)
	}
}

// parallelism is the number of client goroutines per GOMAXPROCS of
// BenchmarkLoopback: 8 on 2 cores gives 16 concurrent keep-alive
// connections, enough to keep both servers busy.
var parallelism = flag.Int("parallelism", 8, "BenchmarkLoopback's client goroutines per GOMAXPROCS")

// BenchmarkLoopback sends requests over loopback HTTP with keep-alive from
// b.RunParallel clients to the in-process functions-framework server
// (Bare at /bare, the geminihook variant under test at /geminihook). req/s is the throughput; the
// clients run in the same process and sign each delivery as it is sent,
// which costs the same for both implementations.
func BenchmarkLoopback(b *testing.B) {
	for _, kind := range deliveryKinds {
		for _, impl := range impls {
			b.Run("delivery="+kind+"/impl="+impl, func(b *testing.B) {
				benchLoopback(b, kind, impl)
			})
		}
	}
}

func benchLoopback(b *testing.B, kind, impl string) {
	h, f := newImpl(b, impl)
	url := frameworkURL(b) + "/bare"
	if f != nil {
		url = frameworkURL(b) + "/geminihook"
		framework.gemi.set(h)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := Body()
	d := newDeliveries(b, body)
	dupID := ""
	if kind == "duplicate" {
		s := d.signer()
		dupID = s.newID()
		if status, err := post(client, url, s.header(dupID), body); err != nil || status != http.StatusOK {
			b.Fatalf("first delivery: %d %v", status, err)
		}
	}
	before, calls := 0, int64(0)
	if f != nil {
		before, calls = f.published(), f.calls.Load()
	}

	b.ReportAllocs()
	b.SetParallelism(*parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := d.signer()
		for pb.Next() {
			id := dupID
			if id == "" {
				id = s.newID()
			}
			status, err := post(client, url, s.header(id), body)
			if err != nil || status != http.StatusOK {
				b.Errorf("%s %s delivery: %d %v", impl, kind, status, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	reportCalls(b, f, calls)
	checkPublished(b, f, kind, before, b.N)
}

// post sends one delivery and reads the whole answer, so that the
// connection is reused.
func post(c *http.Client, url string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// reportCalls reports the Publish calls per delivery since the fixture
// had made calls0 (publishes that wait share calls: below 1 under load).
func reportCalls(b *testing.B, f *fixture, calls0 int64) {
	if f != nil && f.counter == nil {
		b.ReportMetric(float64(f.calls.Load()-calls0)/float64(b.N), "publish-calls/op")
	}
}
