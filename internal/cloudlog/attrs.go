package cloudlog

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Label returns an attribute that the Handler writes into the entry's
// labels map (logging.googleapis.com/labels), where Cloud Logging indexes
// it. Labels may come from logger.With as well as from a record; a later
// label of the same key wins. Cloud Logging limits a label key to 512 and a
// value to 64 KiB bytes: keep values short (ids, outcomes). Other handlers
// write it as a group of that name, the same JSON.
func Label(key, value string) slog.Attr {
	return slog.Attr{Key: labelsKey, Value: slog.GroupValue(slog.String(key, value))}
}

// HTTPRequest returns the "httpRequest" attribute describing a served
// request in Cloud Logging's HttpRequest shape: requestMethod, requestUrl,
// status, requestSize (when known), responseSize, userAgent, remoteIp,
// latency ("0.012345s") and protocol. requestUrl is scheme, host and path:
// the query is left out because it may carry credentials. remoteIp is the
// transport peer (r.RemoteAddr); behind Google's front end that is the
// proxy, and the client's address is in the platform's own request log.
// A negative latency is written as 0.
func HTTPRequest(r *http.Request, status int, responseSize int64, latency time.Duration) slog.Attr {
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("requestMethod", r.Method),
		slog.String("requestUrl", requestURL(r)),
		slog.Int("status", status))
	if r.ContentLength >= 0 {
		// int64 fields are strings in Cloud Logging's JSON (proto3 mapping).
		attrs = append(attrs, slog.String("requestSize", strconv.FormatInt(r.ContentLength, 10)))
	}
	attrs = append(attrs, slog.String("responseSize", strconv.FormatInt(max(responseSize, 0), 10)))
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, slog.String("userAgent", ua))
	}
	if ip := remoteIP(r.RemoteAddr); ip != "" {
		attrs = append(attrs, slog.String("remoteIp", ip))
	}
	attrs = append(attrs,
		slog.String("latency", formatLatency(latency)),
		slog.String("protocol", r.Proto))
	return slog.Attr{Key: httpRequestKey, Value: slog.GroupValue(attrs...)}
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	path := ""
	if r.URL != nil {
		path = r.URL.EscapedPath()
	}
	return scheme + "://" + r.Host + path
}

func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// formatLatency writes d as Cloud Logging's Duration JSON: seconds with up
// to nine decimals and an "s".
func formatLatency(d time.Duration) string {
	d = max(d, 0)
	b := strconv.AppendInt(make([]byte, 0, 24), int64(d/time.Second), 10)
	if ns := int64(d % time.Second); ns != 0 {
		frac := strconv.AppendInt(make([]byte, 0, 9), ns, 10)
		b = append(b, '.')
		for range 9 - len(frac) {
			b = append(b, '0')
		}
		b = append(b, strings.TrimRight(string(frac), "0")...)
	}
	return string(append(b, 's'))
}

// ReportError logs err at slog.LevelError as an Error Reporting event:
// "@type" is ErrorEventType, "message" is "msg: err", "error" holds
// err's text, "stack_trace" the message and the calling goroutine's stack
// in the runtime.Stack format Error Reporting parses for Go (frames of
// ReportError itself removed), and a Handler adds "serviceContext" when
// Options.Service is set. attrs are added as by slog.Logger.Log. Use it for
// unexpected failures that someone should look at, not for rejected
// requests. A nil l means slog.Default(); a nil err logs msg alone.
func ReportError(ctx context.Context, l *slog.Logger, msg string, err error, attrs ...any) {
	if l == nil {
		l = slog.Default()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.Enabled(ctx, slog.LevelError) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // the caller of ReportError, for AddSource
	message := msg
	if err != nil {
		message = msg + ": " + err.Error()
	}
	r := slog.NewRecord(time.Now(), slog.LevelError, message, pcs[0])
	r.AddAttrs(slog.String(typeKey, ErrorEventType))
	if err != nil {
		r.AddAttrs(slog.String("error", err.Error()))
	}
	r.Add(attrs...)
	r.AddAttrs(slog.String(stackTraceKey, message+"\n\n"+callerStack()))
	_ = l.Handler().Handle(ctx, r) // as slog.Logger does: nowhere to report a write error
}

// callerStack is debug.Stack without its first frames (debug.Stack,
// callerStack and ReportError).
func callerStack() string {
	s := string(debug.Stack())
	header, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return s
	}
	// Each frame is two lines: "pkg.func(args)" and "\tfile:line +0x..".
	for {
		fn, after, ok := strings.Cut(rest, "\n")
		if !ok || !(strings.HasPrefix(fn, "runtime/debug.Stack(") || strings.HasPrefix(fn, thisPackage+".")) {
			break
		}
		_, after, ok = strings.Cut(after, "\n")
		if !ok {
			break
		}
		rest = after
	}
	return header + "\n" + rest
}

const thisPackage = "github.com/geminihook/geminihook/internal/cloudlog"
