package cloudlog_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

// BenchmarkHandler compares the handler with slog.JSONHandler (the
// baselines, without and with AddSource: the handler always writes the
// call site) on the same logger calls, writing to io.Discard.
func BenchmarkHandler(b *testing.B) {
	handlers := []struct {
		name string
		h    slog.Handler
	}{
		{"cloudlog", cloudlog.NewHandler(io.Discard, &cloudlog.Options{ProjectID: "p"})},
		{"slogjson", slog.NewJSONHandler(io.Discard, nil)},
		{"slogjson-source", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{AddSource: true})},
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("User-Agent", "Gemini-Webhooks/1.0")
	ctx := cloudlog.WithTrace(context.Background(), http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	for _, h := range handlers {
		l := slog.New(h.h).With(cloudlog.Label("service", "geminihook"))
		b.Run("small/h="+h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "secrets: signing secrets loaded",
					slog.String("secret", "projects/p/secrets/s"), slog.Int("count", 2))
			}
		})
		b.Run("delivery/h="+h.name, func(b *testing.B) {
			b.ReportAllocs()
			req := cloudlog.HTTPRequest(r, 200, 52, 3*time.Millisecond)
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "delivery",
					req,
					slog.Float64("latency_ms", 3.2),
					cloudlog.Label("result", "published"),
					cloudlog.Label("webhook_id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
					cloudlog.Label("scheme", "v1"),
					cloudlog.Label("event_type", "batch.succeeded"),
					cloudlog.Label("job_kind", "batch"),
					cloudlog.Label("outcome", "succeeded"),
					slog.String("message_id", "1234567890"))
			}
		})
	}
}
