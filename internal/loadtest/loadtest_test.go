package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

const (
	testProject = "loadtest"
	testTopic   = "projects/loadtest/topics/events"
	secret      = verifytest.Secret
)

func TestPlan(t *testing.T) {
	o, err := Options{URL: "http://127.0.0.1:1/", Secret: secret, N: 200, Duplicates: 0.2, Forged: 0.05}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	sends, groups := plan(o)
	if len(sends) != 200 {
		t.Fatalf("plan made %d sends, want 200", len(sends))
	}
	roles := map[Role]int{}
	originals := map[string]*Send{}
	types := map[string]int{}
	forgeries := map[string]int{}
	ids := map[string]bool{}
	for _, g := range groups {
		for i, j := range g {
			s := j.send
			roles[s.Role]++
			if s.Role != RoleDuplicate {
				types[s.Type]++
			}
			switch s.Role {
			case RoleOriginal:
				if i != 0 {
					t.Errorf("original %s at position %d of its group, want 0", s.ID, i)
				}
				originals[s.ID] = s
			case RoleDuplicate:
				o := g[0].send
				if o.Role != RoleOriginal || o.ID != s.ID || o.Type != s.Type || string(g[0].body) != string(j.body) {
					t.Errorf("duplicate %s does not follow its original in its group (same id, type, body)", s.ID)
				}
			case RoleForged:
				if len(g) != 1 {
					t.Errorf("forged send in a group of %d", len(g))
				}
				if ids[s.ID] {
					t.Errorf("forged id %s used twice", s.ID)
				}
				forgeries[s.Forgery]++
			}
			if s.Role != RoleDuplicate {
				if ids[s.ID] {
					t.Errorf("id %s of a %s send is not fresh", s.ID, s.Role)
				}
				ids[s.ID] = true
			}
			if !strings.HasPrefix(s.ID, "msg_") || len(s.ID) != 40 {
				t.Errorf("webhook id %q is not msg_<uuid>", s.ID)
			}
		}
	}
	if want := map[Role]int{RoleOriginal: 150, RoleDuplicate: 40, RoleForged: 10}; !mapsEqual(roles, want) {
		t.Errorf("roles = %v, want %v", roles, want)
	}
	for _, typ := range events.DocumentedTypes() {
		if types[typ] < 160/9 {
			t.Errorf("type %s drawn %d times, want %d or more (round robin over 160 originals and forgeries)", typ, types[typ], 160/9)
		}
	}
	if len(forgeries) != 3 || forgeries[ForgeryStale] < 3 {
		t.Errorf("forgeries = %v, want the three kinds in turn", forgeries)
	}
	body := string(MinimalBody(events.TypeBatchFailed, time.Now()))
	if !strings.Contains(body, `"type":"batch.failed"`) || !json.Valid([]byte(body)) {
		t.Errorf("MinimalBody = %s", body)
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	ok := Options{URL: "http://127.0.0.1:8080/", Secret: secret}
	tests := []struct {
		name string
		edit func(*Options)
		want error // nil: valid
	}{
		{"defaults", func(*Options) {}, nil},
		{"localhost", func(o *Options) { o.URL = "http://localhost:1/x" }, nil},
		{"ipv6 loopback", func(o *Options) { o.URL = "http://[::1]:1/" }, nil},
		{"127.0.0.2", func(o *Options) { o.URL = "http://127.0.0.2:1/" }, nil},
		{"public host", func(o *Options) { o.URL = "http://example.com/" }, ErrNotLoopback},
		{"private address", func(o *Options) { o.URL = "http://10.0.0.1:8080/" }, ErrNotLoopback},
		{"any address", func(o *Options) { o.URL = "http://0.0.0.0:8080/" }, ErrNotLoopback},
		{"no scheme", func(o *Options) { o.URL = "127.0.0.1:8080" }, ErrInvalidOptions},
		{"ftp", func(o *Options) { o.URL = "ftp://127.0.0.1/" }, ErrInvalidOptions},
		{"no secret", func(o *Options) { o.Secret = "" }, ErrInvalidOptions},
		{"bad secret", func(o *Options) { o.Secret = "whsec_***" }, ErrInvalidOptions},
		{"negative N", func(o *Options) { o.N = -1 }, ErrInvalidOptions},
		{"N over limit", func(o *Options) { o.N = MaxN + 1 }, ErrInvalidOptions},
		{"concurrency over limit", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }, ErrInvalidOptions},
		{"duplicates over 0.9", func(o *Options) { o.Duplicates = 0.95 }, ErrInvalidOptions},
		{"duplicates NaN", func(o *Options) { o.Duplicates = math.NaN() }, ErrInvalidOptions},
		{"forged negative", func(o *Options) { o.Forged = -0.1 }, ErrInvalidOptions},
		{"forged over 0.5", func(o *Options) { o.Forged = 0.6 }, ErrInvalidOptions},
		{"nothing authentic", func(o *Options) { o.N, o.Duplicates, o.Forged = 2, 0.5, 0.5 }, ErrInvalidOptions},
		{"attempts over limit", func(o *Options) { o.MaxAttempts = MaxAttemptsLimit + 1 }, ErrInvalidOptions},
		{"timeout over limit", func(o *Options) { o.AttemptTimeout = 2 * MaxAttemptTimeout }, ErrInvalidOptions},
		{"deadline over limit", func(o *Options) { o.Deadline = MaxDeadline + time.Second }, ErrInvalidOptions},
		{"backoff min over max", func(o *Options) { o.MinBackoff, o.MaxBackoff = 2*time.Second, time.Second }, ErrInvalidOptions},
		{"rate negative", func(o *Options) { o.Rate = -1 }, ErrInvalidOptions},
		{"rotation", func(o *Options) { o.Secrets = []string{"whsec_Z2VtaW5paG9vay10ZXN0LXNlY3JldC0wMDAwMDAwMDI="} }, nil},
		{"bad second secret", func(o *Options) { o.Secrets = []string{"whsec_***"} }, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			err := Validate(o)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Validate(%+v) = %v, want %v", o, err, tt.want)
			}
			if tt.want == nil {
				return
			}
			// Every refusal names the field, and what is wanted.
			oe, ok := errors.AsType[*OptionError](err)
			if !ok || oe.Field == "" || oe.Want == "" {
				t.Errorf("Validate(%+v) = %#v, want an *OptionError naming the field and what is wanted", o, err)
			}
			if strings.Contains(err.Error(), "loadtest") || strings.Contains(err.Error(), "***") {
				t.Errorf("Validate error %q names the package or shows a secret", err)
			}
		})
	}
}

