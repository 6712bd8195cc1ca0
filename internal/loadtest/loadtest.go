// Package loadtest drives a geminihook receiver the way Gemini would, at
// volume, and checks what reached Pub/Sub: the engine of `geminihook load`
// and of the fault suite in test/fault.
//
// Run sends Options.N deliveries signed with the v1 scheme (HMAC-SHA256),
// the nine documented event types round robin. A share of them
// (Options.Duplicates) are extra sends of an authentic delivery with the
// same webhook-id and body, started at the same moment as it, as a sender
// racing its own retry would; a share (Options.Forged) are forgeries, cycling
// through a wrong secret, a body changed after signing and a correctly
// signed but stale timestamp, each with a webhook-id of its own. Every
// send is retried on 408, 409, 425, 429, 5xx and transport errors with
// exponential backoff (Retry-After honoured up to Options.MaxBackoff), each
// attempt re-signed with the current time, until it gets a 2xx, a final
// 4xx, Options.MaxAttempts attempts or Options.Deadline.
//
// A Collector, subscribed to the receiver's topics before the first send,
// counts what was published by CloudEvents id (ce-id) and Pub/Sub message
// id: a second message id for one ce-id is a doubled publish, while a
// redelivery of one message id is Pub/Sub's at-least-once and not the
// receiver's doing. NewReport joins the two into the figures that matter:
// lost, doubled and forged published, which must all be zero.
//
// Everything is bounded: N, concurrency, attempts, per-attempt timeout,
// per-delivery deadline, and the receiver must be on a loopback address.
package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

var (
	// ErrInvalidOptions means Options (or SubscribeOptions) break a limit
	// or are missing a required field; the message names which.
	ErrInvalidOptions = errors.New("loadtest: invalid options")
	// ErrNotLoopback means the receiver URL or the Pub/Sub address is not
	// on a loopback address: this package only loads local servers.
	ErrNotLoopback = errors.New("loadtest: not a loopback address")
	// ErrUnreachable means nothing accepted a TCP connection at the
	// receiver's address before the first send.
	ErrUnreachable = errors.New("loadtest: receiver unreachable")
	// ErrPubSub means a Pub/Sub call of the Collector failed (creating or
	// deleting a subscription, receiving); it wraps the cause.
	ErrPubSub = errors.New("loadtest: pub/sub")
	// ErrTopicNotFound means Subscribe found no topic of that name.
	ErrTopicNotFound = errors.New("loadtest: topic not found")
)

// Limits of Options.
const (
	MaxN              = 100_000
	MaxConcurrency    = 256
	MaxAttemptsLimit  = 100
	MaxAttemptTimeout = time.Minute
	MaxDeadline       = 30 * time.Minute
	MaxBackoffLimit   = time.Minute
	// maxAnswerBytes bounds how much of an answer is read.
	maxAnswerBytes = 4 << 10
	// staleBy is how old the timestamp of a stale forgery is: far outside
	// any sensible tolerance (Standard Webhooks: 5 minutes).
	staleBy = time.Hour
)

// Defaults of Options.
const (
	DefaultN              = 1000
	DefaultConcurrency    = 20
	DefaultMaxAttempts    = 12
	DefaultAttemptTimeout = 10 * time.Second
	DefaultDeadline       = 2 * time.Minute
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultProgressEvery  = time.Second
)

