package geminihook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/gemini"
	"github.com/geminihook/geminihook/internal/gemini/geminitest"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
)

const (
	watchKey    = "AIzaWatchTestKey-abcdefghijklmnopqrstuvwx"
	watchSecret = "projects/watch-project/secrets/gemini-api-key"
)

// syncLog is the watcher's log, read as watchLines.
type syncLog struct{ cloudlogtest.Buffer }

// watchLine is one parsed log line of the watcher.
type watchLine struct {
	severity, message, id, state string
}

func (l *syncLog) lines(t *testing.T) []watchLine {
	t.Helper()
	var out []watchLine
	for _, s := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if s == "" {
			continue
		}
		var m struct {
			Severity string            `json:"severity"`
			Message  string            `json:"message"`
			Labels   map[string]string `json:"logging.googleapis.com/labels"`
		}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", s)
		}
		out = append(out, watchLine{m.Severity, m.Message, m.Labels[WatchLabelID], m.Labels[WatchLabelState]})
	}
	return out
}

type watchFixture struct {
	fake *geminitest.Server
	sm   *secretstest.Server
	log  *syncLog
}

func newWatchFixture(t *testing.T) *watchFixture {
	t.Helper()
	f := &watchFixture{fake: geminitest.NewServer(t, watchKey), sm: secretstest.NewServer(t), log: &syncLog{}}
	f.sm.AddVersion(watchSecret, []byte("an old key"))
	f.sm.AddVersion(watchSecret, []byte(watchKey+"\n")) // the latest version counts
	return f
}

func (f *watchFixture) watcher(t *testing.T, auto bool) *Watcher {
	t.Helper()
	wt, err := NewWatcher(WatchConfig{ProjectID: "watch-project", APIKeySecret: watchSecret, AutoReenable: auto}, WatchParts{
		SecretManager: f.sm.Client(),
		API:           gemini.Options{BaseURL: f.fake.URL, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Logger:        NewLogger(f.log, Config{ProjectID: "watch-project"}),
		SecretTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return wt
}

func serveWatch(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), watchKey) {
		t.Error("the answer holds the API key")
	}
	return rec.Code, body
}

// TestWatcherLogsEveryState: one "webhook state" line per webhook with its
// id and state as labels (WARNING when not enabled), a 200 summary, and
// without auto re-enable nothing is changed.
func TestWatcherLogsEveryState(t *testing.T) {
	f := newWatchFixture(t)
	ids := map[string]string{}
	for _, st := range []string{gemini.StateEnabled, gemini.StateDisabledFailed, gemini.StateDisabled} {
		id := f.fake.AddWebhook("https://hooks.example.test/"+st, []string{"batch.succeeded"}, "")
		f.fake.SetState(id, st)
		ids[id] = st
	}
	code, body := serveWatch(t, f.watcher(t, false))
	if code != http.StatusOK || body["webhooks"] != 3.0 || body["auto_reenable"] != false || body["reenabled"] != nil {
		t.Fatalf("answer %d %v", code, body)
	}
	lines := f.log.lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want one per webhook:\n%s", len(lines), f.log)
	}
	for _, l := range lines {
		want, ok := ids[l.id]
		wantSev := "INFO"
		if want != gemini.StateEnabled {
			wantSev = "WARNING"
		}
		if !ok || l.message != WatchMessageState || l.state != want || l.severity != wantSev {
			t.Errorf("log line %+v; want message %q, a known webhook_id and its webhook_state %q at %s", l, WatchMessageState, want, wantSev)
		}
		delete(ids, l.id)
	}
	for id, st := range ids {
		if w, _ := f.fake.Webhook(id); w.State != st {
			t.Errorf("webhook %s changed from %s to %s without auto re-enable", id, st, w.State)
		}
	}
	if strings.Contains(f.log.String(), watchKey) {
		t.Error("the log holds the API key")
	}
}