func TestWait(t *testing.T) {
	r := &runner{o: Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}}
	tests := []struct {
		n          int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 0, time.Second, 2 * time.Second},               // capped
		{99, 0, time.Second, 2 * time.Second},               // no overflow
		{1, 30 * time.Second, time.Second, 2 * time.Second}, // Retry-After capped by MaxBackoff
		{1, time.Second, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := r.wait(tt.n, tt.retryAfter); got < tt.lo || got > tt.hi {
				t.Fatalf("wait(%d, %v) = %v, want within [%v, %v]", tt.n, tt.retryAfter, got, tt.lo, tt.hi)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{"30", 30 * time.Second},
		{"999999", time.Hour},
		{"-1", 0},
		{"soon", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(d)
	if want := (Percentiles{P50: 50, P95: 95, P99: 99, Max: 100}); got != want {
		t.Errorf("percentiles(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := percentiles(nil); got != (Percentiles{}) {
		t.Errorf("percentiles(nil) = %+v, want zero", got)
	}
}

func TestCollectorCountsMessageIDsNotRedeliveries(t *testing.T) {
	c := &Collector{seen: map[string]map[string]time.Time{}, changed: make(chan struct{})}
	msg := func(id, ceID string) *pubsub.Message {
		return &pubsub.Message{ID: id, Attributes: map[string]string{events.AttrID: ceID}}
	}
	c.record(context.Background(), msg("1", "a"))
	c.record(context.Background(), msg("1", "a")) // redelivery
	c.record(context.Background(), msg("2", "b"))
	c.record(context.Background(), msg("3", "b")) // a second publish
	c.record(context.Background(), &pubsub.Message{ID: "4"})
	seen := c.Seen()
	if n := len(seen["a"].Messages); n != 1 {
		t.Errorf("a redelivered message counts as %d messages, want 1", n)
	}
	if n := len(seen["b"].Messages); n != 2 {
		t.Errorf("two publishes of b count as %d messages, want 2", n)
	}
	if m, noID, _ := c.Stats(); m != 5 || noID != 1 {
		t.Errorf("Stats() = %d messages, %d without ce-id; want 5, 1", m, noID)
	}
}

// pubsubServer starts pstest with the test topic and returns it with a
// client.
func pubsubServer(t *testing.T) (*pstest.Server, *pubsub.Client) {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := pubsub.NewClient(context.Background(), testProject, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: testTopic}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// receiver is a small stand-in for geminihook with knobs for misbehaving:
// it verifies v1, dedupes by webhook id and publishes to pstest.
type receiver struct {
	t        *testing.T
	srv      *pstest.Server
	v        *verify.Verifier
	copies   int  // publishes per new delivery; 1 is correct
	noVerify bool // accept anything
	fail     int  // answer 503 (Retry-After: 0) to the first fail attempts of each id
	inFlight time.Duration

	mu       sync.Mutex
	attempts map[string]int
	state    map[string]string
}

func newReceiver(t *testing.T, srv *pstest.Server) *receiver {
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return &receiver{t: t, srv: srv, v: v, copies: 1, attempts: map[string]int{}, state: map[string]string{}}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get(verify.HeaderID)
	if !rc.noVerify {
		msg, err := rc.v.Verify(r.Context(), r.Header, body)
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		id = msg.ID
	}
	rc.mu.Lock()
	rc.attempts[id]++
	n, st := rc.attempts[id], rc.state[id]
	if n <= rc.fail {
		rc.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "later", http.StatusServiceUnavailable)
		return
	}
	switch st {
	case "published":
		rc.mu.Unlock()
		w.Write([]byte(`{"status":"duplicate","id":"` + id + `"}`))
		return
	case "processing":
		rc.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "in flight", http.StatusConflict)
		return
	}
	rc.state[id] = "processing"
	rc.mu.Unlock()
	time.Sleep(rc.inFlight)
	for range rc.copies {
		rc.srv.Publish(testTopic, body, map[string]string{events.AttrID: id})
	}
	rc.mu.Lock()
	rc.state[id] = "published"
	rc.mu.Unlock()
	w.Write([]byte(`{"status":"published","id":"` + id + `"}`))
}

// load runs N deliveries against rc and returns the report; settle is how
// long it waits for missing events.
func load(t *testing.T, rc http.Handler, c *pubsub.Client, o Options, settle time.Duration) Report {
	t.Helper()
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	ctx := context.Background()
	col, err := Subscribe(ctx, c, []string{testTopic}, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := col.Close(); err != nil {
			t.Error(err)
		}
	}()
	o.URL, o.Secret = hs.URL, secret
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = time.Millisecond, 20*time.Millisecond
	}
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range res.Sends {
		if s.Role == RoleOriginal {
			want = append(want, s.ID)
		}
	}
	col.Wait(ctx, want, settle, time.Second)
	return NewReport(res, col.Seen())
}

func TestRunCorrectReceiver(t *testing.T) {
	srv, c := pubsubServer(t)
	rc := newReceiver(t, srv)
	rc.fail = 1 // every id's first attempt is answered 503
	rc.inFlight = 5 * time.Millisecond
	var progress []Progress
	var mu sync.Mutex
	r := load(t, rc, c, Options{N: 120, Concurrency: 8, Duplicates: 0.25, Forged: 0.1,
		Progress: func(p Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }, ProgressEvery: 5 * time.Millisecond}, 10*time.Second)

	if p := r.Problems(); len(p) > 0 {
		t.Errorf("Problems() = %q, want none", p)
	}
	want := Report{Sends: 120, Authentic: 78, DuplicateSends: 30, ForgedSends: 12, Acknowledged: 78, Verified: true, Published: 78}
	got := Report{Sends: r.Sends, Authentic: r.Authentic, DuplicateSends: r.DuplicateSends, ForgedSends: r.ForgedSends,
		Acknowledged: r.Acknowledged, Verified: r.Verified, Published: r.Published,
		Lost: r.Lost, Doubled: r.Doubled, ForgedPublished: r.ForgedPublished, ForgedAccepted: r.ForgedAccepted, LostAtSender: r.LostAtSender}
	if !reportEqual(got, want) {
		t.Errorf("report = %+v, want %+v", got, want)
	}
	if r.Status["401"] != 12 || r.Status["200 published"] != 78 || r.Status["503"] < 78 {
		t.Errorf("status histogram = %v, want 12 × 401, 78 × 200 published, ≥ 78 × 503", r.Status)
	}
	if r.Retries < 78 || r.Attempts != r.Sends+r.Retries {
		t.Errorf("attempts %d, retries %d: want every authentic id retried once at least, attempts = sends + retries", r.Attempts, r.Retries)
	}
	if r.LatencyMillis.P50 <= 0 || r.LatencyMillis.Max < r.LatencyMillis.P99 || r.DeliveriesPerSec <= 0 || r.FirstPassPerSec < r.DeliveriesPerSec {
		t.Errorf("speed figures inconsistent: %+v, %v/s, first pass %v/s", r.LatencyMillis, r.DeliveriesPerSec, r.FirstPassPerSec)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) == 0 {
		t.Error("no progress reported")
	}
	var b strings.Builder
	r.WriteText(&b)
	for _, want := range []string{"78 unique events, 0 doubled", "0 lost", "0 forged published", "12 × 401", "OK: nothing lost"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText lacks %q:\n%s", want, b.String())
		}
	}
}

