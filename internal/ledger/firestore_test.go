package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"

	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// newClient returns a client on the emulator in a project of the test's own.
func newClient(t testing.TB, emu *emulator.Emulator, calls *emulator.Counter) *firestore.Client {
	t.Helper()
	c, err := firestore.NewClient(context.Background(), emulator.ProjectID(t), emu.ClientOptions(t, calls)...)
	if err != nil {
		t.Fatalf("firestore.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFirestoreContract(t *testing.T) {
	emu := emulator.Firestore(t)
	testContract(t, func(t *testing.T, now func() time.Time) ledgerAPI {
		return ledger.NewFirestore(newClient(t, emu, nil), ledger.Options{Now: now})
	})
}

// TestFirestoreDocument checks the stored document against the contract:
// collection, document id and field names and types.
func TestFirestoreDocument(t *testing.T) {
	t.Parallel()
	c := newClient(t, emulator.Firestore(t), nil)
	clk := newClock()
	l := ledger.NewFirestore(c, ledger.Options{Collection: "deliveries", Now: clk.Now, Lease: time.Minute, Retention: time.Hour})
	d := ledger.Delivery{WebhookID: "msg_a/b", EventType: "video.generated", Envelope: []byte(`{"type":"video.generated"}`)}
	lz := claim(t, l, d)
	if err := l.Complete(t.Context(), lz, "m-1"); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collection("deliveries").Doc(ledger.DocumentID(d.WebhookID)).Get(t.Context())
	if err != nil {
		t.Fatalf("document not at deliveries/%s: %v", ledger.DocumentID(d.WebhookID), err)
	}
	want := map[string]any{
		"webhook_id":    d.WebhookID,
		"state":         "published",
		"lease_until":   start.Add(time.Minute),
		"attempts":      int64(1),
		"event_type":    d.EventType,
		"first_seen_at": start,
		"published_at":  start,
		"message_id":    "m-1",
		"envelope":      d.Envelope,
		"expire_at":     start.Add(time.Hour),
	}
	got := snap.Data()
	if keys(got) != keys(want) {
		t.Errorf("fields = %s, want %s", keys(got), keys(want))
	}
	for k, w := range want {
		g := got[k]
		if gt, ok := g.(time.Time); ok {
			g = gt.UTC()
		}
		if fmt.Sprintf("%T %v", g, g) != fmt.Sprintf("%T %v", w, w) {
			t.Errorf("%s = %T %v, want %T %v", k, g, g, w, w)
		}
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

// TestFirestoreRoundTrips counts the RPCs of each path against the emulator.
// The figures go to BENCHMARKS.md.
func TestFirestoreRoundTrips(t *testing.T) {
	t.Parallel()
	var calls emulator.Counter
	clk := newClock()
	l := ledger.NewFirestore(newClient(t, emulator.Firestore(t), &calls), ledger.Options{Now: clk.Now})
	ctx := t.Context()
	d := delivery(t)
	var lz, old *ledger.Lease
	steps := []struct {
		name string
		run  func() error
		want int // RPCs
	}{
		{"new: Claim", func() (err error) { lz, err = l.Claim(ctx, d); return err }, 1},
		{"new: Complete", func() error { return l.Complete(ctx, lz, "m-1") }, 1},
		{"duplicate of published: Claim", func() error { return want(l.Claim(ctx, d))(ledger.ErrPublished) }, 2},
		{"in flight: Claim", func() (err error) {
			d.WebhookID += "-2"
			if old, err = l.Claim(ctx, d); err != nil {
				return err
			}
			calls.Reset()
			return want(l.Claim(ctx, d))(ledger.ErrInFlight)
		}, 2},
		{"takeover: Claim", func() (err error) {
			clk.Advance(ledger.DefaultLease)
			lz, err = l.Claim(ctx, d)
			return err
		}, 3},
		{"Complete by old holder", func() error { return want[any](nil, l.Complete(ctx, old, "m-old"))(ledger.ErrLeaseLost) }, 2},
		{"Release", func() error { return l.Release(ctx, lz) }, 1},
		{"reclaim after Release", func() (err error) { lz, err = l.Claim(ctx, d); return err }, 3},
		{"Lookup", func() error { _, err := l.Lookup(ctx, d.WebhookID); return err }, 1},
		{"WarmUp", func() error { return l.WarmUp(ctx, "warm-up") }, 2},
	}
	var report strings.Builder
	for _, s := range steps {
		calls.Reset()
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		snap := calls.Snapshot()
		fmt.Fprintf(&report, "\n%-32s %d RPCs %v", s.name, calls.Count(""), snap)
		if got := calls.Count(""); got != s.want {
			t.Errorf("%s: %d RPCs %v, want %d", s.name, got, snap, s.want)
		}
	}
	t.Logf("Firestore RPCs per ledger operation (emulator):%s", report.String())
}

// want turns a Claim result into nil when it failed with target.
func want[T any](_ T, err error) func(target error) error {
	return func(target error) error {
		if errors.Is(err, target) {
			return nil
		}
		return fmt.Errorf("got %v, want %v", err, target)
	}
}

// TestFirestoreWarmUp: WarmUp writes nothing, whether the record it names
// is absent or present (then it is left as it was, update time included).
func TestFirestoreWarmUp(t *testing.T) {
	t.Parallel()
	l := ledger.NewFirestore(newClient(t, emulator.Firestore(t), nil), ledger.Options{})
	ctx := t.Context()
	if err := l.WarmUp(ctx, "absent"); err != nil {
		t.Fatalf("WarmUp(absent) = %v", err)
	}
	if _, err := l.Lookup(ctx, "absent"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Lookup after WarmUp(absent) = %v, want ErrNotFound", err)
	}
	d := delivery(t)
	lz, err := l.Claim(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Complete(ctx, lz, "m-1"); err != nil {
		t.Fatal(err)
	}
	before, err := l.Lookup(ctx, d.WebhookID)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WarmUp(ctx, d.WebhookID); err != nil {
		t.Fatalf("WarmUp(present) = %v", err)
	}
	after, err := l.Lookup(ctx, d.WebhookID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("record changed by WarmUp:\n%+v\n%+v", before, after)
	}
}

// TestFirestoreDeadPort: a Firestore that does not answer costs the caller
// no more than its deadline (the client retries UNAVAILABLE until then).
func TestFirestoreDeadPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	conn, err := emulator.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // not defer: the subtests run after this function returns
	c, err := firestore.NewClient(t.Context(), "p-dead", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.NewFirestore(c, ledger.Options{})
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Claim", func(ctx context.Context) error { _, err := l.Claim(ctx, delivery(t)); return err }},
		{"Lookup", func(ctx context.Context) error { _, err := l.Lookup(ctx, "x"); return err }},
		{"WarmUp", func(ctx context.Context) error { return l.WarmUp(ctx, "x") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const deadline = time.Second
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			begin := time.Now()
			err := tc.call(ctx)
			elapsed := time.Since(begin)
			if !errors.Is(err, ledger.ErrUnavailable) {
				t.Errorf("%s = %v, want ErrUnavailable", tc.name, err)
			}
			if elapsed < deadline-100*time.Millisecond || elapsed > deadline+500*time.Millisecond {
				t.Errorf("%s took %v with a %v deadline: want it to retry until about the deadline, not beyond", tc.name, elapsed, deadline)
			}
			t.Logf("%s against a dead port: %v after %v", tc.name, err, elapsed.Round(time.Millisecond))
		})
	}
}

// TestFirestoreRestart stops the emulator under a held lease and brings it
// back on the same port: calls fail within their deadline while it is down,
// and the client recovers after the restart (the emulator loses its data).
func TestFirestoreRestart(t *testing.T) {
	emulator.SkipShort(t) // counted in the -short summary
	t.Parallel()
	emu := emulator.PrivateFirestore(t)
	l := ledger.NewFirestore(newClient(t, emu, nil), ledger.Options{})
	d := delivery(t)
	lz := claim(t, l, d)
	if err := emu.Stop(); err != nil {
		t.Fatal(err)
	}
	const deadline = time.Second
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Claim", func(ctx context.Context) error {
			_, err := l.Claim(ctx, ledger.Delivery{WebhookID: "other"})
			return err
		}},
		{"Complete", func(ctx context.Context) error { return l.Complete(ctx, lz, "m-1") }},
		{"Release", func(ctx context.Context) error { return l.Release(ctx, lz) }},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		begin := time.Now()
		err := tc.call(ctx)
		elapsed := time.Since(begin)
		cancel()
		if !errors.Is(err, ledger.ErrUnavailable) || elapsed > deadline+500*time.Millisecond {
			t.Errorf("%s while stopped = %v after %v, want ErrUnavailable within %v", tc.name, err, elapsed, deadline)
		}
	}
	if err := emu.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.Complete(ctx, lz, "m-1"); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Errorf("Complete after restart = %v, want ErrLeaseLost (record lost with the emulator's data)", err)
	}
	again, err := l.Claim(ctx, d)
	if err != nil || again.Attempt != 1 {
		t.Errorf("Claim after restart = %+v, %v; want a fresh lease (attempt 1)", again, err)
	}
}
