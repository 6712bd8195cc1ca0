package test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/tracing"
)

// TestTracing: one delivery is one server span, continuing the caller's
// trace (Cloud Run's traceparent), with client spans for the Firestore
// claim, the publish and the Firestore complete as its children; the
// published message carries the publish span's context (ce-traceparent),
// events.Decode returns it, and a consumer that extracts it continues the
// same trace.
func TestTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp, err := tracing.NewProvider(context.Background(), tracing.Options{ProjectID: "p", Service: "geminihook", SampleRatio: 1, Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	s := newStack(t, setup{tracerProvider: tp})

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	id := newID()
	body := s.body(events.TypeBatchSucceeded, "batch_traced")
	h := s.sign("v1", id, time.Now(), body)
	h.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	if r := s.post(h, body); r.status != 200 {
		t.Fatalf("%d %q", r.status, r.body)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, sp := range spans {
		byName[sp.Name] = sp
	}
	server, ok := byName["geminihook.delivery"]
	if !ok || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("no server span geminihook.delivery among %d spans", len(spans))
	}
	if got := server.SpanContext.TraceID().String(); got != callerTrace {
		t.Errorf("server span trace %s, want the caller's %s", got, callerTrace)
	}
	if server.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span parent %s, want the caller's span", server.Parent.SpanID())
	}
	for _, name := range []string{"firestore claim", "pubsub publish", "firestore complete"} {
		c, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("no %s span", name)
		case c.SpanKind != trace.SpanKindClient || c.Parent.SpanID() != server.SpanContext.SpanID() || c.SpanContext.TraceID() != server.SpanContext.TraceID():
			t.Errorf("%s: kind %v, parent %s; want a client span, child of the server span %s", name, c.SpanKind, c.Parent.SpanID(), server.SpanContext.SpanID())
		}
	}

	ms := s.messages(1)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	ev, err := events.Decode(ms[0].msg.Data, ms[0].msg.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	publish := byName["pubsub publish"]
	want := "00-" + callerTrace + "-" + publish.SpanContext.SpanID().String() + "-01"
	if ev.TraceParent != want {
		t.Errorf("Decode TraceParent = %q, want the publish span's %q", ev.TraceParent, want)
	}
	// A consumer continues the delivery's trace.
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": ev.TraceParent})
	_, consumer := tp.Tracer("consumer").Start(ctx, "consume")
	consumer.End()
	if got := consumer.SpanContext().TraceID().String(); got != callerTrace {
		t.Errorf("consumer span trace %s, want the delivery's %s", got, callerTrace)
	}
}

// TestTracingFromCloudTraceHeader: a request with only Google's
// X-Cloud-Trace-Context continues that trace, and its context is written
// into message attributes; malformed headers start no trace.
func TestTracingFromCloudTraceHeader(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("t").Start(tracing.Extract(context.Background(), http.Header{
		"X-Cloud-Trace-Context": {"105445aa7843bc8bf206b12000100000/1;o=1"},
	}), "server")
	span.End()
	if got := span.SpanContext().TraceID().String(); got != "105445aa7843bc8bf206b12000100000" {
		t.Errorf("trace from X-Cloud-Trace-Context = %s", got)
	}
	attrs := map[string]string{}
	tracing.Inject(ctx, attrs)
	if attrs["ce-traceparent"] == "" {
		t.Errorf("Inject wrote %v, want ce-traceparent", attrs)
	}
	for _, bad := range []string{"", "nothex/1;o=1", "105445aa7843bc8bf206b12000100000/x"} {
		ctx := tracing.Extract(context.Background(), http.Header{"X-Cloud-Trace-Context": {bad}})
		if trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("Extract(%q) gave a valid span context", bad)
		}
	}
}