func reportEqual(a, b Report) bool {
	a.Status, b.Status = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestRunDetectsFaults(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*receiver)
		o      Options
		check  func(Report) bool
		expect string // in Problems
	}{
		{"doubled publish", func(rc *receiver) { rc.copies = 2 }, Options{N: 40, Duplicates: 0.2},
			func(r Report) bool {
				return r.Doubled == 32 && r.ExtraCopies == 32 && r.Lost == 0 && len(r.DoubledIDs) == 20
			},
			"32 deliveries published more than once"},
		{"published nothing", func(rc *receiver) { rc.copies = 0 }, Options{N: 20},
			func(r Report) bool { return r.Lost == 20 && r.Published == 0 && r.Acknowledged == 20 },
			"20 authentic deliveries never published"},
		{"never answers 2xx", func(rc *receiver) { rc.fail = 1000 }, Options{N: 10, MaxAttempts: 3},
			func(r Report) bool { return r.LostAtSender == 10 && r.Attempts == 30 && r.FailedSends == 10 },
			"10 authentic deliveries never answered 2xx"},
		{"accepts forgeries", func(rc *receiver) { rc.noVerify = true }, Options{N: 40, Forged: 0.25},
			func(r Report) bool { return r.ForgedAccepted == 10 && r.ForgedPublished == 10 && r.Lost == 0 },
			"10 forged deliveries published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := pubsubServer(t)
			rc := newReceiver(t, srv)
			tt.edit(rc)
			// Every event that comes arrives within milliseconds on pstest.
			r := load(t, rc, c, tt.o, time.Second)
			if !tt.check(r) {
				t.Errorf("report = %+v", r)
			}
			if p := strings.Join(r.Problems(), "; "); !strings.Contains(p, tt.expect) {
				t.Errorf("Problems() = %q, want it to contain %q", p, tt.expect)
			}
		})
	}
}

