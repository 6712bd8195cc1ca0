package cloudlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

// decode parses one line, failing the test if it is not a JSON object with
// a severity.
func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	if _, ok := m["severity"].(string); !ok {
		t.Fatalf("no severity: %s", line)
	}
	return m
}

// lines decodes every line of buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		if len(l) > 0 {
			out = append(out, decode(t, l))
		}
	}
	return out
}

// one logs with f on a fresh handler and returns the single line.
func one(t *testing.T, o *cloudlog.Options, f func(*slog.Logger)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	f(slog.New(cloudlog.NewHandler(&buf, o)))
	ls := lines(t, &buf)
	if len(ls) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(ls), buf.String())
	}
	return ls[0]
}

func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return cloudlog.NewHandler(&buf, nil)
	}, func(t *testing.T) map[string]any {
		m := decode(t, buf.Bytes())
		// slogtest looks for slog's own key names.
		m[slog.LevelKey] = m["severity"]
		m[slog.MessageKey] = m["message"]
		delete(m, "severity")
		delete(m, "message")
		return m
	})
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "DEBUG"},
		{slog.LevelDebug, "DEBUG"},
		{slog.LevelInfo, "INFO"},
		{slog.LevelInfo + 2, "INFO"},
		{slog.LevelWarn, "WARNING"},
		{slog.LevelError, "ERROR"},
		{slog.LevelError + 3, "ERROR"},
		{slog.LevelError + 4, "CRITICAL"},
	}
	for _, tt := range tests {
		m := one(t, &cloudlog.Options{Level: slog.Level(-100)}, func(l *slog.Logger) { l.Log(context.Background(), tt.level, "m") })
		if got := m["severity"]; got != tt.want {
			t.Errorf("level %v: severity = %v, want %s", tt.level, got, tt.want)
		}
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(cloudlog.NewHandler(&buf, nil))
	l.Debug("hidden")
	l.Info("shown")
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	l2 := slog.New(cloudlog.NewHandler(&buf, &cloudlog.Options{Level: &lv}))
	l2.Info("hidden")
	l2.Warn("shown")
	ls := lines(t, &buf)
	if len(ls) != 2 || ls[0]["message"] != "shown" || ls[1]["message"] != "shown" {
		t.Errorf("lines = %v, want two 'shown'", ls)
	}
}

