package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
	"github.com/geminihook/geminihook/verify"
)

var (
	_ verify.SecretSource = (*secrets.Source)(nil)
	_ verify.Refresher    = (*secrets.Source)(nil)
)

const secretName = "projects/test-project/secrets/geminihook-signing-secret"

// Test secrets: 32 distinct bytes each, "whsec_" + padded base64.
var (
	sec1 = mkSecret(1)
	sec2 = mkSecret(2)
	sec3 = mkSecret(3)
)

func mkSecret(b byte) string {
	return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b, 0x5a, b ^ 0xff, 0x17}, 8))
}

func key(t *testing.T, s string) []byte {
	t.Helper()
	k, err := verify.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv   *secretstest.Server
	clock *clock
	logs  *cloudlogtest.Buffer
	src   *secrets.Source
	// values that must never appear in a log line or an error
	secret []string
}

const (
	maxAge   = 5 * time.Minute
	cooldown = 30 * time.Second
	retry    = time.Second
)

// newFixture starts a loopback Secret Manager and a Source on it with a
// manual clock and a captured debug-level log. At the end of the test it
// checks that no secret value reached the log.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		srv:   secretstest.NewServer(t),
		clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		logs:  &cloudlogtest.Buffer{},
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := secrets.New(f.srv.Client(), secretName, secrets.Options{
		MaxAge: maxAge, Cooldown: cooldown, RetryInterval: retry,
		Now: f.clock.Now, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.src = src
	t.Cleanup(func() { f.assertNoSecretIn(t, "log", f.logs.String()) })
	return f
}

// add stores payload as a new version and remembers it as sensitive.
func (f *fixture) add(payload string) string {
	f.secret = append(f.secret, payload)
	return f.srv.AddVersion(secretName, []byte(payload))
}

func (f *fixture) assertNoSecretIn(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range f.secret {
		forms := []string{v, strings.TrimPrefix(v, "whsec_")}
		if k, err := verify.ParseSecret(v); err == nil {
			forms = append(forms, string(k), base64.RawStdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k))
		}
		for _, form := range forms {
			if len(form) >= 8 && strings.Contains(s, form) {
				t.Errorf("%s contains a secret value (%d bytes)", what, len(form))
			}
		}
	}
}

func (f *fixture) want(t *testing.T, want ...string) {
	t.Helper()
	got, err := f.src.Secrets(context.Background())
	if err != nil {
		t.Fatalf("Secrets: %v", err)
	}
	var keys [][]byte
	for _, w := range want {
		keys = append(keys, key(t, w))
	}
	if !slices.EqualFunc(got, keys, bytes.Equal) {
		t.Fatalf("Secrets returned %d keys, want %d (newest first) %s", len(got), len(keys), describe(t, got, want))
	}
}

// describe names the test secrets that keys hold, without printing them.
func describe(t *testing.T, keys [][]byte, want []string) string {
	t.Helper()
	names := map[string]string{string(key(t, sec1)): "sec1", string(key(t, sec2)): "sec2", string(key(t, sec3)): "sec3"}
	var got, w []string
	for _, k := range keys {
		got = append(got, names[string(k)])
	}
	for _, s := range want {
		w = append(w, names[string(key(t, s))])
	}
	return "got " + strings.Join(got, ",") + " want " + strings.Join(w, ",")
}

func (f *fixture) lists() int { return f.srv.Calls("ListSecretVersions") }

