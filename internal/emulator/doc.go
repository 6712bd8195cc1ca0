// Package emulator starts the official Google Cloud Firestore and Pub/Sub
// emulators for tests, and counts the gRPC calls a client makes.
//
// It is test support: production code never imports it. Tests of any package
// (and the suites under /test) use it like this:
//
//	func TestMain(m *testing.M) { emulator.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		emu := emulator.Firestore(t) // shared by the test binary; skips under -short, fails when not installed
//		var calls emulator.Counter
//		client, err := firestore.NewClient(t.Context(), emulator.ProjectID(t), emu.ClientOptions(t, &calls)...)
//		...
//	}
//
// # Processes and orphans
//
// Each emulator runs in its own process group (Setpgid) so that Stop can kill
// the whole group with kill(-pgid, SIGKILL), children included. The Firestore
// launcher script (cloud_firestore_emulator) forks java instead of exec'ing
// it, so this package reads the script and runs the same java command line
// directly, which makes the JVM the direct child of the test binary; when the
// script cannot be understood it falls back to running the script. The
// Pub/Sub launcher exec's java, so it is run as is. On Linux the child also
// gets Pdeathsig=SIGKILL: the kernel kills the JVM when the test binary dies
// for any reason (os.Exit after a failed test, panic, test timeout, SIGKILL).
// Pdeathsig fires when the thread that forked the child exits, so the
// starting goroutine stays locked to its OS thread until the child is reaped.
// Main stops the shared instances on a normal exit as well and removes their
// log directory when every test passed (it prints the log path otherwise).
// In the script fallback only the group kill protects against orphans: a test
// binary killed by SIGKILL would then leave the JVM running.
//
// # Data between tests
//
// One emulator serves a whole test binary (about 2 s to start, about 275 MB
// for Firestore). Tests isolate their data by using their own project id
// (ProjectID) or by wiping a project (Emulator.Wipe, Firestore only).
// Stop or Restart loses all data: the emulators keep it in memory only.
//
// # Clients without environment variables
//
// Emulator.Dial and Emulator.ClientOptions build a gRPC connection to the
// emulator (plaintext; for Firestore with the "Authorization: Bearer owner"
// admin header that firestore.NewClient adds in emulator mode) and pass it with
// option.WithGRPCConn, so parallel tests never depend on the process-wide
// FIRESTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST. When FIRESTORE_EMULATOR_HOST
// is set, firestore.NewClient dials its own connection and puts it before the
// caller's options, so a Counter's grpc dial options are ignored there (a test
// in this package shows it); pass Emulator.ClientOptions instead.
//
// # Missing emulators, and -short
//
// A test that needs an emulator fails, never skips, when the emulators or
// Java are missing: Firestore, PubSub and the Private functions first call
// Check, whose one message names every missing part (the Firestore
// emulator, the Pub/Sub emulator, Java 17+) and how to install it (the
// Debian packages of Google's apt repository, or `gcloud components
// install`). `go test ./...` cannot print ok while the emulator suites
// quietly did nothing.
//
// Under `go test -short`, the documented way to run only the tests that
// need nothing installed, the same functions skip the test before anything
// starts (SkipShort does it for a test that must skip earlier), and Run
// prints after the tests how many it left out:
//
//	emulator: 12 tests skipped under -short: they need the Firestore/Pub/Sub emulators and Java; go test without -short runs them
//
// The go command shows that line for a package run in its own directory,
// with -v or -json; `go test -short ./...` prints only the ok line of a
// package that passed. After a run where parts were missing, Run prints how
// many tests failed for it, with the message.
package emulator
