// Package fault is the fault suite of geminihook: the load of `geminihook
// load` (package internal/loadtest) runs against the production
// composition (geminihook.NewService: Firestore ledger on the official
// Firestore emulator, publisher on the official Pub/Sub emulator, secrets
// from a loopback Secret Manager, served by httptest on 127.0.0.1) while a
// backend fails, and a subscription made before the load checks what was
// published. The package holds tests only (and loadbench, the script of
// BENCHMARKS.md's "Load" and "against the naive receiver" sections).
//
// # Scenarios
//
//   - TestFirestorePause: the Firestore emulator is frozen (SIGSTOP, then
//     SIGCONT) for less than the request deadline: a blip. Requests wait
//     and go through; the data survives. Asserted: zero lost, zero
//     doubled, zero forged published.
//   - TestFirestoreKillRestart: the Firestore emulator is killed and
//     started again on its port. The emulator keeps its data in memory, so
//     the restart wipes the ledger: a delivery published before the kill
//     and retried after the restart (a duplicate send still waiting out a
//     409, a request whose Complete died with the emulator) is published
//     again, by design of an at-least-once receiver whose ledger forgot.
//     Asserted: zero lost; zero doubled among deliveries first sent after
//     the restart; every doubled delivery had an attempt before the
//     restart ended. The number doubled is logged.
//   - TestPublishRefused: every Publish RPC of the function is refused with
//     UNAVAILABLE at its gRPC connection to the emulator (an interceptor:
//     the request never reaches the server) for longer than the request
//     deadline, so deliveries are answered 503, released, and retried.
//     Asserted: zero lost, zero doubled, zero forged published. Refusing
//     before the server makes the outcome unambiguous; the production
//     wiring publishes with unary calls under the requests' contexts
//     (a shared call ends by the earliest deadline it carries), their
//     retries ending with the request, so no publish lands after its 503.
//   - TestPublishOutageThenScaleIn: as TestPublishRefused, and before
//     publishing works again the instance that served the outage is
//     replaced, as the platform stops an idle instance: the requests in
//     flight on it are answered, then it stops, and what it was still doing
//     in the background ends with it (Cloud Run gives an instance CPU only
//     while it serves requests). Asserted: zero lost, zero doubled, zero
//     forged published: geminihook does nothing after its answer.
//
// The full size adds two longer outages whose doubles are bounded, not
// zero:
//
//   - TestFirestoreOutage: Firestore frozen for longer than the request
//     deadline plus the handler's 2 s Complete retry. A delivery published
//     just before the freeze cannot be marked published; it is answered 200
//     and reported ("published but could not mark the delivery
//     published"), its record stays processing, and a duplicate send of it
//     that retries after the lease is published again. Asserted: zero lost;
//     every doubled delivery is one the function reported so.
//   - TestPubSubPause: the Pub/Sub emulator frozen for longer than the
//     request deadline. A Publish RPC already written to the frozen server
//     is processed when it thaws, after its request was answered 503 and
//     released: the retry publishes again. No client can tell such a
//     publish from a lost one. Asserted: zero lost; every doubled delivery
//     had a send answered 503.
//
// Consumers dedupe on ce-id (at-least-once), which makes the bounded
// doubles harmless; the suite shows where they come from and that nothing
// is lost.
//
// # Against the naive receiver
//
// TestNaive runs every scenario above (those of the size in effect) against
// the naive receiver of bench/naive, the receiver a developer would write
// from Google's samples, on the same emulators and rig, and records what it
// does without asserting it (only that no forgery is published):
// deliveries lost, doubled, answered 5xx, and seen on the subscription a
// second or more after their first 2xx (acknowledged before their event was
// out). It is opt-in, GEMINIHOOK_FAULT_NAIVE=1; with
// GEMINIHOOK_FAULT_SUMMARY=FILE every scenario, geminihook's too, appends
// its line of the comparison table to FILE. test/fault/loadbench sets both.
//
// # Sizes
//
// By default (go test ./...) each scenario sends a few hundred deliveries
// at 20 in flight with a 3 s request deadline and a 5 s lease, and the
// package runs in well under a minute. The full size, with the production
// deadline (8 s) and lease (30 s), thousands of deliveries at 50 in flight
// and the two long outages, runs with:
//
//	GEMINIHOOK_FAULT_FULL=1 go test ./test/fault -run . -v -timeout 20m
//
// Like every emulator suite it skips under -short and fails, naming what to
// install, when the emulators or Java are missing. TestNaive adds about
// three minutes at the default size (the naive receiver's requests wait for
// their publish up to the load's 30 s attempt timeout, and what it lost is
// waited for until the settle time).
package fault