func TestFixedFields(t *testing.T) {
	var buf bytes.Buffer
	h := cloudlog.NewHandler(&buf, nil)
	at := time.Date(2026, 5, 1, 10, 11, 12, 345678901, time.FixedZone("X", 3600))
	r := slog.NewRecord(at, slog.LevelInfo, "hello", 0)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := `{"severity":"INFO","message":"hello","time":"2026-05-01T09:11:12.345678901Z"}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("line = %s, want %s", got, want)
	}
}

func TestValues(t *testing.T) {
	type point struct{ X, Y int }
	tests := []struct {
		name string
		v    any
		want any // as decoded by encoding/json
	}{
		{"string", "a\"b\\c\n\t\x01<>&\u2028é😀", "a\"b\\c\n\t\x01<>&\u2028é😀"},
		{"invalid utf8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"int", -42, -42.0},
		{"uint", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"float", 1.5, 1.5},
		{"tiny float", 1e-9, 1e-9},
		{"huge float", 1e300, 1e300},
		{"NaN", math.NaN(), "NaN"},
		{"Inf", math.Inf(-1), "-Inf"},
		{"bool", true, true},
		{"duration", 1500 * time.Microsecond, "1.5ms"},
		{"time", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "2026-01-02T03:04:05.000000006Z"},
		{"error", errors.New("boom"), "boom"},
		{"nil", nil, nil},
		{"bytes", []byte("raw"), "raw"},
		{"struct", point{1, 2}, map[string]any{"X": 1.0, "Y": 2.0}},
		{"unmarshalable", make(chan int), "!ERROR: json: unsupported type: chan int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := one(t, nil, func(l *slog.Logger) { l.Info("m", "v", tt.v) })
			if got := m["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v = %#v, want %#v", got, tt.want)
			}
		})
	}
}

type secretValue struct{}

func (secretValue) LogValue() slog.Value { return slog.StringValue("redacted") }

func TestGroupsAndLogValuer(t *testing.T) {
	m := one(t, nil, func(l *slog.Logger) {
		l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").Info("m",
			"c", 3, slog.Group("", "inline", 4), slog.Group("empty"), slog.Group("n", "d", secretValue{}))
	})
	want := map[string]any{"b": 2.0, "h": map[string]any{"c": 3.0, "inline": 4.0, "n": map[string]any{"d": "redacted"}}}
	if m["a"] != 1.0 || !reflect.DeepEqual(m["g"], want) {
		t.Errorf("line = %v", m)
	}
	// A group whose only members are labels leaves no empty object.
	m = one(t, nil, func(l *slog.Logger) { l.WithGroup("g").Info("m", cloudlog.Label("k", "v")) })
	if _, ok := m["g"]; ok {
		t.Errorf("empty group written: %v", m)
	}
}

func TestTrace(t *testing.T) {
	const (
		id   = "4bf92f3577b34da6a3ce929d0e0e4736"
		span = "00f067aa0ba902b7"
	)
	tests := []struct {
		name    string
		h       http.Header
		project string
		trace   any // nil: no trace fields
		span    any
		sampled any
	}{
		{"traceparent sampled", http.Header{"Traceparent": {"00-" + id + "-" + span + "-01"}}, "p", "projects/p/traces/" + id, span, true},
		{"traceparent not sampled", http.Header{"Traceparent": {"00-" + id + "-" + span + "-00"}}, "p", "projects/p/traces/" + id, span, false},
		{"traceparent future version", http.Header{"Traceparent": {"01-" + id + "-" + span + "-03-extra"}}, "p", "projects/p/traces/" + id, span, true},
		{"no project: bare id", http.Header{"Traceparent": {" 00-" + id + "-" + span + "-01 "}}, "", id, span, true},
		{"cloud trace", http.Header{"X-Cloud-Trace-Context": {id + "/1;o=1"}}, "p", "projects/p/traces/" + id, "0000000000000001", true},
		{"cloud trace max span", http.Header{"X-Cloud-Trace-Context": {strings.ToUpper(id) + "/18446744073709551615;o=0"}}, "p", "projects/p/traces/" + id, "ffffffffffffffff", false},
		{"cloud trace no options", http.Header{"X-Cloud-Trace-Context": {id + "/123"}}, "p", "projects/p/traces/" + id, "000000000000007b", nil},
		{"cloud trace only id", http.Header{"X-Cloud-Trace-Context": {id}}, "p", "projects/p/traces/" + id, nil, nil},
		{"traceparent wins", http.Header{"Traceparent": {"00-" + id + "-" + span + "-01"}, "X-Cloud-Trace-Context": {strings.Repeat("1", 32) + "/1"}}, "p", "projects/p/traces/" + id, span, true},
		{"bad traceparent falls back", http.Header{"Traceparent": {"garbage"}, "X-Cloud-Trace-Context": {id + "/1"}}, "p", "projects/p/traces/" + id, "0000000000000001", nil},
		{"none", http.Header{}, "p", nil, nil, nil},
	}
	malformed := []http.Header{
		{"Traceparent": {"00-" + id + "-" + span + "-01-extra"}},            // version 00 has no suffix
		{"Traceparent": {"ff-" + id + "-" + span + "-01"}},                  // forbidden version
		{"Traceparent": {"00-" + strings.ToUpper(id) + "-" + span + "-01"}}, // upper case
		{"Traceparent": {"00-" + strings.Repeat("0", 32) + "-" + span + "-01"}},
		{"Traceparent": {"00-" + id + "-0000000000000000-01"}},
		{"Traceparent": {"00-" + id + "-" + span + "-0"}},
		{"Traceparent": {"00-" + id + "-" + span + "-zz"}},
		{"Traceparent": {"00_" + id + "_" + span + "_01"}},
		{"Traceparent": {"00-" + id + "-" + span + "-01", "00-" + id + "-" + span + "-01"}}, // ambiguous
		{"X-Cloud-Trace-Context": {id[:31] + "/1;o=1"}},
		{"X-Cloud-Trace-Context": {id + "x/1"}},
		{"X-Cloud-Trace-Context": {strings.Repeat("0", 32) + "/1"}},
		{"X-Cloud-Trace-Context": {id + "/-1"}},
		{"X-Cloud-Trace-Context": {id + "/18446744073709551616"}},
		{"X-Cloud-Trace-Context": {id + "/0x1f"}},
		{"X-Cloud-Trace-Context": {"\"" + id + "\"/1"}},
	}
	for _, h := range malformed {
		tests = append(tests, struct {
			name                 string
			h                    http.Header
			project              string
			trace, span, sampled any
		}{"malformed " + fmt.Sprint(h), h, "p", nil, nil, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := cloudlog.WithTrace(context.Background(), tt.h)
			m := one(t, &cloudlog.Options{ProjectID: tt.project}, func(l *slog.Logger) { l.InfoContext(ctx, "m") })
			for k, want := range map[string]any{
				"logging.googleapis.com/trace":         tt.trace,
				"logging.googleapis.com/spanId":        tt.span,
				"logging.googleapis.com/trace_sampled": tt.sampled,
			} {
				if got := m[k]; got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestLabels(t *testing.T) {
	m := one(t, nil, func(l *slog.Logger) {
		l = l.With(cloudlog.Label("service", "geminihook"), cloudlog.Label("a", "1"))
		l = l.WithGroup("g").With(cloudlog.Label("b", "2"), "x", 1)
		l.Info("m", cloudlog.Label("c", "3"), cloudlog.Label("a", "override"), "y", 2)
	})
	want := map[string]any{"service": "geminihook", "a": "override", "b": "2", "c": "3"}
	if got := m["logging.googleapis.com/labels"]; !reflect.DeepEqual(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	if got, want := m["g"], map[string]any{"x": 1.0, "y": 2.0}; !reflect.DeepEqual(got, want) {
		t.Errorf("g = %v, want %v", got, want)
	}
	// Labels of one logger do not leak into its parent or siblings.
	var buf bytes.Buffer
	base := slog.New(cloudlog.NewHandler(&buf, nil)).With(cloudlog.Label("base", "1"))
	base.With(cloudlog.Label("child", "1")).Info("child")
	base.Info("base")
	ls := lines(t, &buf)
	if got := ls[1]["logging.googleapis.com/labels"]; !reflect.DeepEqual(got, map[string]any{"base": "1"}) {
		t.Errorf("parent's labels = %v", got)
	}
}

func TestHTTPRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/hook?token=secret", strings.NewReader("12345"))
	r.Host = "example.run.app"
	r.Header.Set("User-Agent", "Gemini-Webhooks/1.0")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.RemoteAddr = "203.0.113.7:41234"
	m := one(t, nil, func(l *slog.Logger) {
		l.WithGroup("g").Info("delivery", cloudlog.HTTPRequest(r, 200, 42, 12345678*time.Nanosecond))
	})
	want := map[string]any{
		"requestMethod": "POST",
		"requestUrl":    "https://example.run.app/hook",
		"status":        200.0,
		"requestSize":   "5",
		"responseSize":  "42",
		"userAgent":     "Gemini-Webhooks/1.0",
		"remoteIp":      "203.0.113.7",
		"latency":       "0.012345678s",
		"protocol":      "HTTP/1.1",
	}
	if got := m["httpRequest"]; !reflect.DeepEqual(got, want) {
		t.Errorf("httpRequest = %v\nwant %v", got, want)
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {-time.Second, "0s"}, {1500 * time.Millisecond, "1.5s"}, {time.Nanosecond, "0.000000001s"}, {3 * time.Second, "3s"}} {
		a := cloudlog.HTTPRequest(r, 200, 0, tt.d)
		for _, f := range a.Value.Group() {
			if f.Key == "latency" && f.Value.String() != tt.want {
				t.Errorf("latency(%v) = %s, want %s", tt.d, f.Value, tt.want)
			}
		}
	}
}

func TestReportError(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(cloudlog.NewHandler(&buf, &cloudlog.Options{Service: "geminihook", Version: "v1.2.3"}))
	cloudlog.ReportError(context.Background(), l.WithGroup("g"), "ledger complete failed", errors.New("deadline exceeded"), "webhook_id", "msg_1")
	m := decode(t, buf.Bytes())
	for k, want := range map[string]any{
		"severity":       "ERROR",
		"message":        "ledger complete failed: deadline exceeded",
		"@type":          cloudlog.ErrorEventType,
		"serviceContext": map[string]any{"service": "geminihook", "version": "v1.2.3"},
		"g":              map[string]any{"error": "deadline exceeded", "webhook_id": "msg_1"},
	} {
		if got := m[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	stack, _ := m["stack_trace"].(string)
	head, frames, _ := strings.Cut(stack, "\n\ngoroutine ")
	if head != "ledger complete failed: deadline exceeded" {
		t.Errorf("stack_trace does not start with the message: %q", stack)
	}
	_, frames, _ = strings.Cut(frames, "\n") // "N [running]:"
	if !strings.HasPrefix(frames, "github.com/geminihook/geminihook/internal/cloudlog_test.TestReportError(") {
		t.Errorf("first frame is not the caller:\n%s", stack)
	}
	if strings.Contains(stack, "runtime/debug.Stack") || strings.Contains(stack, "cloudlog.ReportError") {
		t.Errorf("stack_trace holds ReportError's own frames:\n%s", stack)
	}

	// Without Service: no serviceContext. Disabled level: nothing.
	m = one(t, nil, func(l *slog.Logger) { cloudlog.ReportError(context.Background(), l, "m", nil) })
	if _, ok := m["serviceContext"]; ok || m["message"] != "m" || m["@type"] != cloudlog.ErrorEventType {
		t.Errorf("line = %v", m)
	}
	buf.Reset()
	quiet := slog.New(cloudlog.NewHandler(&buf, &cloudlog.Options{Level: slog.LevelError + 4}))
	cloudlog.ReportError(context.Background(), quiet, "m", errors.New("e"))
	if buf.Len() != 0 {
		t.Errorf("disabled level wrote %s", buf.String())
	}
}

// lineWriter records each Write call separately.
type lineWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestConcurrentWholeLines(t *testing.T) {
	w := &lineWriter{}
	base := slog.New(cloudlog.NewHandler(w, nil))
	const goroutines, each = 8, 200
	long := strings.Repeat("x", 3000) // past the pooled buffer's first size
	var wg sync.WaitGroup
	for g := range goroutines {
		l := base.With("g", g).WithGroup("grp")
		wg.Go(func() {
			for i := range each {
				l.Info(long, "i", i, cloudlog.Label("n", fmt.Sprint(i)))
			}
		})
	}
	wg.Wait()
	if len(w.writes) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(w.writes), goroutines*each)
	}
	seen := map[string]bool{}
	for _, p := range w.writes {
		if bytes.Count(p, []byte("\n")) != 1 || p[len(p)-1] != '\n' {
			t.Fatalf("write is not one line: %q", p)
		}
		m := decode(t, p)
		grp, _ := m["grp"].(map[string]any)
		labels, _ := m["logging.googleapis.com/labels"].(map[string]any)
		if m["message"] != long || fmt.Sprint(grp["i"]) != labels["n"] {
			t.Fatalf("mixed line: %s", p)
		}
		seen[fmt.Sprint(m["g"], "/", grp["i"])] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct lines, want %d", len(seen), goroutines*each)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestWriteError(t *testing.T) {
	h := cloudlog.NewHandler(failWriter{}, nil)
	if err := h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)); err == nil {
		t.Error("Handle hid the writer's error")
	}
}
