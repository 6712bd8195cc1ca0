package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/ledger"
)

// ledgerAPI is what the handler and the CLI use of a ledger.
type ledgerAPI interface {
	Claim(ctx context.Context, d ledger.Delivery) (*ledger.Lease, error)
	Complete(ctx context.Context, l *ledger.Lease, messageID string) error
	Release(ctx context.Context, l *ledger.Lease) error
	Lookup(ctx context.Context, webhookID string) (*ledger.Record, error)
}

var (
	_ ledgerAPI = (*ledger.Memory)(nil)
	_ ledgerAPI = (*ledger.Firestore)(nil)
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var start = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{t: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// delivery returns a delivery whose id is unique to the test and holds
// characters Firestore does not allow in document ids.
func delivery(t *testing.T) ledger.Delivery {
	return ledger.Delivery{
		WebhookID: "msg_/" + t.Name(),
		EventType: "batch.succeeded",
		Envelope:  []byte(`{"type":"batch.succeeded","data":{"id":"batch_1"}}`),
	}
}

func claim(t *testing.T, l ledgerAPI, d ledger.Delivery) *ledger.Lease {
	t.Helper()
	lease, err := l.Claim(t.Context(), d)
	if err != nil {
		t.Fatalf("Claim(%q): %v", d.WebhookID, err)
	}
	return lease
}

func lookup(t *testing.T, l ledgerAPI, id string) *ledger.Record {
	t.Helper()
	rec, err := l.Lookup(t.Context(), id)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", id, err)
	}
	return rec
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

// testContract is the behaviour every ledger shares (ARCHITECTURE.md,
// "Ledger document"). newLedger returns an empty ledger with the default
// lease (30 s) and retention (7 days) and the given clock.
func testContract(t *testing.T, newLedger func(t *testing.T, now func() time.Time) ledgerAPI) {
	const lease, retention = ledger.DefaultLease, ledger.DefaultRetention

	t.Run("new then complete", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		got := claim(t, l, d)
		if got.WebhookID != d.WebhookID || got.Attempt != 1 || !got.Until.Equal(start.Add(lease)) {
			t.Errorf("lease = %+v, want attempt 1 until %v", got, start.Add(lease))
		}
		rec := lookup(t, l, d.WebhookID)
		want := ledger.Record{WebhookID: d.WebhookID, State: ledger.StateProcessing, LeaseUntil: start.Add(lease),
			Attempts: 1, EventType: d.EventType, FirstSeenAt: start, Envelope: d.Envelope, ExpireAt: start.Add(retention)}
		assertRecord(t, rec, want)

		clk.Advance(time.Second)
		if err := l.Complete(t.Context(), got, "m-1"); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		want.State, want.PublishedAt, want.MessageID = ledger.StatePublished, start.Add(time.Second), "m-1"
		assertRecord(t, lookup(t, l, d.WebhookID), want)
	})

	t.Run("a token is good for one delivery", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		d.Token = "tok-" + d.WebhookID
		first := claim(t, l, d)
		// The same token for another delivery: refused, nothing recorded.
		other := delivery(t)
		other.WebhookID += "#other"
		other.Token = d.Token
		_, err := l.Claim(t.Context(), other)
		wantErr(t, "Claim(other id, same token)", err, ledger.ErrTokenReused)
		if _, err := l.Lookup(t.Context(), other.WebhookID); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("Lookup(other) after a refused token = %v, want ErrNotFound", err)
		}
		// The same delivery with the same token (a retry): the usual answers.
		_, err = l.Claim(t.Context(), d)
		wantErr(t, "Claim(same id, same token) in flight", err, ledger.ErrInFlight)
		if err := l.Complete(t.Context(), first, "m-1"); err != nil {
			t.Fatal(err)
		}
		_, err = l.Claim(t.Context(), d)
		wantErr(t, "Claim(same id, same token) published", err, ledger.ErrPublished)
		// A duplicate that brings a fresh token binds it: that token cannot
		// carry another delivery afterwards either.
		dup := d
		dup.Token = "fresh-" + d.WebhookID
		_, err = l.Claim(t.Context(), dup)
		wantErr(t, "Claim(duplicate, fresh token)", err, ledger.ErrPublished)
		other.Token = dup.Token
		_, err = l.Claim(t.Context(), other)
		wantErr(t, "Claim(other id, token of a duplicate)", err, ledger.ErrTokenReused)
		// Deliveries without a token are not affected.
		other.Token = ""
		claim(t, l, other)
	})

	t.Run("concurrent claims of one token", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		const n = 8
		tok := "tok-" + delivery(t).WebhookID
		var wg sync.WaitGroup
		var won, reused atomic.Int32
		for i := range n {
			d := delivery(t)
			d.WebhookID += "#" + strconv.Itoa(i)
			d.Token = tok
			wg.Go(func() {
				_, err := l.Claim(t.Context(), d)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, ledger.ErrTokenReused):
					reused.Add(1)
				default:
					t.Errorf("Claim: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || reused.Load() != n-1 {
			t.Errorf("one token, %d deliveries: %d claimed, %d refused; want 1, %d", n, won.Load(), reused.Load(), n-1)
		}
	})

	t.Run("duplicate of published", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		if err := l.Complete(t.Context(), claim(t, l, d), "m-1"); err != nil {
			t.Fatal(err)
		}
		for _, adv := range []time.Duration{0, lease, retention - lease} { // published until expire_at inclusive
			clk.Advance(adv)
			_, err := l.Claim(t.Context(), d)
			wantErr(t, "Claim of published", err, ledger.ErrPublished)
		}
	})

	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		first := claim(t, l, d)
		clk.Advance(lease - time.Microsecond)
		_, err := l.Claim(t.Context(), d)
		wantErr(t, "second Claim", err, ledger.ErrInFlight)
		var ife *ledger.InFlightError
		if !errors.As(err, &ife) || !ife.LeaseUntil.Equal(first.Until) {
			t.Errorf("second Claim = %#v, want *InFlightError until %v", err, first.Until)
		}
		if rec := lookup(t, l, d.WebhookID); rec.Attempts != 1 {
			t.Errorf("attempts after a refused claim = %d, want 1", rec.Attempts)
		}
	})

	t.Run("takeover after lease expiry", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		old := claim(t, l, d)
		clk.Advance(lease)
		taken := claim(t, l, d)
		if taken.Attempt != 2 || !taken.Until.Equal(start.Add(2*lease)) {
			t.Errorf("takeover lease = %+v, want attempt 2 until %v", taken, start.Add(2*lease))
		}
		wantErr(t, "Complete by old holder", l.Complete(t.Context(), old, "m-old"), ledger.ErrLeaseLost)
		wantErr(t, "Release by old holder", l.Release(t.Context(), old), ledger.ErrLeaseLost)
		if err := l.Complete(t.Context(), taken, "m-new"); err != nil {
			t.Fatalf("Complete by new holder: %v", err)
		}
		rec := lookup(t, l, d.WebhookID)
		if rec.State != ledger.StatePublished || rec.MessageID != "m-new" || rec.Attempts != 2 || !rec.FirstSeenAt.Equal(start) {
			t.Errorf("record = %+v, want published m-new, 2 attempts, first seen %v", rec, start)
		}
	})

	t.Run("complete after lease time without takeover", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		lz := claim(t, l, delivery(t))
		clk.Advance(10 * lease)
		if err := l.Complete(t.Context(), lz, "m-late"); err != nil {
			t.Errorf("late Complete with nobody taking over: %v", err)
		}
	})

	t.Run("complete is repeatable with the same message id", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		lz := claim(t, l, delivery(t))
		if err := l.Complete(t.Context(), lz, "m-1"); err != nil {
			t.Fatal(err)
		}
		if err := l.Complete(t.Context(), lz, "m-1"); err != nil {
			t.Errorf("repeated Complete: %v", err)
		}
		wantErr(t, "Complete with another message id", l.Complete(t.Context(), lz, "m-2"), ledger.ErrLeaseLost)
		wantErr(t, "Release after Complete", l.Release(t.Context(), lz), ledger.ErrLeaseLost)
		if rec := lookup(t, l, lz.WebhookID); rec.State != ledger.StatePublished || rec.MessageID != "m-1" {
			t.Errorf("record = %+v, want published m-1", rec)
		}
	})

	t.Run("release then reclaim", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		first := claim(t, l, d)
		clk.Advance(time.Second)
		if err := l.Release(t.Context(), first); err != nil {
			t.Fatalf("Release: %v", err)
		}
		rec := lookup(t, l, d.WebhookID)
		if rec.State != ledger.StateProcessing || rec.Attempts != 1 || !rec.LeaseUntil.Equal(start.Add(time.Second)) {
			t.Errorf("released record = %+v, want processing, 1 attempt, lease until now", rec)
		}
		wantErr(t, "second Release", l.Release(t.Context(), first), ledger.ErrLeaseLost)
		again := claim(t, l, d) // at once, same clock
		if again.Attempt != 2 {
			t.Errorf("reclaim attempt = %d, want 2", again.Attempt)
		}
		wantErr(t, "Complete by released holder", l.Complete(t.Context(), first, "m-1"), ledger.ErrLeaseLost)
		if err := l.Complete(t.Context(), again, "m-2"); err != nil {
			t.Errorf("Complete after reclaim: %v", err)
		}
	})

	t.Run("expired record counts as absent", func(t *testing.T) {
		t.Parallel()
		for _, publish := range []bool{true, false} {
			clk := newClock()
			l := newLedger(t, clk.Now)
			d := delivery(t)
			old := claim(t, l, d)
			if publish {
				if err := l.Complete(t.Context(), old, "m-1"); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(retention)
			if _, err := l.Lookup(t.Context(), d.WebhookID); err != nil {
				t.Errorf("Lookup at expire_at: %v, want the record (expired means expire_at < now)", err)
			}
			clk.Advance(time.Microsecond)
			_, err := l.Lookup(t.Context(), d.WebhookID)
			wantErr(t, "Lookup after expire_at", err, ledger.ErrNotFound)
			d.Envelope = nil
			fresh := claim(t, l, d)
			now := start.Add(retention + time.Microsecond)
			if fresh.Attempt != 1 {
				t.Errorf("claim of expired record: attempt %d, want 1", fresh.Attempt)
			}
			assertRecord(t, lookup(t, l, d.WebhookID), ledger.Record{WebhookID: d.WebhookID, State: ledger.StateProcessing,
				LeaseUntil: now.Add(lease), Attempts: 1, EventType: d.EventType, FirstSeenAt: now, ExpireAt: now.Add(retention)})
			wantErr(t, "Complete by holder of expired record", l.Complete(t.Context(), old, "m-1"), ledger.ErrLeaseLost)
		}
	})

	t.Run("concurrent claims", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		d := delivery(t)
		const n = 20
		errs := make([]error, n)
		var leases sync.Map
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				lz, err := l.Claim(t.Context(), d)
				errs[i] = err
				if err == nil {
					leases.Store(i, lz)
				}
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, ledger.ErrInFlight), errors.Is(err, ledger.ErrPublished):
			default:
				t.Errorf("claim %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d of %d concurrent claims got a lease, want exactly 1", won, n)
		}
	})

	t.Run("concurrent takeovers", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newLedger(t, clk.Now)
		d := delivery(t)
		claim(t, l, d)
		clk.Advance(lease)
		const n = 10
		var won sync.Map
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				lz, err := l.Claim(t.Context(), d)
				switch {
				case err == nil:
					won.Store(i, lz.Attempt)
				case !errors.Is(err, ledger.ErrInFlight):
					t.Errorf("takeover %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		count := 0
		won.Range(func(_, attempt any) bool {
			count++
			if attempt != 2 {
				t.Errorf("takeover attempt = %v, want 2", attempt)
			}
			return true
		})
		if count != 1 {
			t.Errorf("%d of %d concurrent takeovers won, want exactly 1", count, n)
		}
	})

	t.Run("envelope stored only under 256 KiB", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		for _, tc := range []struct {
			size   int
			stored bool
		}{{0, false}, {1, true}, {ledger.MaxEnvelope - 1, true}, {ledger.MaxEnvelope, false}, {1 << 20, false}} {
			d := ledger.Delivery{WebhookID: fmt.Sprintf("%s/%d", t.Name(), tc.size), Envelope: bytes.Repeat([]byte{'e'}, tc.size)}
			claim(t, l, d)
			rec := lookup(t, l, d.WebhookID)
			if got := rec.Envelope != nil; got != tc.stored || (tc.stored && !bytes.Equal(rec.Envelope, d.Envelope)) {
				t.Errorf("envelope of %d bytes: stored %v (%d bytes), want %v", tc.size, got, len(rec.Envelope), tc.stored)
			}
		}
	})

	t.Run("odd webhook ids", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		for _, id := range []string{"/", "a/b/c", "..", "__name__", strings.Repeat("long", 1000), "ünïcødé\x00"} {
			lz := claim(t, l, ledger.Delivery{WebhookID: id})
			if err := l.Complete(t.Context(), lz, "m"); err != nil {
				t.Errorf("Complete(%.20q): %v", id, err)
			}
			if rec := lookup(t, l, id); rec.WebhookID != id {
				t.Errorf("Lookup(%.20q).WebhookID = %.20q", id, rec.WebhookID)
			}
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		_, err := l.Claim(t.Context(), ledger.Delivery{})
		wantErr(t, "Claim with empty id", err, ledger.ErrInvalid)
		wantErr(t, "Complete(nil)", l.Complete(t.Context(), nil, "m"), ledger.ErrLeaseLost)
		wantErr(t, "Release(nil)", l.Release(t.Context(), nil), ledger.ErrLeaseLost)
		wantErr(t, "Complete(zero lease)", l.Complete(t.Context(), &ledger.Lease{WebhookID: "x"}, "m"), ledger.ErrLeaseLost)
		foreign, err := ledger.NewMemory(ledger.Options{}).Claim(t.Context(), delivery(t))
		if err != nil {
			t.Fatal(err)
		}
		claim(t, l, delivery(t))
		wantErr(t, "Complete(foreign lease)", l.Complete(t.Context(), foreign, "m"), ledger.ErrLeaseLost)
		_, err = l.Lookup(t.Context(), "never-seen")
		wantErr(t, "Lookup(unknown)", err, ledger.ErrNotFound)
	})

	t.Run("ended context", func(t *testing.T) {
		t.Parallel()
		l := newLedger(t, newClock().Now)
		lz := claim(t, l, delivery(t))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := l.Claim(ctx, ledger.Delivery{WebhookID: "other"})
		wantErr(t, "Claim", err, ledger.ErrUnavailable)
		wantErr(t, "Complete", l.Complete(ctx, lz, "m"), ledger.ErrUnavailable)
		wantErr(t, "Release", l.Release(ctx, lz), ledger.ErrUnavailable)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Claim error %v does not wrap context.Canceled", err)
		}
	})
}