// TestWatcherReenables: with auto re-enable, a webhook Gemini disabled is
// enabled again and a line says so; one its owner disabled is left alone.
func TestWatcherReenables(t *testing.T) {
	f := newWatchFixture(t)
	failed := f.fake.AddWebhook("https://hooks.example.test/a", []string{"batch.failed"}, "")
	f.fake.SetState(failed, gemini.StateDisabledFailed)
	owner := f.fake.AddWebhook("https://hooks.example.test/b", []string{"batch.failed"}, "")
	f.fake.SetState(owner, gemini.StateDisabled)
	ok := f.fake.AddWebhook("https://hooks.example.test/c", []string{"batch.failed"}, "")

	code, body := serveWatch(t, f.watcher(t, true))
	if code != http.StatusOK || body["auto_reenable"] != true {
		t.Fatalf("answer %d %v", code, body)
	}
	if re, _ := body["reenabled"].([]any); len(re) != 1 || re[0] != failed {
		t.Errorf("reenabled = %v, want [%s]", body["reenabled"], failed)
	}
	if w, _ := f.fake.Webhook(failed); w.State != gemini.StateEnabled {
		t.Errorf("webhook disabled by Gemini is %s, want enabled", w.State)
	}
	if w, _ := f.fake.Webhook(owner); w.State != gemini.StateDisabled {
		t.Errorf("webhook disabled by its owner is %s, want it left disabled", w.State)
	}
	var states, reenabled []watchLine
	for _, l := range f.log.lines(t) {
		switch l.message {
		case WatchMessageState:
			states = append(states, l)
		case WatchMessageReenabled:
			reenabled = append(reenabled, l)
		}
	}
	if len(states) != 3 {
		t.Errorf("%d state lines, want 3", len(states))
	}
	if len(reenabled) != 1 || reenabled[0].id != failed || reenabled[0].state != gemini.StateEnabled {
		t.Errorf("re-enable lines %+v, want one for %s with state enabled:\n%s", reenabled, failed, f.log)
	}
	_ = ok

	// The next run sees every webhook but the owner's enabled, and
	// re-enables nothing.
	f.log = &syncLog{}
	code, body = serveWatch(t, f.watcher(t, true))
	if code != http.StatusOK || body["reenabled"] != nil {
		t.Errorf("second run: %d %v", code, body)
	}
}

// TestWatcherFailures: Secret Manager or the API failing is a 503 with a
// JSON error, logged; the key never appears.
func TestWatcherFailures(t *testing.T) {
	t.Run("secret manager down", func(t *testing.T) {
		f := newWatchFixture(t)
		f.sm.SetDown(true)
		code, body := serveWatch(t, f.watcher(t, false))
		if code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), watchSecret) {
			t.Errorf("answer %d %v, want 503 naming the secret", code, body)
		}
		if !strings.Contains(f.log.String(), "webhook watch failed") {
			t.Errorf("no error line:\n%s", f.log)
		}
	})
	t.Run("no such secret", func(t *testing.T) {
		f := newWatchFixture(t)
		wt := f.watcher(t, false)
		wt.cfg.APIKeySecret = "projects/watch-project/secrets/missing"
		if code, _ := serveWatch(t, wt); code != http.StatusServiceUnavailable {
			t.Errorf("answer %d, want 503", code)
		}
	})
	t.Run("api 500", func(t *testing.T) {
		f := newWatchFixture(t)
		f.fake.Fail("list", 100, 500, "")
		code, body := serveWatch(t, f.watcher(t, false))
		if code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), "HTTP 500") {
			t.Errorf("answer %d %v, want 503", code, body)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		f := newWatchFixture(t)
		f.sm.AddVersion(watchSecret, []byte("AIzaNotTheKey"))
		if code, body := serveWatch(t, f.watcher(t, false)); code != http.StatusServiceUnavailable {
			t.Errorf("answer %d %v, want 503", code, body)
		}
	})
	t.Run("429 then success", func(t *testing.T) {
		f := newWatchFixture(t)
		f.fake.AddWebhook("https://hooks.example.test/", []string{"batch.failed"}, "")
		f.fake.Fail("list", 2, 429, "")
		if code, body := serveWatch(t, f.watcher(t, false)); code != http.StatusOK || body["webhooks"] != 1.0 {
			t.Errorf("answer %d %v, want 200 after the retries", code, body)
		}
	})
	t.Run("re-enable fails", func(t *testing.T) {
		f := newWatchFixture(t)
		id := f.fake.AddWebhook("https://hooks.example.test/", []string{"batch.failed"}, "")
		f.fake.SetState(id, gemini.StateDisabledFailed)
		f.fake.Fail("update", 100, 403, "")
		code, body := serveWatch(t, f.watcher(t, true))
		if code != http.StatusServiceUnavailable || body["webhooks"] != 1.0 {
			t.Errorf("answer %d %v, want 503 with the summary", code, body)
		}
	})
	t.Run("method", func(t *testing.T) {
		f := newWatchFixture(t)
		rec := httptest.NewRecorder()
		f.watcher(t, false).ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("DELETE: %d", rec.Code)
		}
	})
}

