package ledger_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
)

// TestDeliveryFacts: the scheme and the arrival time of a delivery are
// stored by the claim that creates the record (no other write), replaced
// by a takeover's, and cleared when an expired record starts over: what a
// replay needs to rebuild the published event. Both ledgers.
func TestDeliveryFacts(t *testing.T) {
	emu := emulator.Firestore(t)
	ledgers := map[string]func(now func() time.Time) ledgerAPI{
		"memory": func(now func() time.Time) ledgerAPI {
			return ledger.NewMemory(ledger.Options{Now: now, Retention: time.Hour})
		},
		"firestore": func(now func() time.Time) ledgerAPI {
			return ledger.NewFirestore(newClient(t, emu, nil), ledger.Options{Now: now, Retention: time.Hour})
		},
	}
	for name, newLedger := range ledgers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			l := newLedger(clk.Now)
			d := delivery(t)
			d.Scheme = "v1a"
			d.ReceivedAt = start.Add(-time.Second + 1234567*time.Nanosecond).In(time.FixedZone("CET", 3600))
			first := claim(t, l, d)
			rec := lookup(t, l, d.WebhookID)
			// Firestore keeps microseconds, in UTC.
			wantAt := d.ReceivedAt.UTC().Truncate(time.Microsecond)
			if rec.Scheme != "v1a" || !rec.ReceivedAt.Equal(wantAt) || rec.ReceivedAt.Location() != time.UTC {
				t.Errorf("after claim: scheme %q received_at %v, want v1a %v (UTC)", rec.Scheme, rec.ReceivedAt, wantAt)
			}

			// A takeover is the attempt whose event gets published.
			if err := l.Release(t.Context(), first); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			retry := d
			retry.Scheme, retry.ReceivedAt = "jwt", clk.Now()
			lz := claim(t, l, retry)
			if lz.Attempt != 2 {
				t.Fatalf("takeover attempt %d, want 2", lz.Attempt)
			}
			if err := l.Complete(t.Context(), lz, "m-1"); err != nil {
				t.Fatal(err)
			}
			rec = lookup(t, l, d.WebhookID)
			if rec.Scheme != "jwt" || !rec.ReceivedAt.Equal(retry.ReceivedAt) {
				t.Errorf("after takeover: scheme %q received_at %v, want jwt %v", rec.Scheme, rec.ReceivedAt, retry.ReceivedAt)
			}

			// An expired record starts over as a new one, without the old facts.
			clk.Advance(2 * time.Hour)
			bare := d
			bare.Scheme, bare.ReceivedAt = "", time.Time{}
			claim(t, l, bare)
			rec = lookup(t, l, d.WebhookID)
			if rec.Scheme != "" || !rec.ReceivedAt.IsZero() {
				t.Errorf("after expiry: scheme %q received_at %v, want none", rec.Scheme, rec.ReceivedAt)
			}
		})
	}
}

