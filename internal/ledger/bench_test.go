package ledger_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/ledger"
)

// benchSeq makes delivery ids unique across benchmark runs (-count).
var benchSeq atomic.Int64

// txLedger is the baseline: the same records written with read-then-write
// transactions, as a first reading of ARCHITECTURE.md would build it.
type txLedger struct {
	c    *firestore.Client
	coll *firestore.CollectionRef
}

func (x txLedger) claim(ctx context.Context, id string) (time.Time, error) {
	ref := x.coll.Doc(ledger.DocumentID(id))
	now := time.Now()
	var claimed time.Time
	err := x.c.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err == nil {
			if snap.Data()["state"] == "published" {
				return ledger.ErrPublished
			}
			return ledger.ErrInFlight
		}
		if status.Code(err) != codes.NotFound {
			return err
		}
		claimed = now
		return tx.Create(ref, map[string]any{
			"webhook_id": id, "state": "processing", "lease_until": now.Add(30 * time.Second), "attempts": 1,
			"event_type": "batch.succeeded", "first_seen_at": now, "expire_at": now.Add(7 * 24 * time.Hour),
		})
	})
	return claimed, err
}

func (x txLedger) complete(ctx context.Context, id string, claimed time.Time) error {
	ref := x.coll.Doc(ledger.DocumentID(id))
	return x.c.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		if lu, _ := snap.Data()["lease_until"].(time.Time); !lu.Equal(claimed.Add(30 * time.Second).Truncate(time.Microsecond)) {
			return ledger.ErrLeaseLost
		}
		return tx.Update(ref, []firestore.Update{
			{Path: "state", Value: "published"}, {Path: "published_at", Value: time.Now()}, {Path: "message_id", Value: "m"},
		})
	})
}

// BenchmarkFirestore compares the ledger (preconditioned single writes)
// with the transaction baseline on the emulator, per delivery: a new one
// (Claim + Complete) and a duplicate of a published one (Claim).
func BenchmarkFirestore(b *testing.B) {
	emu := emulator.Firestore(b)
	var calls emulator.Counter
	c := newClient(b, emu, &calls)
	ctx := context.Background()
	l := ledger.NewFirestore(c, ledger.Options{})
	tx := txLedger{c: c, coll: c.Collection("tx")}
	// Warm the connection and the emulator's JIT before measuring.
	for range 300 {
		id := "warm-" + strconv.FormatInt(benchSeq.Add(1), 10)
		if lz, err := l.Claim(ctx, ledger.Delivery{WebhookID: id}); err == nil {
			_ = l.Complete(ctx, lz, "m")
		}
		if claimed, err := tx.claim(ctx, id); err == nil {
			_ = tx.complete(ctx, id, claimed)
		}
	}
	rpcs := func(b *testing.B) {
		b.ReportMetric(float64(calls.Count(""))/float64(b.N), "rpcs/op")
	}

	b.Run("new/ledger", func(b *testing.B) {
		calls.Reset()
		for b.Loop() {
			id := "new-" + strconv.FormatInt(benchSeq.Add(1), 10)
			lz, err := l.Claim(ctx, ledger.Delivery{WebhookID: id, EventType: "batch.succeeded"})
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Complete(ctx, lz, "m"); err != nil {
				b.Fatal(err)
			}
		}
		rpcs(b)
	})
	b.Run("new/transactions", func(b *testing.B) {
		calls.Reset()
		for b.Loop() {
			id := "new-" + strconv.FormatInt(benchSeq.Add(1), 10)
			claimed, err := tx.claim(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if err := tx.complete(ctx, id, claimed); err != nil {
				b.Fatal(err)
			}
		}
		rpcs(b)
	})
	b.Run("duplicate/ledger", func(b *testing.B) {
		if lz, err := l.Claim(ctx, ledger.Delivery{WebhookID: "dup"}); err == nil {
			_ = l.Complete(ctx, lz, "m")
		}
		calls.Reset()
		for b.Loop() {
			if _, err := l.Claim(ctx, ledger.Delivery{WebhookID: "dup"}); !errors.Is(err, ledger.ErrPublished) {
				b.Fatal(err)
			}
		}
		rpcs(b)
	})
	b.Run("duplicate/transactions", func(b *testing.B) {
		if claimed, err := tx.claim(ctx, "dup"); err == nil {
			_ = tx.complete(ctx, "dup", claimed)
		}
		calls.Reset()
		for b.Loop() {
			if _, err := tx.claim(ctx, "dup"); !errors.Is(err, ledger.ErrPublished) {
				b.Fatal(err)
			}
		}
		rpcs(b)
	})
}

// BenchmarkMemory is the local mode's cost per new delivery.
func BenchmarkMemory(b *testing.B) {
	l := ledger.NewMemory(ledger.Options{})
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		lz, err := l.Claim(ctx, ledger.Delivery{WebhookID: "new-" + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Complete(ctx, lz, "m"); err != nil {
			b.Fatal(err)
		}
	}
}