// Options configure Run. URL and Secret are required; every other zero
// field takes its default. Duplicates and Forged are shares of N in [0, 1)
// whose sum leaves at least one authentic delivery.
type Options struct {
	// URL is the receiver; its host must be a loopback address.
	URL string
	// Secret is the whsec_ secret the receiver verifies v1 signatures with.
	Secret string
	// N is the number of sends, duplicates and forgeries included;
	// default 1000, at most MaxN.
	N int
	// Concurrency bounds the HTTP attempts in flight; default 20, at most
	// MaxConcurrency. A send waiting out a backoff holds no slot.
	Concurrency int
	// Duplicates is the share of N re-sent with the webhook-id and body of
	// an authentic delivery, started together with it; at most 0.9.
	Duplicates float64
	// Forged is the share of N that is forged or stale; at most 0.5.
	Forged float64
	// Rate paces the start of deliveries (an authentic one and its
	// duplicates count as one start) per second; 0 means no pacing.
	Rate float64
	// MaxAttempts bounds the attempts of one send; default 12, at most
	// MaxAttemptsLimit.
	MaxAttempts int
	// AttemptTimeout bounds one HTTP attempt; default 10 s, at most
	// MaxAttemptTimeout.
	AttemptTimeout time.Duration
	// Deadline bounds one send from its first attempt: no retry starts
	// after it; default 2 min, at most MaxDeadline.
	Deadline time.Duration
	// MinBackoff is the wait before the first retry, doubled per retry up
	// to MaxBackoff; defaults 250 ms and 5 s. A Retry-After answer header
	// lengthens the wait up to MaxBackoff. Waits are jittered down by up
	// to a half.
	MinBackoff, MaxBackoff time.Duration
	// Types are the event types sent round robin; default the nine
	// documented Gemini types.
	Types []string
	// Body builds the body of a delivery of type typ at now; default a
	// minimal envelope with a fresh job id. It must return a new body per
	// call.
	Body func(typ string, now time.Time) []byte
	// Client sends the attempts; default a client with a keep-alive pool
	// of Concurrency connections and no proxy.
	Client *http.Client
	// UserAgent is sent with every attempt; default "geminihook-load".
	UserAgent string
	// Progress, when not nil, is called every ProgressEvery (default 1 s)
	// from a goroutine of Run, and not after Run returns.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Role is what a send is for.
type Role string

// The roles of a send.
const (
	RoleOriginal  Role = "original"  // the first send of an authentic delivery
	RoleDuplicate Role = "duplicate" // another send of an authentic delivery
	RoleForged    Role = "forged"    // must never be published
)

// The kinds of forgery, cycled through by the forged sends.
const (
	ForgeryWrongSecret = "wrong_secret"  // signed with another secret
	ForgeryTampered    = "tampered_body" // body changed after signing
	ForgeryStale       = "stale"         // right secret, timestamp an hour old
)

var forgeries = []string{ForgeryWrongSecret, ForgeryTampered, ForgeryStale}

// Outcome is how a send ended.
type Outcome string

// The outcomes of a send.
const (
	OutcomeOK          Outcome = "ok"          // a 2xx answer
	OutcomeRefused     Outcome = "refused"     // a final 4xx (other than 408, 409, 425, 429)
	OutcomeGaveUp      Outcome = "gave_up"     // MaxAttempts or Deadline reached on retryable answers
	OutcomeInterrupted Outcome = "interrupted" // Run's context ended first
)

// Attempt is one HTTP attempt of a send.
type Attempt struct {
	Start   time.Time
	Latency time.Duration // until the answer was read, or the error
	Status  int           // 0 when no answer came
	Answer  string        // "published" or "duplicate" for such a 200, else ""
	Err     error         // transport error or timeout
}

// Label is the key of Attempt in the status histogram: "200 published",
// "200 duplicate", the status code, or "error: …" for a transport failure.
func (a Attempt) Label() string {
	switch {
	case a.Err != nil && isRefused(a.Err):
		return "error: connection refused"
	case a.Err != nil && isTimeout(a.Err):
		return "error: timeout"
	case a.Err != nil:
		return "error: transport"
	case a.Status == http.StatusOK && a.Answer != "":
		return "200 " + a.Answer
	}
	return strconv.Itoa(a.Status)
}

// Send is one send and its attempts.
type Send struct {
	ID       string // webhook-id
	Type     string // envelope type
	Role     Role
	Forgery  string // one of the Forgery… constants for RoleForged, else ""
	Attempts []Attempt
	Outcome  Outcome
}

// First2xx returns the start time of the first attempt answered 2xx.
func (s *Send) First2xx() (time.Time, bool) {
	for _, a := range s.Attempts {
		if a.Err == nil && a.Status >= 200 && a.Status < 300 {
			return a.Start, true
		}
	}
	return time.Time{}, false
}

// Result is what Run did.
type Result struct {
	Sends      []*Send
	Start, End time.Time // first attempt, end of the last send
	// Interrupted is true when Run's context ended before every send did.
	Interrupted bool
}

// Progress is a snapshot of a running Run.
type Progress struct {
	Elapsed   time.Duration
	Done, N   int // sends finished, sends in total
	OK        int // sends ended with a 2xx
	Refused   int // sends ended with a final 4xx (forgeries should)
	GaveUp    int // sends ended without either
	Attempts  int
	InFlight  int // HTTP attempts in flight
	Backoff   int // sends waiting to retry
	Retryable int // attempts answered 408/409/425/429/5xx or failed in transport
}

// String is one progress line.
func (p Progress) String() string {
	return fmt.Sprintf("%5.1fs  %d/%d sends done (%d 2xx, %d refused, %d gave up); %d attempts, %d in flight, %d waiting to retry, %d retryable answers",
		p.Elapsed.Seconds(), p.Done, p.N, p.OK, p.Refused, p.GaveUp, p.Attempts, p.InFlight, p.Backoff, p.Retryable)
}

// Validate checks o as Run would, without sending: nil, or an error
// wrapping ErrInvalidOptions or ErrNotLoopback.
func Validate(o Options) error {
	_, err := o.withDefaults()
	return err
}

// withDefaults fills the zero fields and checks the limits.
func (o Options) withDefaults() (Options, error) {
	if o.N == 0 {
		o.N = DefaultN
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Deadline == 0 {
		o.Deadline = DefaultDeadline
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if len(o.Types) == 0 {
		o.Types = events.DocumentedTypes()
	}
	if o.Body == nil {
		o.Body = MinimalBody
	}
	if o.UserAgent == "" {
		o.UserAgent = "geminihook-load"
	}
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	switch {
	case o.N < 1 || o.N > MaxN:
		return bad("N %d: want 1 to %d", o.N, MaxN)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return bad("concurrency %d: want 1 to %d", o.Concurrency, MaxConcurrency)
	case !(o.Duplicates >= 0 && o.Duplicates <= 0.9):
		return bad("duplicates %v: want a share from 0 to 0.9", o.Duplicates)
	case !(o.Forged >= 0 && o.Forged <= 0.5):
		return bad("forged %v: want a share from 0 to 0.5", o.Forged)
	case !(o.Rate >= 0 && o.Rate <= 1e6):
		return bad("rate %v: want 0 (no pacing) to 1e6 per second", o.Rate)
	case o.MaxAttempts < 1 || o.MaxAttempts > MaxAttemptsLimit:
		return bad("max attempts %d: want 1 to %d", o.MaxAttempts, MaxAttemptsLimit)
	case o.AttemptTimeout < 0 || o.AttemptTimeout > MaxAttemptTimeout:
		return bad("attempt timeout %v: want up to %v", o.AttemptTimeout, MaxAttemptTimeout)
	case o.Deadline < 0 || o.Deadline > MaxDeadline:
		return bad("deadline %v: want up to %v", o.Deadline, MaxDeadline)
	case o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff || o.MaxBackoff > MaxBackoffLimit:
		return bad("backoff %v to %v: want 0 ≤ min ≤ max ≤ %v", o.MinBackoff, o.MaxBackoff, MaxBackoffLimit)
	}
	if _, err := verify.ParseSecret(o.Secret); err != nil {
		return bad("secret: %v: want whsec_ followed by base64", err)
	}
	if _, _, a := counts(o.N, o.Duplicates, o.Forged); a < 1 {
		return bad("duplicates %v and forged %v leave no authentic delivery of %d", o.Duplicates, o.Forged, o.N)
	}
	if err := CheckLoopbackURL(o.URL); err != nil {
		return o, err
	}
	return o, nil
}

// counts splits n into duplicate, forged and authentic sends.
func counts(n int, dup, forged float64) (d, f, a int) {
	d = int(math.Round(float64(n) * dup))
	f = int(math.Round(float64(n) * forged))
	return d, f, n - d - f
}

// CheckLoopbackURL returns nil when u is an absolute http URL whose host
// is localhost or a loopback IP; else an error wrapping ErrInvalidOptions
// (malformed) or ErrNotLoopback.
func CheckLoopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%w: URL %q: want an absolute http URL such as http://127.0.0.1:8080/", ErrInvalidOptions, u)
	}
	if !IsLoopbackHost(p.Hostname()) {
		return fmt.Errorf("%w: %s is not a loopback host (127.0.0.0/8, ::1, localhost)", ErrNotLoopback, p.Hostname())
	}
	return nil
}

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Probe dials the receiver's host:port once and returns ErrUnreachable
// (wrapping the dial error) when nothing accepts the connection.
func Probe(ctx context.Context, rawURL string) error {
	p, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: URL %q: %v", ErrInvalidOptions, rawURL, err)
	}
	host := p.Host
	if p.Port() == "" {
		port := "80"
		if p.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, host, err)
	}
	c.Close()
	return nil
}