// TestFirestoreList: List reads the records of a first_seen_at range in
// order (first_seen_at, then document id), page by page, leaving out the
// token bindings that share the collection and expired records; a page's
// Next, or its String form, resumes after the last document read.
func TestFirestoreList(t *testing.T) {
	t.Parallel()
	c := newClient(t, emulator.Firestore(t), nil)
	clk := newClock()
	l := ledger.NewFirestore(c, ledger.Options{Now: clk.Now, Retention: 48 * time.Hour})

	// Eight deliveries one minute apart; two share a minute (order by
	// document id); one is authenticated by a token (its binding has the
	// same first_seen_at); one is never completed.
	type want struct {
		id    string
		at    time.Time
		state ledger.State
	}
	var all []want
	for i := range 8 {
		if i != 3 { // deliveries 2 and 3 in the same minute
			clk.Advance(time.Minute)
		}
		d := ledger.Delivery{WebhookID: fmt.Sprintf("msg_list_%d", i), EventType: "batch.succeeded",
			Envelope: []byte(`{"type":"batch.succeeded"}`), Scheme: "v1", ReceivedAt: clk.Now()}
		if i == 5 {
			d.Token, d.Scheme = "token-of-5", "jwt"
		}
		lz := claim(t, l, d)
		st := ledger.StateProcessing
		if i != 6 {
			if err := l.Complete(t.Context(), lz, "m"); err != nil {
				t.Fatal(err)
			}
			st = ledger.StatePublished
		}
		all = append(all, want{d.WebhookID, clk.Now(), st})
	}
	slices.SortStableFunc(all, func(a, b want) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(ledger.DocumentID(a.id), ledger.DocumentID(b.id))
	})

	// listAll pages through r with pages of n documents.
	listAll := func(t *testing.T, r ledger.Range, n int) (got []want, pages int, last ledger.Cursor) {
		t.Helper()
		r.Limit = n
		for {
			p, err := l.List(t.Context(), r)
			if err != nil {
				t.Fatalf("List(%+v): %v", r, err)
			}
			pages++
			for _, rec := range p.Records {
				got = append(got, want{rec.WebhookID, rec.FirstSeenAt, rec.State})
				if rec.Cursor().DocumentID != ledger.DocumentID(rec.WebhookID) {
					t.Errorf("Cursor of %s = %v", rec.WebhookID, rec.Cursor())
				}
			}
			last = p.Next
			if p.Done {
				return got, pages, last
			}
			if pages > 20 {
				t.Fatal("List does not end")
			}
			r.After = p.Next
		}
	}

	t.Run("everything in pages", func(t *testing.T) {
		got, pages, _ := listAll(t, ledger.Range{Since: start}, 3)
		if !slices.Equal(got, all) {
			t.Errorf("records =\n%v\nwant\n%v", got, all)
		}
		// 8 records and 1 token binding: 9 documents, 3 pages of 3 and an empty one.
		if pages != 4 {
			t.Errorf("%d pages of 3 for 9 documents, want 4", pages)
		}
	})

	t.Run("since included, until excluded", func(t *testing.T) {
		r := ledger.Range{Since: all[2].at, Until: all[6].at}
		got, _, _ := listAll(t, r, 100)
		var w []want
		for _, a := range all {
			if !a.at.Before(r.Since) && a.at.Before(r.Until) {
				w = append(w, a)
			}
		}
		if len(w) < 3 || !slices.Equal(got, w) {
			t.Errorf("records in [%v, %v) =\n%v\nwant\n%v", r.Since, r.Until, got, w)
		}
	})

	t.Run("resume from a cursor", func(t *testing.T) {
		p, err := l.List(t.Context(), ledger.Range{Since: start, Limit: 4})
		if err != nil || p.Done {
			t.Fatalf("first page: %+v, %v", p, err)
		}
		text := p.Next.String()
		after, err := ledger.ParseCursor(text)
		if err != nil || after != p.Next {
			t.Fatalf("ParseCursor(%q) = %+v, %v; want %+v", text, after, err, p.Next)
		}
		rest, _, _ := listAll(t, ledger.Range{Since: start, After: after}, 100)
		var first []want
		for _, rec := range p.Records {
			first = append(first, want{rec.WebhookID, rec.FirstSeenAt, rec.State})
		}
		if got := append(first, rest...); !slices.Equal(got, all) {
			t.Errorf("first page + resumed =\n%v\nwant\n%v", got, all)
		}
	})

	t.Run("expired records are left out", func(t *testing.T) {
		// The clock is at start+7m; at start+48h+2m30s the records first
		// seen at start+1m and +2m have expired.
		const skip = 48*time.Hour - 4*time.Minute - 30*time.Second
		clk.Advance(skip)
		defer clk.Advance(-skip)
		got, _, _ := listAll(t, ledger.Range{Since: start}, 100)
		if !slices.Equal(got, all[2:]) {
			t.Errorf("records =\n%v\nwant the unexpired\n%v", got, all[2:])
		}
	})

	t.Run("bad range", func(t *testing.T) {
		for _, r := range []ledger.Range{{Since: start, Until: start}, {Since: start, Until: start.Add(-time.Second)}, {Since: start, Limit: -1}} {
			if _, err := l.List(t.Context(), r); !errors.Is(err, ledger.ErrInvalid) {
				t.Errorf("List(%+v) = %v, want ErrInvalid", r, err)
			}
		}
	})
}

func TestParseCursor(t *testing.T) {
	c := ledger.Cursor{FirstSeenAt: time.Date(2026, 1, 22, 12, 0, 1, 500_000_000, time.UTC), DocumentID: ledger.DocumentID("msg_1")}
	got, err := ledger.ParseCursor(c.String())
	if err != nil || got != c {
		t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, err, c)
	}
	if (ledger.Cursor{}).String() != "" || !(ledger.Cursor{}).IsZero() {
		t.Error("the zero Cursor is not the empty string")
	}
	for _, s := range []string{"", "x", "2026-01-22T12:00:00Z", "2026-01-22T12:00:00Z/", "yesterday/abc", "2026-01-22T12:00:00Z/a/b", "2026-01-22T12:00:00Z/a b"} {
		if _, err := ledger.ParseCursor(s); !errors.Is(err, ledger.ErrInvalidCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrInvalidCursor", s, err)
		}
	}
}
