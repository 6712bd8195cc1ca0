package fault

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/bench/naive"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/loadtest"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func TestMain(m *testing.M) { emulator.Main(m) }

const (
	topic    = "events"
	secretID = "webhook-signing"
	// couldNotMark is the start of the handler's error report when the
	// event is out but the ledger could not record it.
	couldNotMark = "published but could not mark the delivery published"
)

// size is the scale of the suite: short by default, full with
// GEMINIHOOK_FAULT_FULL=1.
type size struct {
	full        bool
	n           int
	concurrency int
	rate        float64 // deliveries started per second
	env         map[string]string
	deadline    time.Duration // GEMINIHOOK_REQUEST_TIMEOUT in effect
	lease       time.Duration // GEMINIHOOK_LEASE in effect
	at          time.Duration // when the fault starts, after the first send
	blip        time.Duration // pause shorter than deadline
	down        time.Duration // how long a killed emulator stays down
	outage      time.Duration // refusals and long pauses: longer than deadline (+2 s)
	settle      time.Duration // wait for the events after the last send
}

func sizeOf(t *testing.T) size {
	t.Helper()
	emulator.SkipShort(t) // counted in the -short summary
	if os.Getenv("GEMINIHOOK_FAULT_FULL") == "1" {
		return size{full: true, n: 3000, concurrency: 50, rate: 150,
			env:      map[string]string{}, // production defaults
			deadline: geminihook.DefaultRequestTimeout, lease: geminihook.DefaultLease,
			at: 4 * time.Second, blip: 5 * time.Second, down: 3 * time.Second, outage: 12 * time.Second,
			settle: 2 * time.Minute}
	}
	return size{n: 240, concurrency: 20, rate: 60,
		env:      map[string]string{"GEMINIHOOK_REQUEST_TIMEOUT": "3s", "GEMINIHOOK_LEASE": "5s"},
		deadline: 3 * time.Second, lease: 5 * time.Second,
		at: time.Second, blip: 2 * time.Second, down: time.Second, outage: 4 * time.Second,
		settle: time.Minute}
}

// logBuffer collects the function's log lines.
type logBuffer struct{ cloudlogtest.Buffer }