// MinimalBody is the default Options.Body: Gemini's thin envelope with a
// fresh job id and nothing else in data.
func MinimalBody(typ string, now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{ // strings only: cannot fail
		"type": typ, "version": "v1", "timestamp": now.UTC().Format(time.RFC3339),
		"data": map[string]string{"id": "jobs/" + token(12)},
	})
	return b
}

func token(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// job is one send to make: its delivery and how to sign it.
type job struct {
	send *Send
	body []byte
}

// plan builds the sends of o in order: each authentic delivery followed by
// its duplicates (they start together), forgeries spread evenly between.
// The groups are what the pacing counts.
func plan(o Options) (sends []*Send, groups [][]job) {
	d, f, a := counts(o.N, o.Duplicates, o.Forged)
	now := time.Now()
	dupsOf := make([]int, a)
	for j := range d {
		dupsOf[j*a/d]++
	}
	forgedAfter := make([]int, a)
	for k := range f {
		forgedAfter[k*a/f]++
	}
	ti, fi := 0, 0
	nextType := func() string { t := o.Types[ti%len(o.Types)]; ti++; return t }
	add := func(g []job, s *Send, body []byte) []job {
		sends = append(sends, s)
		return append(g, job{send: s, body: body})
	}
	for i := range a {
		typ := nextType()
		id := verifytest.NewWebhookID()
		body := o.Body(typ, now)
		g := add(nil, &Send{ID: id, Type: typ, Role: RoleOriginal}, body)
		for range dupsOf[i] {
			g = add(g, &Send{ID: id, Type: typ, Role: RoleDuplicate}, body)
		}
		groups = append(groups, g)
		for range forgedAfter[i] {
			typ := nextType()
			s := &Send{ID: verifytest.NewWebhookID(), Type: typ, Role: RoleForged, Forgery: forgeries[fi%len(forgeries)]}
			fi++
			groups = append(groups, add(nil, s, o.Body(typ, now)))
		}
	}
	return sends, groups
}

// runner is one Run in progress.
type runner struct {
	o      Options
	client *http.Client
	good   *verifytest.Signer
	wrong  *verifytest.Signer
	slots  chan struct{} // one per HTTP attempt in flight

	attempts, inFlight, backoff, retryable atomic.Int64
	done, ok, refused                      atomic.Int64
}

// Run sends the deliveries of o and returns what each send got. It returns
// an error (ErrInvalidOptions, ErrNotLoopback) only for options it refuses
// before sending; a receiver that answers badly, or nothing at all, shows
// in the Result. When ctx ends, sends stop at their next attempt and the
// Result has Interrupted set.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{
		o:      o,
		client: o.Client,
		good:   &verifytest.Signer{Secrets: []string{o.Secret}},
		wrong:  &verifytest.Signer{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(token(24)))}},
		slots:  make(chan struct{}, o.Concurrency),
	}
	if r.client == nil {
		tr := &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        o.Concurrency,
			MaxIdleConnsPerHost: o.Concurrency,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		r.client = &http.Client{Transport: tr}
	}
	sends, groups := plan(o)
	res := &Result{Sends: sends, Start: time.Now()}

	stopProgress := r.progress(res.Start, len(sends))
	// Sends are goroutines; waiting ones hold no attempt slot. Bound them
	// so that a receiver that answers nothing but 503 cannot make Run hold
	// every send at once.
	pending := make(chan struct{}, min(len(sends), 16*o.Concurrency+256))
	var wg sync.WaitGroup
	var tick *time.Ticker
	if o.Rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer tick.Stop()
	}
