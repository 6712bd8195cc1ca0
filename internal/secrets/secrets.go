// Package secrets loads geminihook's HMAC signing secrets (Standard
// Webhooks v1) from Google Secret Manager.
//
// Every ENABLED version of one secret is a valid signing secret, so a
// rotation needs no redeploy: add a version and it is accepted, disable the
// old one and it is refused, each within one cache life (MaxAge) or at once
// after a verification miss (Refresh). A Source implements the verify
// package's SecretSource and Refresher interfaces.
//
// # Loading
//
// One load lists the secret's versions with the filter "state:ENABLED"
// (newest first, at most MaxVersions of them; older enabled versions are
// ignored with a warning) and accesses each listed version. A payload is
// checked against its CRC32C (Castagnoli) checksum and parsed with
// verify.ParseSecret ("whsec_" + base64; surrounding whitespace ignored).
// A version whose payload does not parse, or that was disabled or destroyed
// between the list and the access, is skipped with a log line that names
// the version. Secret values are held as []byte and never logged or put in
// an error.
//
// Concurrent callers share one load. A load runs on its own (bounded by
// Options.Timeout) even when the caller that started it gives up, so its
// result still serves everyone else.
//
// # Failures
//
// A load that fails (Secret Manager unreachable, permission denied, a
// checksum mismatch) leaves the last good set in use: Secrets keeps serving
// it, past MaxAge if need be, and tries again at most once per Cooldown.
// With nothing usable yet (first load failed, or the secret has no usable
// enabled version), Secrets returns an error wrapping ErrUnavailable and a
// new load is tried at most once per RetryInterval, so an instance recovers
// on its own shortly after Secret Manager does.
//
// # Permissions
//
// The runtime service account needs, on the secret:
// roles/secretmanager.secretAccessor (secretmanager.versions.access) to read
// payloads and roles/secretmanager.viewer (secretmanager.versions.list) to
// list versions; secretAccessor alone cannot list.
package secrets

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/verify"
)

// Defaults of Options and fixed limits.
const (
	DefaultMaxAge        = 5 * time.Minute
	DefaultCooldown      = 30 * time.Second
	DefaultRetryInterval = time.Second
	DefaultTimeout       = 5 * time.Second

	// MaxVersions is how many enabled versions (the newest) one load uses.
	// A rotation needs two; more than a handful means old versions were
	// never disabled.
	MaxVersions = 10
	// MaxPayloadBytes bounds one version's payload; a "whsec_" secret of
	// the largest size verify accepts fits well within it. A larger
	// payload is skipped as unusable.
	MaxPayloadBytes = 4096
)

// Errors. Load errors are wrapped with the secret's or version's name and
// the underlying gRPC error; none holds a secret value.
var (
	// ErrInvalidName: New was given a name not of the form
	// projects/PROJECT/secrets/SECRET.
	ErrInvalidName = errors.New("secrets: invalid secret name")
	// ErrInvalidOptions: New was given a nil client or a negative duration.
	ErrInvalidOptions = errors.New("secrets: invalid options")
	// ErrUnavailable: Secrets has no usable secret to give (the loads so
	// far failed or found none); the cause is wrapped too.
	ErrUnavailable = errors.New("secrets: signing secrets unavailable")
	// ErrNotFound: Secret Manager answered NotFound or PermissionDenied for
	// the secret or one of its versions.
	ErrNotFound = errors.New("secrets: secret not found or no permission")
	// ErrNoVersions: the secret has no enabled version with a usable
	// payload.
	ErrNoVersions = errors.New("secrets: no usable enabled version")
	// ErrChecksum: a payload did not match its CRC32C checksum.
	ErrChecksum = errors.New("secrets: payload checksum mismatch")
)

