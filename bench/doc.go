// Package bench holds geminihook's benchmarks that compare the whole
// webhook receiver with its baseline, a bare functions-framework function
// that reads the body and answers 200 (Bare), in the same run:
//
//   - BenchmarkRecorder: one request at a time through httptest.NewRecorder
//     (time, process CPU and allocations per request);
//   - BenchmarkLoopback: requests per second over loopback HTTP, both
//     functions served by functions-framework-go in this process;
//   - the coldstart command: process start to the first 200 of the built
//     Cloud Function entry point beside a built bare function.
//
// geminihook runs with its real parts: verify.Verifier (v1 HMAC with a
// static secret), ledger.Memory and publish.Publisher on an in-process
// pstest server; "geminihook-nopubsub" is the same with a counter as its
// Publisher, to tell the handler's own cost from Pub/Sub's. Every delivery
// of the "new" benchmarks has a new webhook-id; the "duplicate" benchmarks
// re-send one published delivery. TestFixture checks that the benchmarks
// measure 200s that publish, not an error path.
//
// bench/run reproduces every figure of BENCHMARKS.md that comes from here,
// in one command, and keeps the raw outputs in bench/results.
package bench
