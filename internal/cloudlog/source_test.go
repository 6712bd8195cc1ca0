package cloudlog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/cloudlog"
)

const sourceKey = "logging.googleapis.com/sourceLocation"

// site is a call site as Cloud Logging's sourceLocation names it.
type site struct{ file, line, function string }

// here returns the call site of its caller: call it on the same line as
// the logging call under test.
func here() site {
	pc, file, line, _ := runtime.Caller(1)
	return site{file, strconv.Itoa(line), runtime.FuncForPC(pc).Name()}
}

func sourceOf(t *testing.T, m map[string]any) (site, bool) {
	t.Helper()
	v, ok := m[sourceKey]
	if !ok {
		return site{}, false
	}
	sl, ok := v.(map[string]any)
	if !ok || len(sl) != 3 {
		t.Fatalf("%s = %#v, want an object with file, line and function", sourceKey, v)
	}
	var s site
	for k, dst := range map[string]*string{"file": &s.file, "line": &s.line, "function": &s.function} {
		str, ok := sl[k].(string) // line too: an int64 is a string in proto3 JSON
		if !ok {
			t.Fatalf("%s.%s = %#v, want a string", sourceKey, k, sl[k])
		}
		*dst = str
	}
	return s, true
}

// TestSourceLocation: every way our code logs writes the call site of the
// logging call, at the top level whatever the groups.
func TestSourceLocation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		log  func(l *slog.Logger) site
	}{
		// Each case logs and calls here on one line.
		{"Info", func(l *slog.Logger) site { l.Info("m"); return here() }},
		{"InfoContext", func(l *slog.Logger) site { l.InfoContext(ctx, "m"); return here() }},
		{"LogAttrs", func(l *slog.Logger) site { l.LogAttrs(ctx, slog.LevelWarn, "m", slog.Int("n", 1)); return here() }},
		{"in a group", func(l *slog.Logger) site { l.With("a", 1).WithGroup("g").Error("m", "c", 3); return here() }},
		{"label only", func(l *slog.Logger) site { l.Debug("m", cloudlog.Label("k", "v")); return here() }},
		{"ReportError", func(l *slog.Logger) site { cloudlog.ReportError(ctx, l, "m", errors.New("e")); return here() }},
		{"log.Logger bridge", func(l *slog.Logger) site { slog.NewLogLogger(l.Handler(), slog.LevelInfo).Print("m"); return here() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var at site
			m := one(t, &cloudlog.Options{Level: slog.LevelDebug}, func(l *slog.Logger) { at = tt.log(l) })
			got, ok := sourceOf(t, m)
			if !ok {
				t.Fatalf("no %s in %v", sourceKey, m)
			}
			if got != at {
				t.Errorf("%s = %+v, want the logging call %+v", sourceKey, got, at)
			}
			if g, ok := m["g"].(map[string]any); ok {
				if _, in := g[sourceKey]; in {
					t.Errorf("%s written inside group g: %v", sourceKey, m)
				}
			}
		})
	}
}

// TestSourceLocationSameSiteTwice: the second line of a call site (served
// from the cache) names the same place as the first.
func TestSourceLocationSameSiteTwice(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(cloudlog.NewHandler(&buf, nil))
	var sites []site
	for i := range 2 {
		l.Info("m", "i", i)
		sites = append(sites, here())
	}
	ls := lines(t, &buf)
	for i, m := range ls {
		got, ok := sourceOf(t, m)
		want := sites[i]
		want.line = strconv.Itoa(mustAtoi(t, want.line) - 1) // here() is on the next line
		if !ok || got != want {
			t.Errorf("line %d: %s = %+v, want %+v", i, sourceKey, got, want)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoSourceWithoutPC: a record built without a PC (as slogtest's
// empty-PC case and hand-made records) has no sourceLocation, and one with
// a PC the runtime cannot name has none either.
func TestNoSourceWithoutPC(t *testing.T) {
	for _, pc := range []uintptr{0, 1} {
		var buf bytes.Buffer
		h := cloudlog.NewHandler(&buf, nil)
		if err := h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "m", pc)); err != nil {
			t.Fatal(err)
		}
		if m := decode(t, buf.Bytes()); m[sourceKey] != nil {
			t.Errorf("PC %d: %s = %v, want none", pc, sourceKey, m[sourceKey])
		}
	}
}

// TestServiceContextVersion: Error Reporting's serviceContext.version is
// Options.Version, which production sets from K_REVISION; the handler
// never reads the environment itself.
func TestServiceContextVersion(t *testing.T) {
	t.Setenv("K_REVISION", "from-the-environment")
	tests := []struct {
		name string
		o    cloudlog.Options
		want any // serviceContext; nil: none
	}{
		{"revision passed", cloudlog.Options{Service: "geminihook", Version: "geminihook-00042-xiz"},
			map[string]any{"service": "geminihook", "version": "geminihook-00042-xiz"}},
		{"caller passes K_REVISION", cloudlog.Options{Service: "geminihook", Version: os.Getenv("K_REVISION")},
			map[string]any{"service": "geminihook", "version": "from-the-environment"}},
		{"no version: not read from the environment", cloudlog.Options{Service: "geminihook"},
			map[string]any{"service": "geminihook"}},
		{"no service", cloudlog.Options{Version: "geminihook-00042-xiz"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := one(t, &tt.o, func(l *slog.Logger) { cloudlog.ReportError(context.Background(), l, "m", errors.New("e")) })
			if got := m["serviceContext"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("serviceContext = %#v, want %#v", got, tt.want)
			}
			// Only error events carry it.
			m = one(t, &tt.o, func(l *slog.Logger) { l.Error("plain") })
			if got, ok := m["serviceContext"]; ok {
				t.Errorf("plain error line has serviceContext %v", got)
			}
		})
	}
}
