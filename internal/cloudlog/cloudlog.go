// Package cloudlog is a log/slog handler that writes Google Cloud Logging
// structured JSON, one object per line, as Cloud Run and Cloud Functions
// expect on stdout.
//
// Each line carries "severity" (DEBUG, INFO, WARNING, ERROR, CRITICAL),
// "message" and "time" (RFC 3339, UTC, nanoseconds), then the record's
// attributes. Cloud Logging lifts some fields out of the payload into the
// log entry; the handler writes them where the agent looks for them:
//
//   - the call site of the record (slog.Record.PC, which every
//     slog.Logger method and ReportError set) as
//     logging.googleapis.com/sourceLocation {file, line, function}, so that
//     the Logs Explorer and Error Reporting point at the line that logged;
//     a record without a PC has none;
//   - the trace of the request, set on the context by WithTrace, as
//     logging.googleapis.com/trace, .../spanId and .../trace_sampled, so
//     that a request's lines group together in the Logs Explorer;
//   - labels (attributes made with Label) merged into one
//     logging.googleapis.com/labels map, indexed and cheap to filter on;
//   - httpRequest (made with HTTPRequest), shown as the entry's request;
//   - the Error Reporting fields "@type", "stack_trace" and
//     "serviceContext" (written by ReportError).
//
// These special attributes are always written at the top level of the
// object, even when they were added inside a group (logger.WithGroup), as
// Cloud Logging reads them only there. Other attributes keep their groups.
// Attributes named severity, message, time or logging.googleapis.com/… at
// the top level would collide with the handler's own fields: don't use
// those keys.
package cloudlog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Keys of the fields Cloud Logging and Error Reporting interpret.
const (
	traceKey        = "logging.googleapis.com/trace"
	spanIDKey       = "logging.googleapis.com/spanId"
	traceSampledKey = "logging.googleapis.com/trace_sampled"
	sourceKey       = "logging.googleapis.com/sourceLocation"
	labelsKey       = "logging.googleapis.com/labels"
	httpRequestKey  = "httpRequest"
	typeKey         = "@type"
	stackTraceKey   = "stack_trace"
	serviceKey      = "serviceContext"
)

// ErrorEventType is the "@type" that makes Error Reporting take a log
// entry as an error event even without a parsable stack trace.
const ErrorEventType = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"

// Options configure a Handler. A nil *Options is the zero value.
type Options struct {
	// ProjectID completes trace ids into projects/ID/traces/TRACE, the form
	// Cloud Logging links to Cloud Trace. Empty writes the bare trace id.
	ProjectID string
	// Level is the minimum level written. Nil means slog.LevelInfo.
	Level slog.Leveler
	// Service and Version name the deployment in Error Reporting events
	// ("serviceContext": service and version). Empty Service leaves
	// serviceContext out, and Error Reporting then uses the resource's
	// labels (the Cloud Run service name); empty Version leaves version out.
	//
	// Version is the deployed revision, so that Error Reporting tells
	// which revision an error started or stopped in: on Cloud Run and Cloud
	// Functions (2nd gen) the caller passes os.Getenv("K_REVISION") (for
	// example "geminihook-00042-xiz"). The package itself reads no
	// environment variable.
	Service, Version string
}

// Handler writes Cloud Logging JSON lines. It is safe for concurrent use;
// handlers derived with WithAttrs and WithGroup share the writer and its
// lock, and each record is one Write call of one whole line.
type Handler struct {
	w     io.Writer
	mu    *sync.Mutex
	level slog.Leveler
	opts  Options

	pre     []byte   // encoded attributes from WithAttrs
	open    int      // groups opened in pre and not closed
	pending []string // groups from WithGroup not yet opened (no attribute in them yet)
	special special  // special attributes from WithAttrs
}

// NewHandler returns a Handler writing to w (os.Stdout in production).
func NewHandler(w io.Writer, o *Options) *Handler {
	h := &Handler{w: w, mu: &sync.Mutex{}}
	if o != nil {
		h.opts = *o
	}
	h.level = h.opts.Level
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	return h
}

