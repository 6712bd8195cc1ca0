package geminihook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
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

// warmHandler is a built handler with a WarmUp that blocks until released.
type warmHandler struct {
	warmed  atomic.Int32
	release chan struct{}
	err     error
}

func (h *warmHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }

func (h *warmHandler) WarmUp(context.Context) error {
	h.warmed.Add(1)
	<-h.release
	return h.err
}

// TestLazyWarm: the background build of a starting instance builds once
// and then warms the handler up (a failed warm-up is a warning, not a
// broken instance); a request that arrives during the build waits for it
// instead of building again, and then there is no warm-up to compete
// with it.
func TestLazyWarm(t *testing.T) {
	for _, requestDuringBuild := range []bool{false, true} {
		t.Run(fmt.Sprintf("request during the build=%v", requestDuringBuild), func(t *testing.T) {
			var logs cloudlogtest.Buffer
			building := make(chan struct{})
			proceed := make(chan struct{})
			h := &warmHandler{release: make(chan struct{}), err: errors.New("pub/sub unavailable")}
			close(h.release)
			var builds atomic.Int32
			l := &lazy{
				build: func(context.Context) (http.Handler, error) {
					builds.Add(1)
					close(building)
					<-proceed
					return h, nil
				},
				now: time.Now,
				log: slog.New(cloudlog.NewHandler(&logs, &cloudlog.Options{Service: "geminihook"})),
			}
			warmed := make(chan struct{})
			go func() { l.warm(context.Background()); close(warmed) }()
			<-building
			served := make(chan int, 1)
			if requestDuringBuild {
				go func() {
					w := httptest.NewRecorder()
					l.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
					served <- w.Code
				}()
				for l.requests.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			close(proceed)
			<-warmed
			if requestDuringBuild {
				if code := <-served; code != 299 {
					t.Errorf("request during the build: %d, want the built handler's 299", code)
				}
			}
			if n := builds.Load(); n != 1 {
				t.Errorf("%d builds, want 1", n)
			}
			want := int32(1)
			if requestDuringBuild {
				want = 0
			}
			if n := h.warmed.Load(); n != want {
				t.Errorf("WarmUp ran %d times, want %d", n, want)
			}
			out := logs.String()
			if warned := strings.Contains(out, `"severity":"WARNING"`) && strings.Contains(out, "pub/sub unavailable"); warned != (want == 1) {
				t.Errorf("log:\n%s\nwant a warning naming the failed warm-up: %v", out, want == 1)
			}
		})
	}
}

// Only a process deployed as GeminiWebhook starts its build with the
// instance: not the watcher, not serve or the tests (no FUNCTION_TARGET).
func TestServesEntryPoint(t *testing.T) {
	for target, want := range map[string]bool{EntryPoint: true, WatchEntryPoint: false, "": false, "geminiwebhook": false} {
		getenv := func(k string) string {
			if k == "FUNCTION_TARGET" {
				return target
			}
			return ""
		}
		if got := servesEntryPoint(getenv); got != want {
			t.Errorf("servesEntryPoint(FUNCTION_TARGET=%q) = %v, want %v", target, got, want)
		}
	}
}