func assertRecord(t *testing.T, got *ledger.Record, want ledger.Record) {
	t.Helper()
	ok := got.WebhookID == want.WebhookID && got.State == want.State && got.LeaseUntil.Equal(want.LeaseUntil) &&
		got.Attempts == want.Attempts && got.EventType == want.EventType && got.FirstSeenAt.Equal(want.FirstSeenAt) &&
		got.PublishedAt.Equal(want.PublishedAt) && got.MessageID == want.MessageID &&
		bytes.Equal(got.Envelope, want.Envelope) && got.ExpireAt.Equal(want.ExpireAt)
	if !ok {
		t.Errorf("record =\n%+v\nwant\n%+v", *got, want)
	}
}

func TestMemoryContract(t *testing.T) {
	testContract(t, func(t *testing.T, now func() time.Time) ledgerAPI {
		return ledger.NewMemory(ledger.Options{Now: now})
	})
}

func TestMemorySweepsExpired(t *testing.T) {
	clk := newClock()
	m := ledger.NewMemory(ledger.Options{Now: clk.Now, Retention: time.Hour})
	if _, err := m.Claim(t.Context(), ledger.Delivery{WebhookID: "old"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if _, err := m.Claim(t.Context(), ledger.Delivery{WebhookID: "new"}); err != nil {
		t.Fatal(err)
	}
	if n := ledger.MemoryLen(m); n != 1 {
		t.Errorf("records after sweep = %d, want 1", n)
	}
}

func TestInFlightError(t *testing.T) {
	err := error(&ledger.InFlightError{LeaseUntil: start})
	if !errors.Is(err, ledger.ErrInFlight) || errors.Is(err, ledger.ErrPublished) {
		t.Errorf("errors.Is(InFlightError): ErrInFlight %v, ErrPublished %v", errors.Is(err, ledger.ErrInFlight), errors.Is(err, ledger.ErrPublished))
	}
	if got, want := err.Error(), "ledger: delivery in flight until 2026-01-22T12:00:00Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDocumentID(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		if got := ledger.DocumentID(tc.id); got != tc.want {
			t.Errorf("DocumentID(%q) = %s, want %s", tc.id, got, tc.want)
		}
	}
}
