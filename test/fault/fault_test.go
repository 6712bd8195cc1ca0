package fault

import (
	"context"
	"os"
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
	r, res, _, w := rg.run(firestorePause(rg))

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
	r, res, seen, w := rg.run(firestoreKillRestart(rg))

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
	r, _, _, w := rg.run(publishRefused(rg, false))

	checkNothingLost(t, r)
	if r.Doubled != 0 {
		t.Errorf("%d deliveries published more than once after %v of refused publishes: want 0; %v", r.Doubled, sz.outage, r.DoubledIDs)
	}
	if n := rg.gate.Refused(); n == 0 || r.Status["503"] == 0 {
		t.Errorf("%d Publish RPCs refused, %d attempts answered 503: the fault missed the load", n, r.Status["503"])
	}
	t.Logf("%d Publish RPCs refused during %v; %d attempts answered 503", rg.gate.Refused(), w.to.Sub(w.from).Round(time.Millisecond), r.Status["503"])
}

func TestFirestoreOutage(t *testing.T) {
	sz := sizeOf(t)
	if !sz.full {
		t.Skip("full size only (GEMINIHOOK_FAULT_FULL=1)")
	}
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, res, seen, _ := rg.run(firestoreOutage(rg))

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
	r, res, seen, _ := rg.run(pubSubPause(rg))

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

// TestPublishOutageThenScaleIn: every publish is refused (as in
// TestPublishRefused); before publishing works again, the instance that
// served the outage is replaced by a new one, as the platform stops an
// idle instance: the requests in flight on it are answered first, then it
// stops, and whatever it was still doing in the background ends with it
// (Cloud Run gives an instance CPU only while it serves requests, and
// stops idle ones). geminihook does nothing after its answer: a delivery
// it could not publish was answered 503 and is published by the new
// instance on Gemini's retry. Asserted: zero lost, zero doubled.
func TestPublishOutageThenScaleIn(t *testing.T) {
	sz := sizeOf(t)
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	rg := newRig(t, sz, fs, ps)
	r, _, _, _ := rg.run(publishRefused(rg, true))

	checkNothingLost(t, r)
	if r.Doubled != 0 {
		t.Errorf("%d deliveries published more than once: want 0; %v", r.Doubled, r.DoubledIDs)
	}
	if r.Status["503"] == 0 {
		t.Errorf("no attempt was answered 503 while publishing was refused: the fault missed the load")
	}
}

// TestNaive runs the scenarios above against the naive receiver of
// bench/naive (the receiver a developer would write from Google's samples)
// and records what it does: lost, doubled, answered 5xx, and acknowledged
// before its event was out. Nothing is asserted of it but that no forgery
// is published and that the faults met the load. It is opt-in
// (GEMINIHOOK_FAULT_NAIVE=1: test/fault/loadbench sets it), at the size in
// effect.
func TestNaive(t *testing.T) {
	if os.Getenv("GEMINIHOOK_FAULT_NAIVE") != "1" {
		t.Skip("opt-in: GEMINIHOOK_FAULT_NAIVE=1 (test/fault/loadbench)")
	}
	sz := sizeOf(t)
	scenarios := []struct {
		name    string
		full    bool // full size only
		private bool // a Firestore emulator of its own
		fault   func(*rig) func() window
	}{
		{"FirestorePause", false, false, firestorePause},
		{"FirestoreKillRestart", false, true, firestoreKillRestart},
		{"PublishRefused", false, false, func(rg *rig) func() window { return publishRefused(rg, false) }},
		{"PublishOutageThenScaleIn", false, false, func(rg *rig) func() window { return publishRefused(rg, true) }},
		{"FirestoreOutage", true, false, firestoreOutage},
		{"PubSubPause", true, false, pubSubPause},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if sc.full && !sz.full {
				t.Skip("full size only (GEMINIHOOK_FAULT_FULL=1)")
			}
			fs, ps := emulator.Firestore(t), emulator.PubSub(t)
			if sc.private {
				fs = emulator.PrivateFirestore(t)
			}
			if sc.name == "PubSubPause" {
				ps = emulator.PrivatePubSub(t)
			}
			rg := newRigOf(t, sz, fs, ps, peerNaive)
			r, _, _, _ := rg.run(sc.fault(rg))
			if r.ForgedAccepted != 0 || r.ForgedPublished != 0 {
				t.Errorf("naive: %d forged deliveries accepted, %d published", r.ForgedAccepted, r.ForgedPublished)
			}
			t.Logf("naive, %s: %d of %d lost, %d doubled, %d lost at the sender, status %v",
				sc.name, r.Lost, r.Authentic, r.Doubled, r.LostAtSender, r.Status)
		})
	}
}

// The faults, for either receiver.

func firestorePause(rg *rig) func() window {
	return func() window { return pause(rg.t, rg.fs, rg.size.blip) }
}

func firestoreOutage(rg *rig) func() window {
	return func() window { return pause(rg.t, rg.fs, rg.size.outage) }
}

func pubSubPause(rg *rig) func() window {
	return func() window { return pause(rg.t, rg.ps, rg.size.outage) }
}

func firestoreKillRestart(rg *rig) func() window {
	return func() window {
		w := window{from: time.Now()}
		if err := rg.fs.Stop(); err != nil {
			rg.t.Errorf("killing the Firestore emulator: %v", err)
		}
		time.Sleep(rg.size.down)
		if err := rg.fs.Start(context.Background()); err != nil {
			rg.t.Errorf("starting the Firestore emulator again: %v", err)
		}
		w.to = time.Now()
		return w
	}
}

// publishRefused refuses every Publish RPC for the outage; with scaleIn,
// the instance is replaced (rig.replace) before publishing works again.
func publishRefused(rg *rig, scaleIn bool) func() window {
	return func() window {
		w := window{from: time.Now()}
		rg.gate.Set(true)
		time.Sleep(rg.size.outage)
		if scaleIn {
			rg.replace()
		}
		rg.gate.Set(false)
		w.to = time.Now()
		return w
	}
}