// Enabled reports whether level is at or above Options.Level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every record, within the
// groups opened so far; labels among them join the labels map.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	e := newEncoder(h)
	for _, a := range attrs {
		e.attr(a)
	}
	h2 := *h
	h2.pre = append(slices.Clip(h.pre), e.buf...)
	h2.open = h.open + e.opened
	h2.pending = h.pending[e.opened:]
	h2.special = e.special.clone()
	e.free()
	return &h2
}

// WithGroup returns a handler that nests later attributes under name. An
// empty name returns h.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.pending = append(slices.Clip(h.pending), name)
	return &h2
}

// Handle writes r as one JSON line. The only error is the writer's.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	e := newEncoder(h)
	defer e.free()
	b := e.buf
	b = append(b, `{"severity":"`...)
	b = append(b, severity(r.Level)...)
	b = append(b, `","message":`...)
	b = appendString(b, r.Message)
	if !r.Time.IsZero() {
		b = append(b, `,"time":"`...)
		b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if ctx != nil {
		if t, ok := ctx.Value(traceCtxKey{}).(*trace); ok {
			b = append(b, `,"`+traceKey+`":"`...)
			if h.opts.ProjectID != "" {
				b = append(b, "projects/"...)
				b = appendEscaped(b, h.opts.ProjectID)
				b = append(b, "/traces/"...)
			}
			b = append(b, t.id...)
			b = append(b, '"')
			if t.span != "" {
				b = append(b, `,"`+spanIDKey+`":"`...)
				b = append(b, t.span...)
				b = append(b, '"')
			}
			if t.sampled != sampledUnknown {
				b = append(b, `,"`+traceSampledKey+`":`...)
				b = strconv.AppendBool(b, t.sampled == sampledYes)
			}
		}
	}
	if r.PC != 0 {
		b = appendSource(b, r.PC)
	}
	b = append(b, h.pre...)
	e.buf, e.sep = b, true
	r.Attrs(func(a slog.Attr) bool {
		e.attr(a)
		return true
	})
	for range e.opened + h.open {
		e.buf = append(e.buf, '}')
	}
	e.buf = e.special.appendTo(e.buf, &h.opts)
	e.buf = append(e.buf, '}', '\n')

	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(e.buf)
	return err
}

// severity maps slog levels to Cloud Logging's LogSeverity names: levels
// between two slog levels take the lower name; LevelError+4 and above are
// CRITICAL.
func severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < slog.LevelError+4:
		return "ERROR"
	default:
		return "CRITICAL"
	}
}

// special holds the attributes written at the top level whatever their
// group.
type special struct {
	labels  []label
	httpReq slog.Value // KindGroup when set
	typ     string
	stack   string
	service slog.Value // KindGroup when set
}

type label struct{ key, value string }

func (s *special) clone() special {
	c := *s
	c.labels = slices.Clone(s.labels)
	return c
}

// take stores a if it is special and reports whether it was.
func (s *special) take(a slog.Attr) bool {
	switch a.Key {
	case labelsKey:
		if a.Value.Kind() != slog.KindGroup {
			return false
		}
		for _, l := range a.Value.Group() {
			s.setLabel(l.Key, l.Value.Resolve().String())
		}
	case httpRequestKey:
		if a.Value.Kind() != slog.KindGroup {
			return false
		}
		s.httpReq = a.Value
	case serviceKey:
		if a.Value.Kind() != slog.KindGroup {
			return false
		}
		s.service = a.Value
	case typeKey:
		s.typ = a.Value.String()
	case stackTraceKey:
		s.stack = a.Value.String()
	default:
		return false
	}
	return true
}

func (s *special) setLabel(k, v string) {
	for i := range s.labels {
		if s.labels[i].key == k {
			s.labels[i].value = v // a later label of the same key wins
			return
		}
	}
	s.labels = append(s.labels, label{k, v})
}