func TestLoadWatchConfig(t *testing.T) {
	c, err := LoadWatchConfig(env("GOOGLE_CLOUD_PROJECT", "p", "GEMINIHOOK_WATCH_API_KEY_SECRET", "gemini-key", "GEMINIHOOK_WATCH_AUTO_REENABLE", "true"))
	if err != nil || c.APIKeySecret != "projects/p/secrets/gemini-key" || !c.AutoReenable {
		t.Fatalf("LoadWatchConfig = %+v, %v", c, err)
	}
	c, err = LoadWatchConfig(env("GEMINIHOOK_WATCH_API_KEY_SECRET", "projects/q/secrets/k"))
	if err != nil || c.APIKeySecret != "projects/q/secrets/k" || c.AutoReenable {
		t.Fatalf("LoadWatchConfig = %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{},
		{"GEMINIHOOK_WATCH_API_KEY_SECRET", "gemini-key"}, // an id without a project
		{"GEMINIHOOK_WATCH_API_KEY_SECRET", "projects/p/secrets/k", "GEMINIHOOK_WATCH_AUTO_REENABLE", "sometimes"},
		{"GEMINIHOOK_WATCH_API_KEY_SECRET", "a/b"},
		{"GEMINIHOOK_WATCH_API_KEY_SECRET", "projects/p/secrets/k", "GEMINIHOOK_LOG_LEVEL", "loud"},
	} {
		if _, err := LoadWatchConfig(env(bad...)); !errors.Is(err, ErrConfig) {
			t.Errorf("LoadWatchConfig(%q) = %v, want ErrConfig", bad, err)
		}
	}
	names := []string{}
	for _, v := range WatchVariables() {
		names = append(names, v.Name)
	}
	if !slices.Contains(names, "GEMINIHOOK_WATCH_API_KEY_SECRET") || !slices.Contains(names, "GEMINIHOOK_WATCH_AUTO_REENABLE") {
		t.Errorf("WatchVariables = %v", names)
	}
}

// TestWatchEntryPointLazy: the registered entry point builds on the first
// request; a configuration without the key's secret is a 503 JSON answer,
// and the build is tried again after buildRetry.
func TestWatchEntryPointLazy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	builds := 0
	var logs syncLog
	l := &lazy{
		build: func(ctx context.Context) (http.Handler, error) {
			builds++
			_, err := NewWatcherFromEnv(ctx, env(), &logs)
			return nil, err
		},
		now: func() time.Time { return now },
		log: NewLogger(&logs, Config{}),
	}
	for range 2 {
		rec := httptest.NewRecorder()
		l.serveJSON(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("answer %d %q, want a 503 JSON error", rec.Code, rec.Body.String())
		}
	}
	if builds != 1 {
		t.Errorf("%d builds within buildRetry, want 1", builds)
	}
	if !strings.Contains(logs.String(), "GEMINIHOOK_WATCH_API_KEY_SECRET is required") {
		t.Errorf("the build failure is not logged with its cause:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), `"delivery"`) {
		t.Error("the watcher wrote a delivery line")
	}
	now = now.Add(buildRetry)
	l.serveJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	if builds != 2 {
		t.Errorf("%d builds after buildRetry, want 2", builds)
	}
	if watchFunction.build == nil || WatchEntryPoint != "GeminiWebhookWatch" {
		t.Error("the watcher is not set up as an entry point")
	}
}
