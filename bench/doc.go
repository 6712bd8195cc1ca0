// Package bench holds geminihook's benchmarks that compare the whole
// webhook receiver with its baselines in the same run:
//
//   - BenchmarkRecorder: one request at a time through httptest.NewRecorder
//     (time, CPU and allocations per request), beside a bare
//     functions-framework function that reads the body and answers 200
//     (Bare);
//   - BenchmarkLoopback: requests per second over loopback HTTP, both
//     functions served by functions-framework-go in this process;
//   - the coldstart command: process start to the first 200 of the built
//     function beside a built bare function, and the first delivery of an
//     instance against its second;
//   - the naive receiver (package naive), what a developer would write from
//     Google's samples, loaded beside geminihook on the official emulators
//     by test/fault/loadbench and put through the fault suite (test/fault).
//
// In BenchmarkRecorder and BenchmarkLoopback geminihook runs with its real
// parts: verify.Verifier (v1 HMAC with a static secret), ledger.Memory and
// publish.Publisher on a pstest server, in this process ("geminihook") or
// in a child process ("geminihook-remote": closer to production, where
// Pub/Sub's side of the call is not the function's); "geminihook-nopubsub"
// is the same with a counter as its Publisher, to tell the handler's own
// cost from Pub/Sub's. Every delivery of the "new" benchmarks has a new
// webhook-id; the "duplicate" benchmarks re-send one published delivery.
// TestFixture checks that the benchmarks measure 200s that publish, not an
// error path.
//
// The function binaries (coldstart/function, naive/function) share
// internal/benchfn: their clients on the emulators, a loopback Secret
// Manager (secretmanager, for scripts), and a side port with their gRPC call
// counts and CPU time.
//
// bench/run reproduces every figure of BENCHMARKS.md that comes from here,
// in one command, and keeps the raw outputs in bench/results.
package bench