feed:
	for i, g := range groups {
		if tick != nil && i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break feed
			}
		}
		for _, j := range g {
			select {
			case pending <- struct{}{}:
			case <-ctx.Done():
				break feed
			}
			wg.Go(func() {
				defer func() { <-pending }()
				r.send(ctx, j)
			})
		}
	}
	wg.Wait()
	stopProgress()
	res.End = time.Now()
	for _, s := range sends {
		if s.Outcome == "" {
			s.Outcome = OutcomeInterrupted
		}
		if s.Outcome == OutcomeInterrupted {
			res.Interrupted = true
		}
	}
	return res, nil
}

// progress calls o.Progress every ProgressEvery until the returned stop
// function is called; stop waits for a call in progress.
func (r *runner) progress(start time.Time, n int) (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				r.o.Progress(Progress{
					Elapsed: time.Since(start), N: n,
					Done: int(r.done.Load()), OK: int(r.ok.Load()), Refused: int(r.refused.Load()),
					GaveUp:   int(r.done.Load() - r.ok.Load() - r.refused.Load()),
					Attempts: int(r.attempts.Load()), InFlight: int(r.inFlight.Load()),
					Backoff: int(r.backoff.Load()), Retryable: int(r.retryable.Load()),
				})
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// send runs the attempts of one send to its outcome.
func (r *runner) send(ctx context.Context, j job) {
	s := j.send
	defer func() {
		switch s.Outcome {
		case OutcomeOK:
			r.ok.Add(1)
		case OutcomeRefused:
			r.refused.Add(1)
		}
		r.done.Add(1)
	}()
	var deadline time.Time
	for n := 1; ; n++ {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			s.Outcome = OutcomeInterrupted
			return
		}
		a, retryAfter := r.attempt(ctx, j)
		<-r.slots
		s.Attempts = append(s.Attempts, a)
		if n == 1 {
			deadline = a.Start.Add(r.o.Deadline)
		}
		switch {
		case a.Err == nil && a.Status >= 200 && a.Status < 300:
			s.Outcome = OutcomeOK
			return
		case ctx.Err() != nil:
			s.Outcome = OutcomeInterrupted
			return
		case a.Err == nil && !retryable(a.Status):
			s.Outcome = OutcomeRefused
			return
		}
		r.retryable.Add(1)
		wait := r.wait(n, retryAfter)
		if n >= r.o.MaxAttempts || time.Now().Add(wait).After(deadline) {
			s.Outcome = OutcomeGaveUp
			return
		}
		r.backoff.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		r.backoff.Add(-1)
	}
}

