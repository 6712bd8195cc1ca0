package geminihook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/verify"
)

// discardExporter drops spans: the cost measured is the handler's and the
// SDK's, not an exporter's network.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing is one new delivery through the handler (in-memory
// ledger, a recording publisher, httptest recorder) with tracing off (the
// no-op tracer), and on with every trace sampled and exported in batches
// as in production (to an exporter that drops them), and on with this
// delivery not sampled. Reproduce:
//
//	go test -run '^$' -bench BenchmarkTracing -count 10 . | benchstat -col /tracing -
func BenchmarkTracing(b *testing.B) {
	now := func() time.Time { return testNow }
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(testSecret), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(batchBody)
	for _, tc := range []struct {
		name   string
		tracer trace.Tracer
	}{
		{"off", nil},
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}),
			sdktrace.WithSampler(sdktrace.AlwaysSample())).Tracer("bench")},
		// Tracing on, this delivery not sampled: the usual case in
		// production (GEMINIHOOK_TRACE_SAMPLE_RATIO 0.1).
		{"unsampled", sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}),
			sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("bench")},
	} {
		b.Run("tracing="+tc.name, func(b *testing.B) {
			h := NewHandler(Deps{
				Verifier: v, Ledger: ledger.NewMemory(ledger.Options{Now: now}), Publisher: &recorder{}, Now: now,
				Tracer: tc.tracer, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			})
			sign := func(i int) (*httptest.ResponseRecorder, func()) {
				hd := signV1(b, testSecret, "msg_bench_"+strconv.Itoa(i), testNow, body)
				r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
				for k, vs := range hd {
					r.Header[k] = vs
				}
				r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				w := httptest.NewRecorder()
				return w, func() { h.ServeHTTP(w, r) }
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				w, serve := sign(i)
				b.StartTimer()
				serve()
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