// Options tune a Source. The zero value of every field selects its default.
type Options struct {
	// MaxAge is how long a loaded set is used before the next Secrets call
	// reloads it. Default DefaultMaxAge.
	MaxAge time.Duration
	// Cooldown is the least time between a load and a further load caused
	// by a Refresh or by a failed reload of a stale set. It bounds the
	// Secret Manager calls that forged requests can cause. Default
	// DefaultCooldown.
	Cooldown time.Duration
	// RetryInterval replaces Cooldown while nothing usable is loaded.
	// Default DefaultRetryInterval.
	RetryInterval time.Duration
	// Timeout bounds one load (list and accesses). Default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives load results and warnings (never secret values).
	// Default slog.Default().
	Logger *slog.Logger
	// Parse turns one version's payload into the value Secrets returns; a
	// version whose payload it refuses is skipped. Its errors must not hold
	// the payload. Default verify.ParseSecret (a whsec_ signing secret);
	// route tokens use route.ParseToken.
	Parse func(payload string) ([]byte, error)
	// What names the values in log lines; default "signing secrets"
	// (route tokens: "route tokens").
	What string
}

// Source is a cached, self-refreshing set of HMAC secrets from all enabled
// versions of one Secret Manager secret. It is safe for concurrent use. It
// holds no goroutine between loads and needs no Close; the client stays
// the caller's to close.
type Source struct {
	client   *secretmanager.Client
	name     string
	maxAge   time.Duration
	cooldown time.Duration
	retry    time.Duration
	timeout  time.Duration
	now      func() time.Time
	log      *slog.Logger
	parse    func(string) ([]byte, error)
	what     string

	cur atomic.Pointer[state] // nil until the first load ends

	mu          sync.Mutex
	flight      *flight // the load under way, if any
	attempted   bool
	lastAttempt time.Time // start of the latest load
	lastErr     error     // its error; nil if it succeeded
}

// state is the result of the latest load that reached Secret Manager's
// answer: either usable secrets or, when the secret has none, err.
type state struct {
	secrets  [][]byte
	versions []string // names of the versions in secrets, same order
	loaded   time.Time
	err      error // non-nil: nothing usable (wraps ErrNoVersions)
}

func (st *state) usable() bool { return st != nil && st.err == nil }

type flight struct {
	done chan struct{}
	err  error // set before done is closed
}

// New returns a Source for secret, the full name projects/PROJECT/secrets/SECRET.
// It makes no call: the first Secrets call loads. It fails with
// ErrInvalidName for another form of name and ErrInvalidOptions for a nil
// client or a negative duration.
func New(c *secretmanager.Client, secret string, o Options) (*Source, error) {
	if err := checkName(secret); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: nil Secret Manager client", ErrInvalidOptions)
	}
	if o.MaxAge < 0 || o.Cooldown < 0 || o.RetryInterval < 0 || o.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrInvalidOptions)
	}
	s := &Source{
		client:   c,
		name:     secret,
		maxAge:   cmp.Or(o.MaxAge, DefaultMaxAge),
		cooldown: cmp.Or(o.Cooldown, DefaultCooldown),
		retry:    cmp.Or(o.RetryInterval, DefaultRetryInterval),
		timeout:  cmp.Or(o.Timeout, DefaultTimeout),
		now:      o.Now,
		log:      cmp.Or(o.Logger, slog.Default()),
		parse:    o.Parse,
		what:     cmp.Or(o.What, "signing secrets"),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.parse == nil {
		s.parse = verify.ParseSecret
	}
	return s, nil
}

// Name is the secret's full name, as given to New.
func (s *Source) Name() string { return s.name }

// Secrets returns the decoded secrets of the enabled versions, newest
// first. Callers must not modify the result. Within MaxAge of the last
// load it returns the cached set without any call; after it, it reloads
// (callers arriving during that reload get the previous set at once), and
// if the reload fails it returns the previous set. With nothing usable it
// waits for a load (sharing one under way) and, if that fails or it is
// within RetryInterval of the last failure, returns an error wrapping
// ErrUnavailable and the cause (or ctx's error when ctx ends first).
func (s *Source) Secrets(ctx context.Context) ([][]byte, error) {
	now := s.now()
	st := s.cur.Load()
	if st.usable() && now.Sub(st.loaded) < s.maxAge {
		return st.secrets, nil
	}
	f, joined := s.begin(ctx, now, false)
	if st.usable() && (f == nil || joined) {
		return st.secrets, nil
	}
	var err error
	if f != nil {
		err = s.wait(ctx, f)
	}
	if st = s.cur.Load(); st.usable() {
		return st.secrets, nil
	}
	if err == nil {
		err = s.lastError()
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, s.name, err)
}

