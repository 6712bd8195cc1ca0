package cloudlog_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

func Example() {
	h := cloudlog.NewHandler(os.Stdout, &cloudlog.Options{ProjectID: "my-project"})
	logger := slog.New(h).With(cloudlog.Label("component", "webhook"))

	// In the HTTP handler: the request's trace goes on the context.
	header := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	ctx := cloudlog.WithTrace(context.Background(), header)

	// A record without a time, for a stable example; slog.Logger sets it.
	r := slog.NewRecord(time.Time{}, slog.LevelWarn, "delivery", 0)
	r.AddAttrs(cloudlog.Label("result", "duplicate"), slog.String("webhook_id", "msg_1"))
	_ = logger.Handler().Handle(ctx, r)
	// Output:
	// {"severity":"WARNING","message":"delivery","logging.googleapis.com/trace":"projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736","logging.googleapis.com/spanId":"00f067aa0ba902b7","logging.googleapis.com/trace_sampled":true,"webhook_id":"msg_1","logging.googleapis.com/labels":{"component":"webhook","result":"duplicate"}}
}

func ExampleReportError() {
	logger := slog.New(cloudlog.NewHandler(os.Stdout, &cloudlog.Options{Service: "geminihook", Version: "1.0.0"}))
	err := errors.New("firestore: deadline exceeded")
	// Writes one ERROR line with "@type" (Error Reporting), "stack_trace"
	// and "serviceContext".
	cloudlog.ReportError(context.Background(), logger, "ledger complete failed", err, "webhook_id", "msg_1")
}