func TestNew(t *testing.T) {
	srv := secretstest.NewServer(t)
	client := srv.Client()
	tests := []struct {
		name string
		o    secrets.Options
		want error
	}{
		{"projects/p-1/secrets/s_1-A", secrets.Options{}, nil},
		{"projects/123456789/secrets/s", secrets.Options{}, nil},
		{"projects/example.com:proj/secrets/s", secrets.Options{}, nil},
		{"", secrets.Options{}, secrets.ErrInvalidName},
		{"geminihook-signing-secret", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/secrets/s/versions/1", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/secrets/", secrets.Options{}, secrets.ErrInvalidName},
		{"projects//secrets/s", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/P/secrets/s", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/secrets/s.x", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/locations/l/secrets/s", secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/secrets/" + strings.Repeat("s", 256), secrets.Options{}, secrets.ErrInvalidName},
		{"projects/p/secrets/s", secrets.Options{MaxAge: -1}, secrets.ErrInvalidOptions},
		{"projects/p/secrets/s", secrets.Options{Cooldown: -1}, secrets.ErrInvalidOptions},
		{"projects/p/secrets/s", secrets.Options{RetryInterval: -1}, secrets.ErrInvalidOptions},
		{"projects/p/secrets/s", secrets.Options{Timeout: -1}, secrets.ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := secrets.New(client, tt.name, tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%q) = %v, want %v", tt.name, err, tt.want)
			}
			if err == nil && src.Name() != tt.name {
				t.Errorf("Name() = %q, want %q", src.Name(), tt.name)
			}
		})
	}
	if _, err := secrets.New(nil, "projects/p/secrets/s", secrets.Options{}); !errors.Is(err, secrets.ErrInvalidOptions) {
		t.Errorf("New(nil client) = %v, want ErrInvalidOptions", err)
	}
	if srv.Calls("ListSecretVersions") != 0 {
		t.Error("New made a call")
	}
}

func TestLoadsEnabledVersions(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	v2 := f.add(sec2)
	f.add(sec3)
	f.srv.Disable(v2)

	f.want(t, sec3, sec1)
	if got := f.lists(); got != 1 {
		t.Errorf("List calls = %d, want 1", got)
	}
	if got := f.srv.Calls("AccessSecretVersion"); got != 2 {
		t.Errorf("Access calls = %d, want 2 (disabled version not accessed)", got)
	}
	// Within MaxAge: no call at all.
	f.clock.Advance(maxAge - time.Second)
	f.want(t, sec3, sec1)
	if got := f.lists(); got != 1 {
		t.Errorf("List calls within MaxAge = %d, want 1", got)
	}
}

func TestDuplicatePayloadsCollapse(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.add(sec1 + "\n") // same secret re-added, with the newline echo leaves
	f.want(t, sec1)
}

func TestRotationWithoutRestart(t *testing.T) {
	f := newFixture(t)
	v1 := f.add(sec1)
	f.want(t, sec1)

	// A new version is seen after a Refresh (a verification miss) once the
	// cooldown has passed.
	f.add(sec2)
	f.clock.Advance(cooldown)
	ok, err := f.src.Refresh(context.Background())
	if !ok || err != nil {
		t.Fatalf("Refresh = %v, %v; want true, nil", ok, err)
	}
	f.want(t, sec2, sec1)

	// Disabling the old version removes it at the next reload (MaxAge).
	f.srv.Disable(v1)
	f.want(t, sec2, sec1) // still cached
	f.clock.Advance(maxAge)
	f.want(t, sec2)
	if !strings.Contains(f.logs.String(), "signing secrets loaded") {
		t.Error("a changed set was not logged")
	}
}

func TestRefreshCooldown(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.want(t, sec1)
	calls := f.lists()

	for _, d := range []time.Duration{0, time.Second, cooldown - time.Second - time.Nanosecond} { // cumulative
		f.clock.Advance(d)
		ok, err := f.src.Refresh(context.Background())
		if ok || err != nil {
			t.Fatalf("Refresh within cooldown = %v, %v; want false, nil", ok, err)
		}
	}
	if got := f.lists(); got != calls {
		t.Fatalf("Refresh within cooldown made %d List calls", got-calls)
	}
	f.clock.Advance(time.Nanosecond)
	if ok, err := f.src.Refresh(context.Background()); !ok || err != nil {
		t.Fatalf("Refresh after cooldown = %v, %v; want true, nil", ok, err)
	}
	if ok, _ := f.src.Refresh(context.Background()); ok {
		t.Fatal("second Refresh right after a load = true, want false")
	}
	if got := f.lists(); got != calls+1 {
		t.Fatalf("List calls = %d, want %d", got, calls+1)
	}
}