// Refresh reloads now, unless a load started within Cooldown (within
// RetryInterval while nothing usable is loaded), in which case it returns
// false with no call. A caller arriving during a load waits for it. It
// reports true when the load succeeded, so that a verifier may check again
// against the fresh set. A failed load returns false and the error; the
// previous set stays in use. It implements verify.Refresher.
func (s *Source) Refresh(ctx context.Context) (bool, error) {
	f, _ := s.begin(ctx, s.now(), true)
	if f == nil {
		return false, nil
	}
	if err := s.wait(ctx, f); err != nil {
		return false, err
	}
	return true, nil
}

// begin joins the load under way or starts one if the cooldown allows; it
// returns nil when no load may start now. force is Refresh's request: it
// reloads a fresh set too.
func (s *Source) begin(ctx context.Context, now time.Time, force bool) (f *flight, joined bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil {
		return s.flight, true
	}
	st := s.cur.Load()
	if s.attempted {
		gap := s.cooldown
		if !st.usable() {
			gap = s.retry
		}
		// A stale but usable set whose last reload succeeded is reloaded
		// at once; the cooldown only spaces out retries and Refreshes.
		stale := st.usable() && now.Sub(st.loaded) >= s.maxAge && s.lastErr == nil
		if !stale && now.Sub(s.lastAttempt) < gap {
			return nil, false
		}
		if !force && st.usable() && now.Sub(st.loaded) < s.maxAge {
			return nil, false // fresh: another caller loaded meanwhile
		}
	}
	f = &flight{done: make(chan struct{})}
	s.flight, s.attempted, s.lastAttempt = f, true, now
	// The load outlives a caller that gives up (its result serves
	// everyone); Timeout bounds it. Values of ctx (a trace) are kept for
	// the log lines.
	go s.run(context.WithoutCancel(ctx), f)
	return f, false
}

func (s *Source) wait(ctx context.Context, f *flight) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return s.lastErr
	}
	if st := s.cur.Load(); st != nil && st.err != nil {
		return st.err
	}
	return errors.New("no load attempted") // unreachable: a load ends before this is read
}

func (s *Source) run(ctx context.Context, f *flight) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	next, err := s.load(tctx)

	s.mu.Lock()
	prev := s.cur.Load()
	if err == nil {
		next.loaded = s.now()
		s.cur.Store(next)
		err = next.err // nil, or no usable version
	}
	s.lastErr = err
	f.err = err
	s.flight = nil
	s.mu.Unlock()
	close(f.done)

	// Log outside the lock, once per change rather than once per load.
	switch {
	case next == nil && prev.usable():
		s.log.LogAttrs(ctx, slog.LevelWarn, "secrets: reload failed, keeping the previous "+s.what,
			slog.String("secret", s.name), slog.Any("error", err), slog.Time("loaded", prev.loaded))
	case next == nil:
		s.log.LogAttrs(ctx, slog.LevelError, "secrets: no "+s.what+": load failed",
			slog.String("secret", s.name), slog.Any("error", err))
	case sameVersions(prev, next):
		s.log.LogAttrs(ctx, slog.LevelDebug, "secrets: "+s.what+" unchanged",
			slog.String("secret", s.name), slog.Any("versions", next.versions))
	case next.err != nil:
		s.log.LogAttrs(ctx, slog.LevelError, "secrets: no usable "+s.what,
			slog.String("secret", s.name), slog.Any("error", next.err))
	default:
		s.log.LogAttrs(ctx, slog.LevelInfo, "secrets: "+s.what+" loaded",
			slog.String("secret", s.name), slog.Any("versions", next.versions))
	}
}

func sameVersions(a, b *state) bool {
	if a == nil || b == nil || (a.err == nil) != (b.err == nil) || len(a.versions) != len(b.versions) {
		return false
	}
	for i := range a.versions {
		if a.versions[i] != b.versions[i] {
			return false
		}
	}
	return true
}