// retryable reports whether Gemini would retry an answer with status.
func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// wait is the backoff before retry n+1: MinBackoff·2^(n-1), at least
// Retry-After, at most MaxBackoff, jittered down by up to a half.
func (r *runner) wait(n int, retryAfter time.Duration) time.Duration {
	w := r.o.MinBackoff << min(n-1, 30)
	if w <= 0 || w > r.o.MaxBackoff {
		w = r.o.MaxBackoff
	}
	w = max(w, retryAfter)
	w = min(w, r.o.MaxBackoff)
	if w <= 0 {
		return 0
	}
	return w/2 + mrand.N(w/2+1)
}

// attempt makes one signed POST of j and returns it with the Retry-After
// of the answer (0 when absent).
func (r *runner) attempt(ctx context.Context, j job) (Attempt, time.Duration) {
	r.attempts.Add(1)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	s := j.send
	now := time.Now()
	body := j.body
	var h http.Header
	switch s.Forgery {
	case "":
		h = r.good.V1(s.ID, now, body)
	case ForgeryWrongSecret:
		h = r.wrong.V1(s.ID, now, body)
	case ForgeryTampered:
		h = r.good.V1(s.ID, now, body)
		body = append(bytes.Clone(body), ' ')
	case ForgeryStale:
		h = r.good.V1(s.ID, now.Add(-staleBy), body)
	}
	actx, cancel := context.WithTimeout(ctx, r.o.AttemptTimeout)
	defer cancel()
	a := Attempt{Start: now}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, r.o.URL, bytes.NewReader(body))
	if err != nil {
		a.Err = err
		return a, 0
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", r.o.UserAgent)
	resp, err := r.client.Do(req)
	if err != nil {
		a.Latency, a.Err = time.Since(now), err
		return a, 0
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	resp.Body.Close()
	a.Latency, a.Status = time.Since(now), resp.StatusCode
	if err != nil && resp.StatusCode == http.StatusOK {
		a.Err = err // a 200 whose answer was cut off is no acknowledgement
		a.Status = 0
		return a, 0
	}
	if resp.StatusCode == http.StatusOK {
		var ans struct{ Status string }
		if json.Unmarshal(b, &ans) == nil && (ans.Status == "published" || ans.Status == "duplicate") {
			a.Answer = ans.Status
		}
	}
	return a, parseRetryAfter(resp.Header.Get("Retry-After"), now)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
