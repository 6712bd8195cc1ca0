package geminihook

import (
	"context"
	"errors"
	"log/slog"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

// cloudlogReport writes one Error Reporting line through l.
func cloudlogReport(l *slog.Logger) {
	cloudlog.ReportError(context.Background(), l, "test report", errors.New("boom"))
}
