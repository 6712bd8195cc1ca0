package emulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/api/option"
)

// sharedEmulator is one emulator per kind per test binary, started on
// first use.
type sharedEmulator struct {
	kind kind
	once sync.Once
	emu  *Emulator
	err  error
}

var (
	sharedFirestore = &sharedEmulator{kind: firestoreKind}
	sharedPubSub    = &sharedEmulator{kind: pubsubKind}
)

func (s *sharedEmulator) get() (*Emulator, error) {
	s.once.Do(func() { s.emu, s.err = start(context.Background(), s.kind, Options{}) })
	return s.emu, s.err
}

// Firestore returns the Firestore emulator shared by the test binary,
// starting it on first use. Under -short the test is skipped before
// anything starts, and counted in the summary that Run prints. When the
// emulators or Java are missing, the test fails with one message that
// names what is missing and how to install it; any other start failure
// fails it too. Do not stop it: use PrivateFirestore for fault tests. Pair
// with Main in TestMain so that it is stopped when the tests end.
func Firestore(tb testing.TB) *Emulator {
	tb.Helper()
	return shared(tb, sharedFirestore)
}

// PubSub is Firestore for the Pub/Sub emulator.
func PubSub(tb testing.TB) *Emulator {
	tb.Helper()
	return shared(tb, sharedPubSub)
}

func shared(tb testing.TB, s *sharedEmulator) *Emulator {
	tb.Helper()
	if !ready(tb, testing.Short(), Check) {
		return nil // only reached with a TB whose Skip and Fatal return
	}
	emu, err := s.get()
	if err != nil {
		fail(tb, err)
		return nil
	}
	return emu
}

// PrivateFirestore starts a Firestore emulator of the test's own, which the
// test may stop and restart; it is closed when the test ends. -short and
// missing parts are handled as in Firestore.
func PrivateFirestore(tb testing.TB) *Emulator { tb.Helper(); return private(tb, firestoreKind) }

// PrivatePubSub is PrivateFirestore for the Pub/Sub emulator.
func PrivatePubSub(tb testing.TB) *Emulator { tb.Helper(); return private(tb, pubsubKind) }

func private(tb testing.TB, k kind) *Emulator {
	tb.Helper()
	if !ready(tb, testing.Short(), Check) {
		return nil
	}
	emu, err := start(context.Background(), k, Options{})
	if err != nil {
		fail(tb, err)
		return nil
	}
	tb.Cleanup(func() {
		if err := emu.Close(); err != nil {
			tb.Errorf("closing %s emulator: %v", k.name, err)
		}
	})
	return emu
}

// shortReason is the skip message of an emulator test under -short.
const shortReason = "-short: needs the Firestore/Pub/Sub emulators and Java"

// SkipShort skips tb under -short, counted in the summary that Run prints,
// and does nothing otherwise. Firestore, PubSub and the Private functions
// call it themselves; call it first in a test that needs them but does
// other costly set-up before it gets them.
func SkipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		skip(tb)
	}
}

func skip(tb testing.TB) {
	tb.Helper()
	report.skipped(tb.Name())
	tb.Skip(shortReason)
}

// ready skips tb when short (cloudbuild.yaml and contributors run
// `go test -short ./...` without the emulators), fails it when check finds
// a part missing, and reports whether the test may start emulators.
func ready(tb testing.TB, short bool, check func() error) bool {
	tb.Helper()
	if short {
		skip(tb)
		return false
	}
	if err := check(); err != nil {
		fail(tb, err)
		return false
	}
	return true
}

// fail fails tb with err, counting it when a part is missing.
func fail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNotInstalled) {
		report.failed(tb.Name(), err.Error())
	}
	tb.Fatal(err)
}

// tally counts, for Run's summary, the tests left out under -short and the
// tests failed for a missing part.
type tally struct {
	mu      sync.Mutex
	skips   map[string]bool
	fails   map[string]bool
	reasons []string // distinct messages of the missing parts
}

var report = &tally{}

func (t *tally) skipped(test string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.skips == nil {
		t.skips = map[string]bool{}
	}
	t.skips[test] = true
}

func (t *tally) failed(test, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil {
		t.fails = map[string]bool{}
	}
	t.fails[test] = true
	if !slices.Contains(t.reasons, reason) {
		t.reasons = append(t.reasons, reason)
	}
}

// summary is what Run prints after the tests, "" when no test was left out
// or failed for a missing part.
func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if n := len(t.skips); n > 0 {
		fmt.Fprintf(&b, "emulator: %s skipped under -short: %s the Firestore/Pub/Sub emulators and Java; go test without -short runs %s\n",
			tests(n), plural(n, "it needs", "they need"), plural(n, "it", "them"))
	}
	if n := len(t.fails); n > 0 {
		fmt.Fprintf(&b, "emulator: %s failed because a part %s is missing:\n", tests(n), plural(n, "it needs", "they need"))
		for _, r := range t.reasons {
			b.WriteString(r)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func tests(n int) string { return strconv.Itoa(n) + plural(n, " test", " tests") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Main runs the tests, stops the shared emulators and exits with the tests'
// code: call it from TestMain. It removes the emulators' logs when every
// test passed and prints where they are otherwise. Without Main the shared
// emulators still die with the test binary on Linux (Pdeathsig), but their
// temporary log directories stay behind.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that does more afterwards.
// After the tests it prints on standard output how many tests -short left
// out ("emulator: 12 tests skipped under -short: ...") and how many failed
// for a missing part, with the message that names it. The go command shows
// that output for a package run alone in its directory, with -v or -json,
// and for every failed package; `go test ./...` keeps only the ok line of
// a package that passed.
func Run(m *testing.M) int {
	code := m.Run()
	for _, s := range []*sharedEmulator{sharedFirestore, sharedPubSub} {
		emu := s.emu
		if emu == nil {
			continue
		}
		var err error
		if code == 0 {
			err = emu.Close()
		} else {
			err = emu.Stop()
			fmt.Fprintf(os.Stderr, "emulator: %s log kept at %s\n", emu.Name(), emu.LogPath())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	fmt.Print(report.summary())
	return code
}

var projectSeq atomic.Int64

// maxProjectID keeps generated ids within Google's 30-character limit.
const maxProjectID = 30

// ProjectID returns a project id unique within the test binary, derived from
// the test name ("p12-testclaim-new"): tests sharing an emulator keep their
// data apart by using their own project.
func ProjectID(tb testing.TB) string {
	var b strings.Builder
	b.WriteString("p")
	b.WriteString(strconv.FormatInt(projectSeq.Add(1), 10))
	b.WriteByte('-')
	dash := true
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= maxProjectID {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// ClientOptions returns the options that point firestore.NewClient or
// pubsub.NewClient at this emulator without any environment variable: one
// connection from Dial (c may be nil), closed when the test ends. Options
// given later in the same call do not change the connection. A failed dial
// fails the test.
func (e *Emulator) ClientOptions(tb testing.TB, c *Counter) []option.ClientOption {
	tb.Helper()
	conn, err := e.Dial(c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() }) // the client may have closed it already
	return []option.ClientOption{option.WithGRPCConn(conn)}
}
