// Package geminihook receives Gemini API webhooks on Google Cloud: it
// verifies each delivery (Standard Webhooks v1 HMAC, v1a Ed25519, RS256
// JWT), records it once in a Firestore ledger, and publishes a normalized
// job event (CloudEvents on Pub/Sub).
//
// Deployed as a Cloud Function (2nd gen), the entry point is GeminiWebhook
// ([EntryPoint]); the same source also holds GeminiWebhookWatch
// ([WatchEntryPoint]), a private function that Cloud Scheduler calls to log
// the state of the project's Gemini webhooks. init registers them; each
// handler is built from the environment (see [LoadConfig]) on its first
// request, or, for a process deployed as GeminiWebhook (FUNCTION_TARGET),
// in the background as the instance starts, and then warmed up. A broken
// configuration is answered 503 and logged rather than crashing the
// instance. [NewService] is the one composition of the receiver, for the
// function, the local serve command and the tests.
package geminihook

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/route"
)

// EntryPoint is the function's name for functions-framework and for
// Cloud Functions' --entry-point.
const EntryPoint = "GeminiWebhook"

func init() {
	functions.HTTP(EntryPoint, serveLazily)
	functions.HTTP(WatchEntryPoint, serveWatchLazily)
	if servesEntryPoint(os.Getenv) {
		go function.warm(context.Background())
	}
}

// lazy builds the production [Service] on first use. A failed build is
// answered 503 and logged, and tried again after buildRetry: a
// configuration fixed by a new revision needs no code change, and a
// transient failure heals by itself.
type lazy struct {
	build func(context.Context) (http.Handler, error)
	now   func() time.Time
	log   *slog.Logger

	requests atomic.Int64 // requests served so far (warm skips its warm-up after one)

	mu      sync.Mutex
	h       http.Handler
	err     error
	errTime time.Time
}

func (l *lazy) handler(ctx context.Context) (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	if l.err != nil && l.now().Sub(l.errTime) < buildRetry {
		return nil, l.err
	}
	l.h, l.err = l.build(ctx)
	if l.err != nil {
		l.h, l.errTime = nil, l.now()
		l.log.ErrorContext(ctx, "geminihook cannot start; answering 503 until this is fixed", "error", l.err.Error())
	}
	return l.h, l.err
}

// warm builds the handler and warms it up ([Service.WarmUp]) while the
// instance starts, so that the first delivery finds the clients built, the
// keys loaded and the connections open, or waits under l.mu for the build
// already under way instead of starting its own. init starts it in a
// goroutine when the process is the deployed GeminiWebhook: init itself
// calls nothing and never waits. When a request has come by the time the
// build is done, there is no warm-up. A failed build is logged and left to
// the requests to retry, as when a request builds; a warm-up that fails
// leaves the rest to the first delivery, which meets it as it would have
// anyway.
func (l *lazy) warm(ctx context.Context) {
	h, err := l.handler(ctx)
	if err != nil {
		return // logged by handler
	}
	if l.requests.Load() > 0 {
		// A delivery came before the build was done: it opens what it
		// needs itself, and a warm-up beside it would only compete with
		// it for the CPU and the backends.
		return
	}
	if w, ok := h.(interface{ WarmUp(context.Context) error }); ok {
		if err := w.WarmUp(ctx); err != nil {
			l.log.WarnContext(ctx, "warm-up incomplete; the first deliveries open what it could not", "error", err.Error())
		}
	}
}

func (l *lazy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.requests.Add(1)
	start := l.now()
	h, err := l.handler(r.Context())
	if err != nil {
		// One access line per request, as the handler writes, so that the
		// request metric and its alerts see a broken instance.
		p := phrase(http.StatusServiceUnavailable, ResultMisconfigured)
		w.Header().Set("Retry-After", retryAfter503)
		http.Error(w, p, http.StatusServiceUnavailable)
		l.log.LogAttrs(r.Context(), slog.LevelError, "delivery",
			cloudlog.HTTPRequest(redacted(r, route.Path{}), http.StatusServiceUnavailable, int64(len(p)+1), l.now().Sub(start)),
			cloudlog.Label("result", ResultMisconfigured))
		return
	}
	h.ServeHTTP(w, r)
}

var function = &lazy{
	build: func(ctx context.Context) (http.Handler, error) {
		// The clients outlive the request that happened to build them.
		s, err := NewFromEnv(context.WithoutCancel(ctx), os.Getenv, os.Stdout)
		if err != nil {
			return nil, err // not s: a nil *Service is a non-nil http.Handler
		}
		return s, nil
	},
	now: time.Now,
	log: slog.New(cloudlog.NewHandler(os.Stdout, &cloudlog.Options{Service: "geminihook"})),
}

func serveLazily(w http.ResponseWriter, r *http.Request) { function.ServeHTTP(w, r) }