func TestSingleFlight(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.add(sec2)
	f.srv.SetLatency(100 * time.Millisecond) // every caller arrives during the load

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			got, err := f.src.Secrets(context.Background())
			if err == nil && len(got) != 2 {
				err = errors.New("wrong number of keys")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.lists(); got != 1 {
		t.Errorf("List calls = %d, want 1", got)
	}
	if got := f.srv.Calls("AccessSecretVersion"); got != 2 {
		t.Errorf("Access calls = %d, want 2", got)
	}
}

func TestOutageAtStartRecovers(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.srv.SetDown(true)

	_, err := f.src.Secrets(context.Background())
	if !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("Secrets during outage = %v, want ErrUnavailable", err)
	}
	// Within RetryInterval: the error again, without a call.
	calls := f.lists()
	if _, err := f.src.Secrets(context.Background()); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("second Secrets = %v, want ErrUnavailable", err)
	}
	if ok, err := f.src.Refresh(context.Background()); ok || err != nil {
		t.Fatalf("Refresh within RetryInterval = %v, %v; want false, nil", ok, err)
	}
	if got := f.lists(); got != calls {
		t.Fatalf("calls within RetryInterval: %d", got-calls)
	}
	// Still down after RetryInterval: one more try, still an error.
	f.clock.Advance(retry)
	if _, err := f.src.Secrets(context.Background()); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("Secrets = %v, want ErrUnavailable", err)
	}
	if got := f.lists(); got != calls+1 {
		t.Fatalf("List calls = %d, want %d", got, calls+1)
	}

	// Back: the same Source recovers on the next call after RetryInterval.
	f.srv.SetDown(false)
	f.clock.Advance(retry)
	f.want(t, sec1)
	if !strings.Contains(f.logs.String(), "load failed") {
		t.Error("the failed load was not logged")
	}
}

func TestOutageServerStopped(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.srv.Stop()
	if _, err := f.src.Secrets(context.Background()); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("Secrets with the server stopped = %v, want ErrUnavailable", err)
	}
	f.srv.Restart()
	// The gRPC client reconnects after its own backoff; poll, bounded.
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		f.clock.Advance(retry)
		if _, err = f.src.Secrets(context.Background()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no recovery after Restart: %v", err)
	}
	f.want(t, sec1)
}

func TestStaleOnError(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.want(t, sec1)

	f.srv.SetDown(true)
	f.clock.Advance(maxAge)
	calls := f.lists()
	f.want(t, sec1) // reload fails: previous set
	if got := f.lists(); got != calls+1 {
		t.Fatalf("List calls = %d, want one reload", got-calls)
	}
	if !strings.Contains(f.logs.String(), "keeping the previous signing secrets") {
		t.Error("no warning for the failed reload")
	}
	// Failed reloads are spaced by the cooldown.
	f.clock.Advance(cooldown / 2)
	f.want(t, sec1)
	if got := f.lists(); got != calls+1 {
		t.Fatalf("reload within cooldown: %d calls", got-calls)
	}
	// A Refresh within the cooldown makes no call either.
	if ok, err := f.src.Refresh(context.Background()); ok || err != nil {
		t.Fatalf("Refresh = %v, %v; want false, nil", ok, err)
	}
	f.clock.Advance(cooldown / 2)
	f.want(t, sec1)
	if got := f.lists(); got != calls+2 {
		t.Fatalf("List calls = %d, want a second reload after the cooldown", got-calls)
	}

	// Refresh that fails reports the error and keeps the set.
	f.clock.Advance(cooldown)
	if ok, err := f.src.Refresh(context.Background()); ok || err == nil {
		t.Fatalf("Refresh while down = %v, %v; want false and an error", ok, err)
	}
	f.want(t, sec1)

	f.srv.SetDown(false)
	f.add(sec2)
	f.clock.Advance(cooldown)
	f.want(t, sec2, sec1)
}