func TestRunUnverifiedJudgesAcknowledgementsOnly(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"status":"published"}`))
	}))
	defer hs.Close()
	res, err := Run(context.Background(), Options{URL: hs.URL, Secret: secret, N: 50, Forged: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport(res, nil)
	if r.Verified || r.ForgedAccepted != 5 || r.Acknowledged != 45 || len(r.Problems()) != 0 {
		t.Errorf("unverified report of a bare receiver = %+v, problems %q; want 5 forged accepted and no problem", r, r.Problems())
	}
}

func TestRunInterrupted(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Options{URL: hs.URL, Secret: secret, N: 20})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Run took %v after its context ended", el)
	}
	r := NewReport(res, nil)
	if !r.Interrupted || !strings.Contains(strings.Join(r.Problems(), ";"), "interrupted") {
		t.Errorf("report = %+v, want interrupted", r)
	}
}

func TestProbe(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	if err := Probe(context.Background(), url); err != nil {
		t.Errorf("Probe(live server) = %v", err)
	}
	hs.Close()
	if err := Probe(context.Background(), url); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Probe(closed server) = %v, want ErrUnreachable", err)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "5", "120", "-3", "1e3", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > time.Hour {
			t.Errorf("parseRetryAfter(%q) = %v, want 0 to 1h", s, d)
		}
	})
}
