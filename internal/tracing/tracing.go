// Package tracing sets up OpenTelemetry tracing for geminihook: a tracer
// provider that samples a share of new traces (and follows the caller's
// decision for continued ones) and exports to Cloud Trace, and the
// propagation of a delivery's trace into its published message.
//
// Cloud Trace takes OTLP on telemetry.googleapis.com with Google
// credentials (Application Default Credentials: the function's service
// account, which needs roles/cloudtrace.agent). Spans are exported in
// batches off the request path; Shutdown flushes them.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/oauth2/google"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
)

// CloudTraceEndpoint is Cloud Trace's OTLP endpoint.
const CloudTraceEndpoint = "telemetry.googleapis.com:443"

// ErrInvalidOptions: NewProvider was given a ratio outside [0, 1] or no
// project.
var ErrInvalidOptions = errors.New("tracing: invalid options")

// Options configure NewProvider.
type Options struct {
	// ProjectID is the Cloud project the spans belong to (the resource's
	// gcp.project_id, which Cloud Trace requires).
	ProjectID string
	// Service names the service in the spans' resource.
	Service string
	// Version is the revision serving (K_REVISION).
	Version string
	// SampleRatio is the share of new traces recorded, in [0, 1]; a trace
	// continued from the caller follows the caller's sampling decision.
	SampleRatio float64
	// Exporter receives the spans; nil: OTLP to Cloud Trace with
	// Application Default Credentials. It is created without a network
	// call.
	Exporter sdktrace.SpanExporter
}

// NewProvider returns a tracer provider exporting as o says. The caller
// shuts it down (flushing the spans) when the instance ends.
func NewProvider(ctx context.Context, o Options) (*sdktrace.TracerProvider, error) {
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		return nil, fmt.Errorf("%w: sample ratio %v outside [0, 1]", ErrInvalidOptions, o.SampleRatio)
	}
	if o.ProjectID == "" {
		return nil, fmt.Errorf("%w: no project", ErrInvalidOptions)
	}
	exp := o.Exporter
	batch := true
	if exp == nil {
		creds, err := google.FindDefaultCredentials(ctx, "https://www.googleapis.com/auth/trace.append")
		if err != nil {
			return nil, fmt.Errorf("tracing: credentials for Cloud Trace: %w", err)
		}
		exp, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpoint(CloudTraceEndpoint),
			otlptracegrpc.WithDialOption(
				grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(nil, "")),
				grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: creds.TokenSource}),
			),
			otlptracegrpc.WithHeaders(map[string]string{"x-goog-user-project": o.ProjectID}),
		)
		if err != nil {
			return nil, fmt.Errorf("tracing: Cloud Trace exporter: %w", err)
		}
	} else {
		batch = false // a test's exporter sees each span as it ends
	}
	res := resource.NewSchemaless(
		attribute.String("gcp.project_id", o.ProjectID),
		attribute.String("service.name", o.Service),
		attribute.String("service.version", o.Version),
	)
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
	}
	if batch {
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else {
		opts = append(opts, sdktrace.WithSyncer(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

var traceContext propagation.TraceContext

// Extract returns ctx with the remote span context of the request's trace
// headers: W3C traceparent (and tracestate), else Google's
// X-Cloud-Trace-Context ("TRACE/SPAN;o=1", SPAN decimal), which older
// front ends send alone. Malformed headers are ignored.
func Extract(ctx context.Context, h http.Header) context.Context {
	if h.Get("Traceparent") != "" {
		return traceContext.Extract(ctx, propagation.HeaderCarrier(h))
	}
	v := h.Get("X-Cloud-Trace-Context")
	if v == "" {
		return ctx
	}
	id, rest, ok := strings.Cut(v, "/")
	if !ok || len(id) != 32 {
		return ctx
	}
	spanText, opts, _ := strings.Cut(rest, ";")
	span, err := strconv.ParseUint(spanText, 10, 64)
	if err != nil || span == 0 {
		return ctx
	}
	flags := "00"
	if opts == "o=1" {
		flags = "01"
	}
	tp := fmt.Sprintf("00-%s-%016x-%s", strings.ToLower(id), span, flags)
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// AttrPrefix is how the trace context is named among a message's
// attributes: the CloudEvents distributed-tracing extension in binary mode
// (ce-traceparent, ce-tracestate).
const AttrPrefix = "ce-"

// Inject writes the trace context of ctx into attrs as ce-traceparent
// (and ce-tracestate), so that a consumer continues the delivery's trace.
// Nothing is written when ctx has no valid span.
func Inject(ctx context.Context, attrs map[string]string) {
	traceContext.Inject(ctx, attrCarrier(attrs))
}

// attrCarrier stores the propagator's keys under AttrPrefix.
type attrCarrier map[string]string

func (c attrCarrier) Get(key string) string { return c[AttrPrefix+key] }
func (c attrCarrier) Set(key, value string) { c[AttrPrefix+key] = value }
func (c attrCarrier) Keys() []string {
	var keys []string
	for k := range c {
		if rest, ok := strings.CutPrefix(k, AttrPrefix); ok {
			keys = append(keys, rest)
		}
	}
	return keys
}
