package emulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/api/option"
)

// shared is one emulator per kind per test binary, started on first use.
type shared struct {
	kind kind
	once sync.Once
	emu  *Emulator
	err  error
}

var (
	sharedFirestore = &shared{kind: firestoreKind}
	sharedPubSub    = &shared{kind: pubsubKind}
)

func (s *shared) get() (*Emulator, error) {
	s.once.Do(func() { s.emu, s.err = start(context.Background(), s.kind, Options{}) })
	return s.emu, s.err
}

// Firestore returns the Firestore emulator shared by the test binary,
// starting it on first use. When it is not installed the test is skipped, or
// fails when the environment variable CI is "true"; under -short it is
// skipped without starting. Any other start failure
// fails the test. Do not stop it: use PrivateFirestore for fault tests. Pair
// with Main in TestMain so that it is stopped when the tests end.
func Firestore(tb testing.TB) *Emulator {
	tb.Helper()
	skipShort(tb)
	emu, err := sharedFirestore.get()
	require(tb, err)
	return emu
}

// PubSub is Firestore for the Pub/Sub emulator.
func PubSub(tb testing.TB) *Emulator {
	tb.Helper()
	skipShort(tb)
	emu, err := sharedPubSub.get()
	require(tb, err)
	return emu
}

// PrivateFirestore starts a Firestore emulator of the test's own, which the
// test may stop and restart; it is closed when the test ends. Missing
// emulators are handled as in Firestore.
func PrivateFirestore(tb testing.TB) *Emulator { tb.Helper(); return private(tb, firestoreKind) }

// PrivatePubSub is PrivateFirestore for the Pub/Sub emulator.
func PrivatePubSub(tb testing.TB) *Emulator { tb.Helper(); return private(tb, pubsubKind) }

func private(tb testing.TB, k kind) *Emulator {
	tb.Helper()
	skipShort(tb)
	emu, err := start(context.Background(), k, Options{})
	require(tb, err)
	if emu == nil {
		return nil // only reached with a TB whose Skip/Fatal return
	}
	tb.Cleanup(func() {
		if err := emu.Close(); err != nil {
			tb.Errorf("closing %s emulator: %v", k.name, err)
		}
	})
	return emu
}

// skipShort skips the test under -short, before any emulator starts:
// cloudbuild.yaml runs `go test -short ./...` in an image without them.
func skipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: the emulator tests need the gcloud emulators and Java")
	}
}

// require skips (or, with CI=true, fails) on ErrNotInstalled and fails on
// any other error.
func require(tb testing.TB, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true":
		tb.Skip(err)
	default:
		tb.Fatal(err)
	}
}

// Main runs the tests, stops the shared emulators and exits with the tests'
// code: call it from TestMain. It removes the emulators' logs when every
// test passed and prints where they are otherwise. Without Main the shared
// emulators still die with the test binary on Linux (Pdeathsig), but their
// temporary log directories stay behind.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that does more afterwards.
func Run(m *testing.M) int {
	code := m.Run()
	for _, s := range []*shared{sharedFirestore, sharedPubSub} {
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
