package geminihook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

// TestLazyMisconfigured: an instance whose configuration is broken answers
// every request 503 with Retry-After and writes one access line per
// request with result=misconfigured (so the request metric and its alerts
// see it), tries the build again only after buildRetry, and serves once a
// build succeeds. A route token in the path is not logged.
func TestLazyMisconfigured(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	var builds atomic.Int32
	broken := true
	l := &lazy{
		build: func(context.Context) (http.Handler, error) {
			builds.Add(1)
			if broken {
				return nil, errors.New("GEMINIHOOK_LEASE: not a duration")
			}
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }), nil
		},
		now: func() time.Time { return now },
		log: slog.New(cloudlog.NewHandler(&logs, &cloudlog.Options{Service: "geminihook"})),
	}
	for range 3 {
		w := httptest.NewRecorder()
		l.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/r/c2VjcmV0LXJvdXRlLXRva2VuLWluLXRoZS1wYXRo", strings.NewReader("{}")))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("misconfigured: %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if n := strings.Count(logs.String(), `"result":"misconfigured"`); n != 3 {
		t.Errorf("%d access lines with result misconfigured, want 3:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "c2VjcmV0LXJvdXRlLXRva2Vu") {
		t.Errorf("the route token reached the log:\n%s", logs.String())
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds within buildRetry, want 1", n)
	}
	broken = false
	now = now.Add(buildRetry)
	w := httptest.NewRecorder()
	l.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	if w.Code != 299 || builds.Load() != 2 {
		t.Errorf("after the fix: %d with %d builds, want the built handler's 299 after a second build", w.Code, builds.Load())
	}
}
