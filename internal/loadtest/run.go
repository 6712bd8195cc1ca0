package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihook/geminihook/verify/verifytest"
)

const (
	// maxAnswerBytes bounds how much of an answer is read.
	maxAnswerBytes = 4 << 10
	// staleBy is how old the timestamp of a stale forgery is: far outside
	// any sensible tolerance (Standard Webhooks: 5 minutes).
	staleBy = time.Hour
)

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
// an error (an *OptionError) only for options it refuses before sending; a
// receiver that answers badly, or nothing at all, shows in the Result. When ctx ends, sends stop at their next attempt and the
// Result has Interrupted set.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{
		o:      o,
		client: o.Client,
		good:   &verifytest.Signer{Secrets: append([]string{o.Secret}, o.Secrets...)},
		wrong:  &verifytest.Signer{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(rand.Text()))}},
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
	w = min(max(w, retryAfter), r.o.MaxBackoff)
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
	maps.Copy(req.Header, h)
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