// reported returns the webhook ids of the log lines whose message starts
// with prefix.
func (l *logBuffer) reported(prefix string) map[string]bool {
	ids := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Message   string            `json:"message"`
			WebhookID string            `json:"webhook_id"`
			Labels    map[string]string `json:"logging.googleapis.com/labels"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || !strings.HasPrefix(line.Message, prefix) {
			continue
		}
		id := line.WebhookID
		if id == "" {
			id = line.Labels["webhook_id"]
		}
		ids[id] = true
	}
	return ids
}

// Receivers the rig can serve.
const (
	peerGeminihook = "geminihook" // geminihook.NewService
	peerNaive      = "naive"      // bench/naive: the receiver a developer would write
)

// rig is a receiver on the emulators, served on 127.0.0.1: geminihook
// (geminihook.NewService) or the naive receiver of bench/naive. The server
// hands each request to the current instance, which replace swaps.
type rig struct {
	t       *testing.T
	size    size
	peer    string
	project string
	url     string
	gate    *emulator.PublishGate
	logs    *logBuffer
	sub     *pubsub.Client // the suite's own client: subscriptions
	fs, ps  *emulator.Emulator
	cfg     geminihook.Config
	sm      *secretstest.Server
	inst    atomic.Pointer[instance]
}

// instance is one instance of the receiver: its handler, the requests in
// flight on it, and how to stop it.
type instance struct {
	h     http.Handler
	stop  func() // as the platform stops an idle instance: no flush
	close func() // at the end of the test: a clean shutdown

	mu      sync.RWMutex // held for reading by each request it serves
	stopped bool
}

// newRig builds geminihook on fs and ps; Pub/Sub publishes go through a
// gate.
func newRig(t *testing.T, sz size, fs, ps *emulator.Emulator) *rig {
	t.Helper()
	return newRigOf(t, sz, fs, ps, peerGeminihook)
}

// newRigOf builds peer on fs and ps.
func newRigOf(t *testing.T, sz size, fs, ps *emulator.Emulator, peer string) *rig {
	t.Helper()
	ctx := context.Background()
	rg := &rig{t: t, size: sz, peer: peer, project: emulator.ProjectID(t), gate: &emulator.PublishGate{}, logs: &logBuffer{}, fs: fs, ps: ps}
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": rg.project,
		"GEMINIHOOK_SECRET":    secretID,
		"GEMINIHOOK_JWKS_URL":  geminihook.Off,
		"GEMINIHOOK_TOPIC":     topic,
	}
	for k, v := range sz.env {
		env[k] = v
	}
	var err error
	rg.cfg, err = geminihook.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	rg.sm = secretstest.NewServer(t)
	rg.sm.AddVersion(rg.cfg.Secret, []byte(verifytest.Secret))

	rg.sub, err = pubsub.NewClient(ctx, rg.project, ps.ClientOptions(t, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rg.sub.Close() })
	if err := publish.EnsureTopics(ctx, rg.sub, rg.cfg.Topic, rg.cfg.QuarantineTopic); err != nil {
		t.Fatal(err)
	}

	first, err := rg.newInstance()
	if err != nil {
		t.Fatal(err)
	}
	rg.inst.Store(first)
	hs := httptest.NewServer(http.HandlerFunc(rg.serve))
	rg.url = hs.URL + "/"
	t.Cleanup(func() {
		hs.Close()
		rg.inst.Load().close()
	})
	// The first requests on a fresh emulator project take about a second
	// (the JVM warms up): get that out of the way so that the fault, not
	// the warm-up, is what the load meets.
	res, err := loadtest.Run(ctx, loadtest.Options{URL: rg.url, Secret: verifytest.Secret, N: 30, Concurrency: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r := loadtest.NewReport(res, nil); len(r.Problems()) > 0 {
		t.Fatalf("warm-up load: %v; status %v", r.Problems(), r.Status)
	}
	return rg
}

// serve hands r to the current instance.
func (rg *rig) serve(w http.ResponseWriter, r *http.Request) {
	for {
		in := rg.inst.Load()
		in.mu.RLock()
		if in.stopped { // replaced meanwhile: the new one serves it
			in.mu.RUnlock()
			continue
		}
		in.h.ServeHTTP(w, r)
		in.mu.RUnlock()
		return
	}
}

// newInstance builds the receiver on new clients of the rig's emulators.
// It may run on any goroutine: it reports failures as errors.
func (rg *rig) newInstance() (*instance, error) {
	ctx := context.Background()
	conn, err := rg.fs.Dial(nil)
	if err != nil {
		return nil, err
	}
	fsc, err := firestore.NewClient(ctx, rg.project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		return nil, err
	}
	pconn, err := rg.ps.Dial(nil, grpc.WithChainUnaryInterceptor(rg.gate.UnaryInterceptor()))
	if err != nil {
		fsc.Close()
		return nil, err
	}
	psc, err := pubsub.NewClient(ctx, rg.project, option.WithGRPCConn(pconn))
	if err != nil {
		pconn.Close()
		fsc.Close()
		return nil, err
	}
	closeClients := func() {
		psc.Close()
		pconn.Close()
		fsc.Close()
		conn.Close()
	}
	smc, err := secretmanager.NewClient(ctx, rg.sm.ClientOptions()...)
	if err != nil {
		closeClients()
		return nil, err
	}
	in := &instance{}
	switch rg.peer {
	case peerNaive:
		rc, err := naive.New(fsc, psc, verifytest.Secret, topic, log.New(rg.logs, "", log.LstdFlags))
		if err != nil {
			closeClients()
			return nil, err
		}
		in.h = rc
		// A stopped instance flushes nothing: what its Publisher still
		// holds is lost.
		in.stop = func() { closeClients(); smc.Close() }
		in.close = func() { rc.Stop(); closeClients(); smc.Close() }
	default:
		svc, err := geminihook.NewService(rg.cfg, geminihook.Parts{
			Clients: geminihook.Clients{Firestore: fsc, PubSub: psc, SecretManager: smc},
			Logger:  geminihook.NewLogger(rg.logs, rg.cfg),
		})
		if err != nil {
			closeClients()
			return nil, err
		}
		in.h = svc
		stop := func() {
			if err := svc.Close(); err != nil {
				rg.t.Errorf("closing the service: %v", err)
			}
			closeClients()
			smc.Close()
		}
		in.stop, in.close = stop, stop
	}
	return in, nil
}

// replace starts a new instance, sends it every new request, and stops the
// old one once the requests in flight on it are answered, as the platform
// scales an instance in: what it still does in the background is cut
// short. It returns when the old instance is stopped.
func (rg *rig) replace() {
	in, err := rg.newInstance()
	if err != nil {
		rg.t.Errorf("a new instance: %v", err)
		return
	}
	old := rg.inst.Swap(in)
	old.mu.Lock() // once the requests in flight on it are answered
	old.stopped = true
	old.mu.Unlock()
	old.stop()
}

// window is when a fault was in effect.
type window struct{ from, to time.Time }

// run loads the rig while fault runs (from sz.at after the start; it
// returns the window during which the backend was out) and returns the
// report, the sends and what the subscription saw.
func (rg *rig) run(fault func() window) (loadtest.Report, *loadtest.Result, map[string]loadtest.Seen, window) {
	t := rg.t
	t.Helper()
	ctx := context.Background()
	col, err := loadtest.Subscribe(ctx, rg.sub, []string{topic, topic + "-quarantine"}, loadtest.SubscribeOptions{Prefix: "fault"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := col.Close(); err != nil {
			t.Error(err)
		}
	}()
	var w window
	faulted := make(chan struct{})
	started := time.Now()
	go func() {
		defer close(faulted)
		time.Sleep(rg.size.at)
		w = fault()
	}()
	res, err := loadtest.Run(ctx, loadtest.Options{
		URL: rg.url, Secret: verifytest.Secret, N: rg.size.n, Concurrency: rg.size.concurrency, Rate: rg.size.rate,
		Duplicates: 0.2, Forged: 0.05,
		MaxAttempts: loadtest.MaxAttemptsLimit, Deadline: 3 * time.Minute, AttemptTimeout: 30 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Progress:      func(p loadtest.Progress) { t.Logf("load: %s", p) },
		ProgressEvery: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	<-faulted
	var want []string
	for _, s := range res.Sends {
		if s.Role == loadtest.RoleOriginal {
			want = append(want, s.ID)
		}
	}
	if !col.Wait(ctx, want, rg.size.settle, 2*time.Second) {
		t.Logf("not every event arrived within %v", rg.size.settle)
	}
	seen := col.Seen()
	rep := loadtest.NewReport(res, seen)
	var b strings.Builder
	rep.WriteText(&b)
	late := ackedBeforeSeen(res, seen, time.Second)
	t.Logf("%s: fault from %.1fs to %.1fs after the start; %d deliveries seen on the subscription 1 s or more after their first 2xx; report:\n%s",
		rg.peer, w.from.Sub(started).Seconds(), w.to.Sub(started).Seconds(), late, b.String())
	rg.summarize(rep, late)
	return rep, res, seen, w
}

// signalGroup sends sig to the emulator's process group.
func signalGroup(t *testing.T, emu *emulator.Emulator, sig syscall.Signal) {
	t.Helper()
	pid := emu.PID()
	if pid == 0 {
		t.Errorf("%s emulator not running: cannot send %v", emu.Name(), sig)
		return
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		t.Errorf("%v to the %s emulator's group %d: %v", sig, emu.Name(), pid, err)
	}
}

// pause freezes emu for d and returns the window; the emulator is thawed
// when the test ends whatever happens.
func pause(t *testing.T, emu *emulator.Emulator, d time.Duration) window {
	t.Helper()
	var once sync.Once
	thaw := func() { once.Do(func() { signalGroup(t, emu, syscall.SIGCONT) }) }
	t.Cleanup(thaw)
	w := window{from: time.Now()}
	signalGroup(t, emu, syscall.SIGSTOP)
	time.Sleep(d)
	thaw()
	w.to = time.Now()
	return w
}

// waited counts the attempts in flight during w that took at least min.
func waited(res *loadtest.Result, w window, min time.Duration) int {
	n := 0
	for _, s := range res.Sends {
		for _, a := range s.Attempts {
			if a.Start.Before(w.to) && a.Start.Add(a.Latency).After(w.from) && a.Latency >= min {
				n++
			}
		}
	}
	return n
}

// sendsByID groups the sends of res by webhook id.
func sendsByID(res *loadtest.Result) map[string][]*loadtest.Send {
	m := map[string][]*loadtest.Send{}
	for _, s := range res.Sends {
		m[s.ID] = append(m[s.ID], s)
	}
	return m
}

// doubledIDs returns every doubled authentic id (the report lists at most
// 20).
func doubledIDs(res *loadtest.Result, seen map[string]loadtest.Seen) []string {
	var ids []string
	for id, ss := range sendsByID(res) {
		if ss[0].Role != loadtest.RoleForged && len(seen[id].Messages) > 1 {
			ids = append(ids, id)
		}
	}
	return ids
}

// checkNothingLost fails on anything lost (at the sender or on the way to
// Pub/Sub) or forged and accepted or published.
func checkNothingLost(t *testing.T, r loadtest.Report) {
	t.Helper()
	if r.Lost != 0 || r.LostAtSender != 0 || r.Published != r.Authentic {
		t.Errorf("%d lost, %d lost at the sender, %d of %d published: want every authentic delivery published (lost: %v; at sender: %v)",
			r.Lost, r.LostAtSender, r.Published, r.Authentic, r.LostIDs, r.LostAtSenderIDs)
	}
	if r.ForgedAccepted != 0 || r.ForgedPublished != 0 {
		t.Errorf("%d forged deliveries accepted, %d published: want 0", r.ForgedAccepted, r.ForgedPublished)
	}
	if r.Interrupted {
		t.Error("the load was interrupted")
	}
}

// ackedBeforeSeen counts the authentic deliveries first seen on the
// subscription at least lag after their first 2xx answer: acknowledged to
// the sender while their event was not out yet (or, when Pub/Sub itself is
// slow, not yet delivered).
func ackedBeforeSeen(res *loadtest.Result, seen map[string]loadtest.Seen, lag time.Duration) int {
	acked := map[string]time.Time{}
	for _, s := range res.Sends {
		if s.Role == loadtest.RoleForged {
			continue
		}
		for _, a := range s.Attempts {
			if a.Status >= 200 && a.Status < 300 {
				at := a.Start.Add(a.Latency)
				if t, ok := acked[s.ID]; !ok || at.Before(t) {
					acked[s.ID] = at
				}
				break
			}
		}
	}
	n := 0
	for id, at := range acked {
		var first time.Time
		for _, t := range seen[id].Messages {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		if !first.IsZero() && first.Sub(at) >= lag {
			n++
		}
	}
	return n
}

// summarize appends the scenario's line of the comparison table to
// $GEMINIHOOK_FAULT_SUMMARY (test/fault/loadbench prints it), when set.
func (rg *rig) summarize(r loadtest.Report, late int) {
	path := os.Getenv("GEMINIHOOK_FAULT_SUMMARY")
	if path == "" {
		return
	}
	scenario := strings.TrimPrefix(strings.TrimPrefix(rg.t.Name(), "TestNaive/"), "Test")
	fivexx := 0
	for k, v := range r.Status {
		if strings.HasPrefix(k, "5") {
			fivexx += v
		}
	}
	line := fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %.0f |\n",
		scenario, rg.peer, r.Authentic, r.Lost+r.LostAtSender, r.Doubled, fivexx, late, r.LatencyMillis.Max)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		rg.t.Errorf("summary: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		rg.t.Errorf("summary: %v", err)
	}
}