func (s *special) appendTo(b []byte, o *Options) []byte {
	if len(s.labels) > 0 {
		b = append(b, `,"`+labelsKey+`":{`...)
		for i, l := range s.labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, l.key)
			b = append(b, ':')
			b = appendString(b, l.value)
		}
		b = append(b, '}')
	}
	if s.httpReq.Kind() == slog.KindGroup {
		b = append(b, `,"`+httpRequestKey+`":`...)
		b = appendObject(b, s.httpReq.Group())
	}
	if s.typ != "" {
		b = append(b, `,"`+typeKey+`":`...)
		b = appendString(b, s.typ)
	}
	if s.stack != "" {
		b = append(b, `,"`+stackTraceKey+`":`...)
		b = appendString(b, s.stack)
	}
	switch {
	case s.service.Kind() == slog.KindGroup:
		b = append(b, `,"`+serviceKey+`":`...)
		b = appendObject(b, s.service.Group())
	case s.typ == ErrorEventType && o.Service != "":
		b = append(b, `,"`+serviceKey+`":{"service":`...)
		b = appendString(b, o.Service)
		if o.Version != "" {
			b = append(b, `,"version":`...)
			b = appendString(b, o.Version)
		}
		b = append(b, '}')
	}
	return b
}

// encoder builds one line (or a WithAttrs fragment). Groups are opened
// lazily, when their first attribute is written, so that a group without
// attributes leaves no trace.
type encoder struct {
	buf     []byte
	sep     bool     // the innermost open object already has a member
	pending []string // names of the groups in scope, outermost first
	opened  int      // pending[:opened] are open in buf
	special special
	pendArr [8]string
	lblArr  [8]label
}

var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 1024)} }}

func newEncoder(h *Handler) *encoder {
	e := encoders.Get().(*encoder)
	e.buf = e.buf[:0]
	e.sep = true // after "severity", or inside a group of pre that has members
	e.pending = append(e.pendArr[:0], h.pending...)
	e.opened = 0
	e.special = h.special
	e.special.labels = append(e.lblArr[:0], h.special.labels...)
	return e
}

func (e *encoder) free() {
	if cap(e.buf) > 64<<10 {
		return // let an unusually large buffer go
	}
	e.special = special{}
	clear(e.pendArr[:])
	clear(e.lblArr[:])
	encoders.Put(e)
}

func (e *encoder) attr(a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil {
		return // the zero Attr
	}
	if e.special.take(a) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if a.Key == "" {
			for _, g := range attrs {
				e.attr(g)
			}
			return
		}
		j := len(e.pending)
		e.pending = append(e.pending, a.Key)
		for _, g := range attrs {
			e.attr(g)
		}
		if e.opened > j {
			e.buf = append(e.buf, '}')
			e.sep = true
			e.opened = j
		}
		e.pending = e.pending[:j]
		return
	}
	for ; e.opened < len(e.pending); e.opened++ {
		e.key(e.pending[e.opened])
		e.buf = append(e.buf, '{')
		e.sep = false
	}
	e.key(a.Key)
	e.buf = appendValue(e.buf, a.Value)
	e.sep = true
}

func (e *encoder) key(k string) {
	if e.sep {
		e.buf = append(e.buf, ',')
	}
	e.buf = appendString(e.buf, k)
	e.buf = append(e.buf, ':')
}

// appendObject writes attrs as a plain JSON object (used for special
// attributes, which have no groups in scope).
func appendObject(b []byte, attrs []slog.Attr) []byte {
	b = append(b, '{')
	first := true
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil {
			continue
		}
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, a.Key)
		b = append(b, ':')
		if a.Value.Kind() == slog.KindGroup {
			b = appendObject(b, a.Value.Group())
		} else {
			b = appendValue(b, a.Value)
		}
	}
	return append(b, '}')
}

// appendValue writes a resolved, non-group value. Durations are written
// as Go duration strings ("1.5ms"), which read better in the Logs Explorer
// than slog.JSONHandler's nanosecond counts; values of kind Any are
// written as encoding/json writes them (errors as their message).
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		return appendFloat(b, v.Float64())
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		b = append(b, '"')
		b = v.Time().UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case slog.KindGroup: // not reached: groups are walked by the caller
		return appendObject(b, v.Group())
	}
	switch x := v.Any().(type) {
	case nil:
		return append(b, "null"...)
	case error:
		return appendString(b, x.Error())
	case []byte:
		return appendString(b, string(x))
	}
	j, err := json.Marshal(v.Any())
	if err != nil {
		return appendString(b, fmt.Sprintf("!ERROR: %v", err))
	}
	return append(b, j...)
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendString(b, strconv.FormatFloat(f, 'g', -1, 64)) // JSON has no NaN
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD; U+2028 and U+2029 are escaped so the line is also valid
// JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped writes s escaped for use inside a JSON string.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}
