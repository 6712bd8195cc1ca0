package cloudlog

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

type traceCtxKey struct{}

type sampling int8

const (
	sampledUnknown sampling = iota
	sampledNo
	sampledYes
)

// trace is what WithTrace found: id is 32 lower-case hex digits, span 16
// (or empty).
type trace struct {
	id      string
	span    string
	sampled sampling
}

// WithTrace returns ctx carrying the trace of an incoming request, taken
// from the W3C traceparent header ("00-TRACE-SPAN-FLAGS") or, failing that,
// from Google's X-Cloud-Trace-Context ("TRACE/SPAN;o=1", SPAN decimal).
// Records logged with the returned context carry the trace, span and
// sampling decision. A missing or malformed header leaves ctx unchanged.
func WithTrace(ctx context.Context, h http.Header) context.Context {
	if t, ok := parseTraceparent(h.Values("Traceparent")); ok {
		return context.WithValue(ctx, traceCtxKey{}, t)
	}
	if t, ok := parseCloudTrace(h.Values("X-Cloud-Trace-Context")); ok {
		return context.WithValue(ctx, traceCtxKey{}, t)
	}
	return ctx
}

// parseTraceparent reads a W3C Trace Context traceparent value; several
// values (an ambiguous request) are refused, as the specification says.
func parseTraceparent(values []string) (*trace, bool) {
	if len(values) != 1 {
		return nil, false
	}
	v := strings.Trim(values[0], " \t")
	// version "-" trace-id(32) "-" parent-id(16) "-" flags(2): 55 bytes;
	// future versions may append "-…".
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return nil, false
	}
	version, id, span, flags := v[:2], v[3:35], v[36:52], v[53:55]
	if !isLowerHex(version) || version == "ff" || (version == "00" && len(v) != 55) ||
		(len(v) > 55 && v[55] != '-') {
		return nil, false
	}
	if !isLowerHex(id) || allZero(id) || !isLowerHex(span) || allZero(span) || !isLowerHex(flags) {
		return nil, false
	}
	f, _ := strconv.ParseUint(flags, 16, 8)
	t := &trace{id: id, span: span, sampled: sampledNo}
	if f&1 == 1 {
		t.sampled = sampledYes
	}
	return t, true
}

// parseCloudTrace reads X-Cloud-Trace-Context: TRACE_ID[/SPAN_ID][;o=0|1],
// TRACE_ID 32 hex digits, SPAN_ID an unsigned decimal that is written as
// 16 hex digits, the form Cloud Logging's spanId takes.
func parseCloudTrace(values []string) (*trace, bool) {
	if len(values) != 1 {
		return nil, false
	}
	v, opts, hasOpts := strings.Cut(strings.Trim(values[0], " \t"), ";")
	id, span, hasSpan := strings.Cut(v, "/")
	id = strings.ToLower(id)
	if len(id) != 32 || !isLowerHex(id) || allZero(id) {
		return nil, false
	}
	t := &trace{id: id}
	if hasSpan && span != "" {
		if len(span) > 20 || !isDigits(span) {
			return nil, false
		}
		n, err := strconv.ParseUint(span, 10, 64)
		if err != nil {
			return nil, false
		}
		if n != 0 {
			s := strconv.FormatUint(n, 16)
			t.span = strings.Repeat("0", 16-len(s)) + s
		}
	}
	if hasOpts {
		switch opts {
		case "o=1":
			t.sampled = sampledYes
		case "o=0":
			t.sampled = sampledNo
		}
	}
	return t, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }
