package fault

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/emulator"
)

// The Firestore scenarios that only pause the emulator use the shared one:
// the tests of this package run one at a time, and every pause ends with
// SIGCONT (in a Cleanup too), so the data survives and no other test sees
// the pause. Kills use an emulator of their own.

func TestFirestorePause(t *testing.T) {
	sz := sizeOf(t)
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, res, _, w := rg.run(func() window { return pause(t, fs, sz.blip) })

	checkNothingLost(t, r)
	if r.Doubled != 0 {
		t.Errorf("%d deliveries published more than once after a %v Firestore pause (shorter than the %v deadline): want 0; %v",
			r.Doubled, sz.blip, sz.deadline, r.DoubledIDs)
	}
	// The pause must have met the load: attempts in flight waited for it.
	n := waited(res, w, sz.blip/2)
	if n == 0 {
		t.Errorf("no attempt waited for the frozen Firestore (%v): the fault missed the load", sz.blip)
	}
	if ids := rg.logs.reported(couldNotMark); len(ids) > 0 {
		t.Errorf("%d deliveries reported %q after a pause shorter than the deadline", len(ids), couldNotMark)
	}
	t.Logf("%d attempts waited for the %v pause (latency max %.0f ms); %d answered 503", n, sz.blip, r.LatencyMillis.Max, r.Status["503"])
}

func TestFirestoreKillRestart(t *testing.T) {
	sz := sizeOf(t)
	fs, ps := emulator.PrivateFirestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, res, seen, w := rg.run(func() window {
		w := window{from: time.Now()}
		if err := fs.Stop(); err != nil {
			t.Errorf("killing the Firestore emulator: %v", err)
		}
		time.Sleep(sz.down)
		if err := fs.Start(context.Background()); err != nil {
			t.Errorf("starting the Firestore emulator again: %v", err)
		}
		w.to = time.Now()
		return w
	})

	checkNothingLost(t, r)
	// While it is down, the client retries until the emulator is back or
	// the request's deadline: attempts wait, or are answered 503.
	if n := waited(res, w, 250*time.Millisecond); n == 0 && r.Status["503"] == 0 {
		t.Errorf("no attempt waited or was answered 503 while Firestore was down (%v): the fault missed the load; status %v", w.to.Sub(w.from), r.Status)
	}
	// The restart wiped the ledger: only deliveries that had been sent
	// before it ended may be published again.
	byID := sendsByID(res)
	doubled := doubledIDs(res, seen)
	for _, id := range doubled {
		first := time.Time{}
		for _, s := range byID[id] {
			if len(s.Attempts) > 0 && (first.IsZero() || s.Attempts[0].Start.Before(first)) {
				first = s.Attempts[0].Start
			}
		}
		if !first.Before(w.to) {
			t.Errorf("%s published %d times though first sent %v after the restart ended", id, len(seen[id].Messages), first.Sub(w.to))
		}
	}
	t.Logf("Firestore down for %v (kill to ready), %d attempts answered 503; %d of %d deliveries published again after the restart wiped the ledger, every one sent before it",
		w.to.Sub(w.from).Round(time.Millisecond), r.Status["503"], len(doubled), r.Authentic)
}

func TestPublishRefused(t *testing.T) {
	sz := sizeOf(t)
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, _, _, w := rg.run(func() window {
		w := window{from: time.Now()}
		rg.gate.closed.Store(true)
		time.Sleep(sz.outage)
		rg.gate.closed.Store(false)
		w.to = time.Now()
		return w
	})

	checkNothingLost(t, r)
	if r.Doubled != 0 {
		t.Errorf("%d deliveries published more than once after %v of refused publishes: want 0; %v", r.Doubled, sz.outage, r.DoubledIDs)
	}
	if n := rg.gate.refused.Load(); n == 0 || r.Status["503"] == 0 {
		t.Errorf("%d Publish RPCs refused, %d attempts answered 503: the fault missed the load", n, r.Status["503"])
	}
	t.Logf("%d Publish RPCs refused during %v; %d attempts answered 503", rg.gate.refused.Load(), w.to.Sub(w.from).Round(time.Millisecond), r.Status["503"])
}

func TestFirestoreOutage(t *testing.T) {
	sz := sizeOf(t)
	if !sz.full {
		t.Skip("full size only (GEMINIHOOK_FAULT_FULL=1)")
	}
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, res, seen, _ := rg.run(func() window { return pause(t, fs, sz.outage) })

	checkNothingLost(t, r)
	if r.Status["503"] == 0 {
		t.Errorf("no attempt was answered 503 during a %v Firestore pause: the fault missed the load", sz.outage)
	}
	reported := rg.logs.reported(couldNotMark)
	doubled := doubledIDs(res, seen)
	for _, id := range doubled {
		if !reported[id] {
			t.Errorf("%s published %d times, but the function never reported %q for it", id, len(seen[id].Messages), couldNotMark)
		}
	}
	t.Logf("%d deliveries reported %q, %d of them published again by a later retry", len(reported), couldNotMark, len(doubled))
}

func TestPubSubPause(t *testing.T) {
	sz := sizeOf(t)
	if !sz.full {
		t.Skip("full size only (GEMINIHOOK_FAULT_FULL=1)")
	}
	fs, ps := emulator.Firestore(t), emulator.PrivatePubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, res, seen, _ := rg.run(func() window { return pause(t, ps, sz.outage) })

	checkNothingLost(t, r)
	if r.Status["503"] == 0 {
		t.Errorf("no attempt was answered 503 during a %v Pub/Sub pause: the fault missed the load", sz.outage)
	}
	byID := sendsByID(res)
	doubled := doubledIDs(res, seen)
	sort.Strings(doubled)
	for _, id := range doubled {
		had503 := false
		for _, s := range byID[id] {
			for _, a := range s.Attempts {
				had503 = had503 || a.Status == 503
			}
		}
		if !had503 {
			t.Errorf("%s published %d times without any send of it answered 503", id, len(seen[id].Messages))
		}
	}
	t.Logf("%d deliveries published again after a 503 whose publish landed once the server thawed", len(doubled))
}