// load performs one list-and-access. A nil error with a state whose err is
// set means Secret Manager answered but no version is usable.
func (s *Source) load(ctx context.Context) (*state, error) {
	names, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	type result struct {
		key []byte
		err error // non-nil with skip: the version is unusable
		bad error // non-nil: the load fails
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			key, skip, bad := s.access(ctx, name)
			results[i] = result{key, skip, bad}
		})
	}
	wg.Wait()

	next := &state{}
	for i, r := range results {
		if r.bad != nil {
			return nil, r.bad
		}
		if r.err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "secrets: version skipped",
				slog.String("version", names[i]), slog.Any("reason", r.err))
			continue
		}
		if !containsKey(next.secrets, r.key) {
			next.secrets = append(next.secrets, r.key)
			next.versions = append(next.versions, names[i])
		}
	}
	if len(next.secrets) == 0 {
		next.err = fmt.Errorf("%w: %s has %d enabled version(s), none usable", ErrNoVersions, s.name, len(names))
	}
	return next, nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if subtle.ConstantTimeCompare(x, k) == 1 {
			return true
		}
	}
	return false
}

// list returns the names of the newest MaxVersions enabled versions.
func (s *Source) list(ctx context.Context) ([]string, error) {
	it := s.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{
		Parent:   s.name,
		Filter:   "state:ENABLED",
		PageSize: MaxVersions + 1, // one more tells whether some were left out
	})
	var names []string
	for len(names) <= MaxVersions {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, s.rpcError("listing versions of", s.name, err)
		}
		if v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			names = append(names, v.GetName())
		}
	}
	if len(names) > MaxVersions {
		s.log.LogAttrs(ctx, slog.LevelWarn, "secrets: more enabled versions than used; disable the old ones",
			slog.String("secret", s.name), slog.Int("used", MaxVersions))
		names = names[:MaxVersions]
	}
	return names, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// access reads and decodes one version. skip reports a version that is not
// usable (the load goes on without it); bad fails the whole load.
func (s *Source) access(ctx context.Context, name string) (key []byte, skip, bad error) {
	resp, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.FailedPrecondition:
			// Disabled or destroyed since the list.
			return nil, fmt.Errorf("no longer accessible: %v", status.Code(err)), nil
		}
		return nil, nil, s.rpcError("accessing", name, err)
	}
	p := resp.GetPayload()
	data := p.GetData()
	if p.DataCrc32C != nil && int64(crc32.Checksum(data, castagnoli)) != p.GetDataCrc32C() {
		return nil, nil, fmt.Errorf("%w: version %s", ErrChecksum, name)
	}
	if len(data) > MaxPayloadBytes {
		return nil, fmt.Errorf("payload of %d bytes exceeds %d", len(data), MaxPayloadBytes), nil
	}
	key, err = s.parse(string(data))
	if err != nil {
		return nil, err, nil // Parse's errors hold no secret material
	}
	return key, nil, nil
}

// rpcError translates a gRPC error into the package's vocabulary, keeping
// the original wrapped for status.Code.
func (s *Source) rpcError(what, name string, err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied:
		return fmt.Errorf("%w: %s %s: the secret must exist and the runtime service account needs "+
			"roles/secretmanager.secretAccessor and roles/secretmanager.viewer (secretmanager.versions.list) on it: %w",
			ErrNotFound, what, name, err)
	}
	return fmt.Errorf("%s %s: %w", what, name, err)
}

// checkName accepts projects/PROJECT/secrets/SECRET, PROJECT a project id
// or number and SECRET a secret id ([A-Za-z0-9_-], at most 255).
func checkName(name string) error {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "secrets" ||
		!validProject(parts[1]) || !validSecretID(parts[3]) {
		return fmt.Errorf("%w: %q, want projects/PROJECT/secrets/SECRET", ErrInvalidName, name)
	}
	return nil
}

func validProject(p string) bool {
	if p == "" || len(p) > 100 {
		return false
	}
	for _, c := range []byte(p) {
		// Lower-case id, number, or a domain-scoped id (example.com:proj).
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func validSecretID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