func TestChecksumMismatch(t *testing.T) {
	t.Run("nothing cached", func(t *testing.T) {
		f := newFixture(t)
		v := f.add(sec1)
		f.srv.CorruptCRC(v)
		_, err := f.src.Secrets(context.Background())
		if !errors.Is(err, secrets.ErrUnavailable) || !errors.Is(err, secrets.ErrChecksum) {
			t.Fatalf("Secrets = %v, want ErrUnavailable and ErrChecksum", err)
		}
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name version %s", err, v)
		}
		f.assertNoSecretIn(t, "error", err.Error())
	})
	t.Run("cached set kept", func(t *testing.T) {
		f := newFixture(t)
		f.add(sec1)
		f.want(t, sec1)
		f.srv.CorruptCRC(f.add(sec2))
		f.clock.Advance(cooldown)
		ok, err := f.src.Refresh(context.Background())
		if ok || !errors.Is(err, secrets.ErrChecksum) {
			t.Fatalf("Refresh = %v, %v; want false, ErrChecksum", ok, err)
		}
		f.want(t, sec1)
	})
}

func TestUnusablePayloads(t *testing.T) {
	bad := []string{"not base64 !!!", "whsec_", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")),
		"whsec_" + strings.Repeat("A", secrets.MaxPayloadBytes)}

	t.Run("skipped", func(t *testing.T) {
		f := newFixture(t)
		f.add(sec1)
		var names []string
		for _, b := range bad {
			names = append(names, f.add(b))
		}
		f.want(t, sec1)
		logs := f.logs.String()
		for _, n := range names {
			if !strings.Contains(logs, n) {
				t.Errorf("skipped version %s not named in the log", n)
			}
		}
	})
	t.Run("none usable", func(t *testing.T) {
		f := newFixture(t)
		for _, b := range bad {
			f.add(b)
		}
		_, err := f.src.Secrets(context.Background())
		if !errors.Is(err, secrets.ErrUnavailable) || !errors.Is(err, secrets.ErrNoVersions) {
			t.Fatalf("Secrets = %v, want ErrUnavailable and ErrNoVersions", err)
		}
		f.assertNoSecretIn(t, "error", err.Error())
		// Fixed by adding a good version: seen after RetryInterval.
		f.add(sec2)
		f.clock.Advance(retry)
		f.want(t, sec2)
	})
}

func TestAllVersionsDisabled(t *testing.T) {
	f := newFixture(t)
	v1 := f.add(sec1)
	f.want(t, sec1)
	// Disabling every version (a leaked secret) is authoritative: the old
	// secret must stop verifying, not be kept as a stale fallback.
	f.srv.Disable(v1)
	f.clock.Advance(maxAge)
	if _, err := f.src.Secrets(context.Background()); !errors.Is(err, secrets.ErrNoVersions) {
		t.Fatalf("Secrets = %v, want ErrNoVersions", err)
	}
}

func TestNotFoundOrDenied(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fixture)
	}{
		{"no such secret", func(*fixture) {}},
		{"permission denied", func(f *fixture) { f.add(sec1); f.srv.SetFault(codes.PermissionDenied) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			_, err := f.src.Secrets(context.Background())
			if !errors.Is(err, secrets.ErrUnavailable) || !errors.Is(err, secrets.ErrNotFound) {
				t.Fatalf("Secrets = %v, want ErrUnavailable and ErrNotFound", err)
			}
			for _, s := range []string{secretName, "roles/secretmanager.secretAccessor", "secretmanager.versions.list"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestCallerGivesUp(t *testing.T) {
	f := newFixture(t)
	f.add(sec1)
	f.srv.SetLatency(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.src.Secrets(ctx)
	if !errors.Is(err, secrets.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Secrets = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	// The load went on without the caller; the next caller shares it.
	f.want(t, sec1)
	if got := f.lists(); got != 1 {
		t.Errorf("List calls = %d, want 1", got)
	}
}

func TestTooManyVersions(t *testing.T) {
	f := newFixture(t)
	f.add(sec1) // oldest: beyond MaxVersions
	for range secrets.MaxVersions - 1 {
		f.add(sec2)
	}
	f.add(sec3)
	f.want(t, sec3, sec2)
	if !strings.Contains(f.logs.String(), "more enabled versions than used") {
		t.Error("no warning about versions left out")
	}
}
