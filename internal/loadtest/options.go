package loadtest

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
)

// Limits of Options.
const (
	MaxN              = 100_000
	MaxConcurrency    = 256
	MaxAttemptsLimit  = 100
	MaxAttemptTimeout = time.Minute
	MaxDeadline       = 30 * time.Minute
	MaxBackoffLimit   = time.Minute
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
	// Secrets are more secrets to sign with besides Secret, one v1 token
	// each, as a sender does during a rotation; optional.
	Secrets []string
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

// Validate checks o as Run would, without sending: nil, or an
// *OptionError wrapping ErrInvalidOptions or ErrNotLoopback.
func Validate(o Options) error {
	_, err := o.withDefaults()
	return err
}

// withDefaults fills the zero fields and checks the limits.
func (o Options) withDefaults() (Options, error) {
	o.N = cmp.Or(o.N, DefaultN)
	o.Concurrency = cmp.Or(o.Concurrency, DefaultConcurrency)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	o.AttemptTimeout = cmp.Or(o.AttemptTimeout, DefaultAttemptTimeout)
	o.Deadline = cmp.Or(o.Deadline, DefaultDeadline)
	o.MinBackoff = cmp.Or(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, DefaultMaxBackoff)
	o.UserAgent = cmp.Or(o.UserAgent, "geminihook-load")
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if len(o.Types) == 0 {
		o.Types = events.DocumentedTypes()
	}
	if o.Body == nil {
		o.Body = MinimalBody
	}
	bad := func(field string, value any, format string, args ...any) (Options, error) {
		return o, &OptionError{Field: field, Value: fmt.Sprint(value), Want: fmt.Sprintf(format, args...), err: ErrInvalidOptions}
	}
	switch {
	case o.N < 1 || o.N > MaxN:
		return bad("N", o.N, "want 1 to %d", MaxN)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return bad("Concurrency", o.Concurrency, "want 1 to %d", MaxConcurrency)
	case !(o.Duplicates >= 0 && o.Duplicates <= 0.9):
		return bad("Duplicates", o.Duplicates, "want a share from 0 to 0.9")
	case !(o.Forged >= 0 && o.Forged <= 0.5):
		return bad("Forged", o.Forged, "want a share from 0 to 0.5")
	case !(o.Rate >= 0 && o.Rate <= 1e6):
		return bad("Rate", o.Rate, "want 0 (no pacing) to 1e6 per second")
	case o.MaxAttempts < 1 || o.MaxAttempts > MaxAttemptsLimit:
		return bad("MaxAttempts", o.MaxAttempts, "want 1 to %d", MaxAttemptsLimit)
	case o.AttemptTimeout < 0 || o.AttemptTimeout > MaxAttemptTimeout:
		return bad("AttemptTimeout", o.AttemptTimeout, "want up to %v", MaxAttemptTimeout)
	case o.Deadline < 0 || o.Deadline > MaxDeadline:
		return bad("Deadline", o.Deadline, "want up to %v", MaxDeadline)
	case o.MinBackoff < 0 || o.MinBackoff > MaxBackoffLimit:
		return bad("MinBackoff", o.MinBackoff, "want 0 to %v", MaxBackoffLimit)
	case o.MaxBackoff < o.MinBackoff || o.MaxBackoff > MaxBackoffLimit:
		return bad("MaxBackoff", o.MaxBackoff, "want from the minimum backoff (%v) to %v", o.MinBackoff, MaxBackoffLimit)
	}
	for i, s := range append([]string{o.Secret}, o.Secrets...) {
		field := "Secret"
		if i > 0 {
			field = fmt.Sprintf("Secrets[%d]", i-1)
		}
		if _, err := verify.ParseSecret(s); err != nil {
			return bad(field, "", "want whsec_ followed by the base64 of %d to %d bytes", verify.MinSecretBytes, verify.MaxSecretBytes)
		}
	}
	if _, _, a := counts(o.N, o.Duplicates, o.Forged); a < 1 {
		return bad("Duplicates", o.Duplicates, "with a forged share of %v, leaves no authentic delivery of %d", o.Forged, o.N)
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
