package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/gemini"
	"github.com/geminihook/geminihook/internal/gemini/geminitest"
)

const key = "AIzaTestKey-0123456789abcdefghijklmnopq"

// sleeper records the waits of a client instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return nil
}

func newClient(t *testing.T, url string, o gemini.Options) (*gemini.Client, *sleeper) {
	t.Helper()
	sl := &sleeper{}
	o.BaseURL = url
	if o.Sleep == nil {
		o.Sleep = sl.sleep
	}
	c, err := gemini.New(key, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func TestCreateGetUpdateDelete(t *testing.T) {
	fake := geminitest.NewServer(t, key)
	c, _ := newClient(t, fake.URL, gemini.Options{})
	ctx := context.Background()
	w, err := c.Create(ctx, gemini.Webhook{Name: "hook", URI: "https://example.test/", SubscribedEvents: []string{"batch.succeeded"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.ID == "" || w.State != gemini.StateEnabled || !strings.HasPrefix(w.NewSigningSecret.Reveal(), "whsec_") || len(w.SigningSecrets) != 1 {
		t.Fatalf("Create = %+v", w)
	}
	if got := fake.Secrets(w.ID); len(got) != 1 || got[0] != w.NewSigningSecret.Reveal() {
		t.Errorf("the fake signs with %d secrets, not the one Create returned", len(got))
	}
	g, err := c.Get(ctx, "webhooks/"+w.ID)
	if err != nil || g.ID != w.ID || g.NewSigningSecret != "" {
		t.Fatalf("Get = %+v, %v; want the webhook without new_signing_secret", g, err)
	}
	u, err := c.Update(ctx, w.ID, gemini.Webhook{URI: "https://example.test/2", SubscribedEvents: []string{"video.generated"}}, []string{"uri", "subscribed_events"})
	if err != nil || u.URI != "https://example.test/2" || len(u.SubscribedEvents) != 1 || u.SubscribedEvents[0] != "video.generated" {
		t.Fatalf("Update = %+v, %v", u, err)
	}
	fake.SetState(w.ID, gemini.StateDisabledFailed)
	if e, err := c.Enable(ctx, w.ID); err != nil || e.State != gemini.StateEnabled {
		t.Fatalf("Enable = %+v, %v", e, err)
	}
	if err := c.Delete(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, w.ID)
	var apiErr *gemini.APIError
	if !errors.Is(err, gemini.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Status != "NOT_FOUND" || apiErr.HTTPStatus != 404 {
		t.Fatalf("Get after Delete: %v, want 404 NOT_FOUND", err)
	}
	if strings.Contains(err.Error(), key) {
		t.Error("the error holds the API key")
	}
}

func TestListFollowsPages(t *testing.T) {
	fake := geminitest.NewServer(t, key)
	for i := range 120 {
		fake.AddWebhook(fmt.Sprintf("https://example.test/%d", i), []string{"batch.failed"}, "")
	}
	c, _ := newClient(t, fake.URL, gemini.Options{})
	all, err := c.List(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 120 || fake.Calls("list") != 3 {
		t.Fatalf("List = %d webhooks in %d calls, want 120 in 3 pages of the default 50", len(all), fake.Calls("list"))
	}
	seen := map[string]bool{}
	for _, w := range all {
		if seen[w.ID] {
			t.Fatalf("webhook %s listed twice", w.ID)
		}
		seen[w.ID] = true
	}
	p, err := c.ListPage(context.Background(), 5000, "")
	if err != nil || len(p.Webhooks) != 120 || p.NextPageToken != "" {
		t.Fatalf("ListPage(5000) = %d, %q, %v; want all 120 (capped at 1000)", len(p.Webhooks), p.NextPageToken, err)
	}
}

func TestPingAndRotate(t *testing.T) {
	fake := geminitest.NewServer(t, key)
	c, _ := newClient(t, fake.URL, gemini.Options{})
	ctx := context.Background()
	id := fake.AddWebhook("https://example.test/", []string{"batch.succeeded"}, "")
	if err := c.Ping(ctx, id); err != nil {
		t.Fatal(err)
	}
	old := fake.Secrets(id)[0]
	sec, err := c.RotateSigningSecret(ctx, id, gemini.RevokeAfter24h)
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.Secrets(id); len(got) != 2 || got[0] != old || got[1] != sec.Reveal() {
		t.Fatalf("after a 24 h rotation the fake signs with %d secrets; want the old and the new", len(got))
	}
	w, _ := c.Get(ctx, id)
	if n := w.NewestSecret(); n != 1 {
		t.Errorf("NewestSecret = %d, want 1 (no expire time)", n)
	}
	if exp, ok := w.SigningSecrets[0].Expires(); !ok || exp.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("old secret expires %v, %v; want in 24 h", exp, ok)
	}
	if _, err := c.RotateSigningSecret(ctx, id, gemini.RevokeImmediately); err != nil {
		t.Fatal(err)
	}
	if got := fake.Secrets(id); len(got) != 1 {
		t.Fatalf("after an immediate rotation the fake signs with %d secrets, want 1", len(got))
	}
	if b := fake.Behaviors(); len(b) != 2 || b[0] != gemini.RevokeAfter24h || b[1] != gemini.RevokeImmediately {
		t.Errorf("behaviors sent = %v", b)
	}
	if _, err := c.RotateSigningSecret(ctx, id, "later"); !errors.Is(err, gemini.ErrInvalidArgument) {
		t.Errorf("unknown behavior: %v", err)
	}
}

func TestRetries(t *testing.T) {
	fake := geminitest.NewServer(t, key)
	id := fake.AddWebhook("https://example.test/", []string{"batch.succeeded"}, "")
	ctx := context.Background()

	// 429 with Retry-After: retried, the wait honours the header.
	c, sl := newClient(t, fake.URL, gemini.Options{})
	fake.Fail("get", 2, 429, "3")
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatalf("Get after two 429s: %v", err)
	}
	if fake.Calls("get") != 3 || len(sl.waits) != 2 || sl.waits[0] < 3*time.Second {
		t.Fatalf("calls %d, waits %v; want 3 calls and 2 waits of at least Retry-After 3s", fake.Calls("get"), sl.waits)
	}

	// Bounded by MaxAttempts.
	c, sl = newClient(t, fake.URL, gemini.Options{MaxAttempts: 3})
	fake.Fail("list", 10, 503, "")
	_, err := c.List(ctx, 0)
	var apiErr *gemini.APIError
	if !errors.Is(err, gemini.ErrServer) || !errors.As(err, &apiErr) || apiErr.Attempts != 3 || len(sl.waits) != 2 {
		t.Fatalf("List under 503s: %v (waits %v); want ErrServer after 3 attempts", err, sl.waits)
	}
	fake.ClearFaults()

	// Bounded by MaxRetryWait: a Retry-After beyond it ends the call.
	c, sl = newClient(t, fake.URL, gemini.Options{MaxRetryWait: 10 * time.Second})
	fake.Fail("get", 1, 429, "60")
	_, err = c.Get(ctx, id)
	if !errors.Is(err, gemini.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Minute || len(sl.waits) != 0 {
		t.Fatalf("Retry-After 60 with a 10s budget: %v, waits %v; want ErrRateLimited at once", err, sl.waits)
	}

	// A create or a rotation is not repeated after a 500 (it may have
	// happened), but is after a 429 or 503.
	c, _ = newClient(t, fake.URL, gemini.Options{})
	before := fake.Calls("rotate")
	fake.Fail("rotate", 1, 500, "")
	if _, err := c.RotateSigningSecret(ctx, id, gemini.RevokeAfter24h); !errors.Is(err, gemini.ErrServer) || fake.Calls("rotate") != before+1 {
		t.Fatalf("rotate after a 500: %v, %d calls; want one call and ErrServer", err, fake.Calls("rotate")-before)
	}
	fake.Fail("create", 1, 503, "")
	if _, err := c.Create(ctx, gemini.Webhook{URI: "https://example.test/", SubscribedEvents: []string{"batch.failed"}}); err != nil {
		t.Fatalf("create after a 503: %v", err)
	}
	// An idempotent call is repeated after a 500.
	fake.Fail("get", 1, 500, "")
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatalf("get after a 500: %v", err)
	}
}

func TestErrors(t *testing.T) {
	fake := geminitest.NewServer(t, key)
	ctx := context.Background()
	bad, err := gemini.New("wrong-key", gemini.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.List(ctx, 0); !errors.Is(err, gemini.ErrInvalidArgument) || !strings.Contains(err.Error(), "API key not valid") {
		t.Errorf("wrong key: %v", err)
	}
	c, _ := newClient(t, fake.URL, gemini.Options{})
	if _, err := c.Create(ctx, gemini.Webhook{URI: "https://example.test/", SubscribedEvents: []string{"batch.paused"}}); !errors.Is(err, gemini.ErrInvalidArgument) {
		t.Errorf("unknown event: %v", err)
	}
	fake.Fail("get", 1, 409, "")
	if _, err := c.Get(ctx, "x"); !errors.Is(err, gemini.ErrConflict) {
		t.Errorf("409: %v", err)
	}
	fake.Fail("get", 1, 403, "")
	if _, err := c.Get(ctx, "x"); !errors.Is(err, gemini.ErrPermission) {
		t.Errorf("403: %v", err)
	}
	for _, id := range []string{"", "a/b", "x?y", "a:ping", "webhooks/"} {
		if _, err := c.Get(ctx, id); !errors.Is(err, gemini.ErrInvalidID) {
			t.Errorf("Get(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	// Nothing listens: ErrUnreachable.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	down, _ := newClient(t, url, gemini.Options{})
	if _, err := down.List(ctx, 0); !errors.Is(err, gemini.ErrUnreachable) {
		t.Errorf("closed port: %v", err)
	}
	// A body that is not Google's error JSON still gives a line.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream\nbroke", http.StatusBadGateway)
	}))
	defer plain.Close()
	pc, _ := newClient(t, plain.URL, gemini.Options{MaxAttempts: 1})
	if _, err := pc.List(ctx, 0); !errors.Is(err, gemini.ErrServer) || strings.Contains(err.Error(), "\n") {
		t.Errorf("plain 502: %q", err)
	}
}

func TestSecretIsRedacted(t *testing.T) {
	s := gemini.Secret("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s, "w", gemini.Webhook{NewSigningSecret: s})
	b, _ := json.Marshal(gemini.Webhook{NewSigningSecret: s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%+v", gemini.Webhook{NewSigningSecret: s}), string(b), buf.String()} {
		if strings.Contains(out, "c2VjcmV0") {
			t.Errorf("secret shown: %s", out)
		}
	}
	if s.Reveal() != "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=" {
		t.Error("Reveal")
	}
}

func TestTruncated(t *testing.T) {
	const sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for form, want := range map[string]bool{
		"whsec_MfKQ...LaSw":                      true,
		"whsec_MfKQ…LaSw":                        true,
		"whsec_MfKQ****LaSw":                     true,
		"whsec_****LaSw":                         true,
		"whsec_MfKQ9r8G...":                      true,
		"whsec_MfKQ..LaSw":                       true,
		"whsec_MfKQ...LaSx":                      false,
		"whsec_MfKR...LaSw":                      false,
		sec:                                      true,
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx": false,
		gemini.Truncate(sec):                     true,
		geminitest.Truncate(sec):                 true,
	} {
		tr, err := gemini.ParseTruncated(form)
		if err != nil {
			t.Errorf("ParseTruncated(%q): %v", form, err)
			continue
		}
		if got := tr.Match(sec); got != want {
			t.Errorf("%q matches = %v, want %v", form, got, want)
		}
	}
	for _, form := range []string{"whsec_...", "whsec_ab...c", "***", "", "whsec_a...b...c"} {
		if _, err := gemini.ParseTruncated(form); !errors.Is(err, gemini.ErrTruncatedForm) {
			t.Errorf("ParseTruncated(%q) = %v, want ErrTruncatedForm", form, err)
		}
	}
	// A form never matches a secret too short to hold both parts apart.
	tr, _ := gemini.ParseTruncated("whsec_abcd...abcd")
	if tr.Match("whsec_abcd") {
		t.Error("overlapping prefix and suffix matched")
	}
}

func TestNewestSecret(t *testing.T) {
	w := gemini.Webhook{SigningSecrets: []gemini.SigningSecret{
		{TruncatedSecret: "a", ExpireTime: "2026-01-02T00:00:00Z"},
		{TruncatedSecret: "b"},
		{TruncatedSecret: "c", ExpireTime: "2026-01-03T00:00:00Z"},
	}}
	if got := w.NewestSecret(); got != 1 {
		t.Errorf("NewestSecret = %d, want 1 (no expiry)", got)
	}
	w.SigningSecrets[1].ExpireTime = "2026-01-01T00:00:00Z"
	if got := w.NewestSecret(); got != 2 {
		t.Errorf("NewestSecret = %d, want 2 (expires last)", got)
	}
	if got := (gemini.Webhook{}).NewestSecret(); got != -1 {
		t.Errorf("NewestSecret of none = %d", got)
	}
}
