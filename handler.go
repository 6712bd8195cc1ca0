package geminihook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/internal/tracing"
	"github.com/geminihook/geminihook/verify"
)

// Verifier authenticates one delivery; *verify.Verifier is the one in use.
// Precheck runs the checks that need no body (the handler calls it before
// reading one); Verify runs them all.
type Verifier interface {
	Precheck(h http.Header) error
	Verify(ctx context.Context, h http.Header, body []byte) (verify.Message, error)
}

// TokenSource gives the route tokens currently valid (every enabled
// version of a Secret Manager secret in production). It must be cheap:
// the handler calls it for every request to a route-token path.
type TokenSource interface {
	Secrets(ctx context.Context) ([][]byte, error)
}

// Ledger records each delivery once; internal/ledger has the Firestore
// ledger and the in-memory one.
type Ledger interface {
	Claim(ctx context.Context, d ledger.Delivery) (*ledger.Lease, error)
	Complete(ctx context.Context, l *ledger.Lease, messageID string) error
	Release(ctx context.Context, l *ledger.Lease) error
}

// Publisher sends events to Pub/Sub; *publish.Publisher is the one in use.
type Publisher interface {
	Publish(ctx context.Context, kind events.Kind, m events.Message) (string, error)
	Quarantine(ctx context.Context, m events.Message) (string, error)
}

// Deps is what [NewHandler] needs. Ledger, Publisher and at least one of
// Verifier and Routed are required; the rest have defaults.
type Deps struct {
	// Verifier checks deliveries at "/": the project (v1) scheme only,
	// whose secret proves ownership by itself. Nil: "/" accepts nothing.
	Verifier Verifier
	// Routed checks deliveries at /r/<route token>: every scheme
	// configured, the per-request ones (v1a, JWT, signed with keys every
	// Gemini customer shares) included. Nil: Verifier is used there too.
	Routed Verifier
	// Routes gives the route tokens; nil: every /r/… path is refused.
	Routes TokenSource

	Ledger    Ledger
	Publisher Publisher
	Logger    *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now

	// MaxBodyBytes bounds the body; 0 means [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// RequestTimeout bounds one delivery's work; 0 means [DefaultRequestTimeout].
	RequestTimeout time.Duration
	// Tracer makes the delivery's server span and the client spans of its
	// ledger and Pub/Sub calls; nil: no tracing.
	Tracer trace.Tracer
	// MetadataKeys are the user_metadata keys lifted into message
	// attributes (events.Event.MessageWith); nil: none.
	MetadataKeys []string
	// BodyTimeout bounds the read of the body, from the request's start;
	// 0 means half of RequestTimeout. A body not received by then is
	// answered 408.
	BodyTimeout time.Duration
}

// Results name what the handler did with a request. They are the `result`
// label of the access log line, which the Terraform log-based metrics and
// alerts count, so they are part of the contract.
const (
	ResultPublished          = "published"
	ResultDuplicate          = "duplicate"
	ResultInFlight           = "in_flight"
	ResultQuarantined        = "quarantined"
	ResultInvalidHeaders     = "invalid_headers"
	ResultBadSignature       = "bad_signature"
	ResultBadRouteToken      = "bad_route_token" // v1a/JWT at "/", or /r/<unknown token>
	ResultTokenReused        = "token_reused"    // a JWT already used for another delivery
	ResultStaleTimestamp     = "stale_timestamp"
	ResultTooLarge           = "too_large"
	ResultTimeout            = "timeout"        // body not received within BodyTimeout
	ResultTruncatedBody      = "truncated_body" // body shorter than declared
	ResultNotFound           = "not_found"
	ResultMethodNotAllowed   = "method_not_allowed"
	ResultKeysUnavailable    = "keys_unavailable"
	ResultBackendUnavailable = "backend_unavailable"
	ResultMisconfigured      = "misconfigured"
)

// Errors of the handler itself; the others come from verify, ledger and
// publish and are mapped by statusFor.
var (
	errMethod      = errors.New("method not allowed")
	errNotFound    = errors.New("no such path")
	errRouteToken  = errors.New("per-request delivery without a valid route token")
	errTooLarge    = errors.New("body too large")
	errBodyTimeout = errors.New("body not received in time")
	errTruncated   = errors.New("body truncated")
)

// retryAfter503 is the Retry-After of a 503: long enough for a backend
// blip to pass, short next to Gemini's own backoff.
const retryAfter503 = "5"

// statusFor is the one map from an error to an HTTP status and a result
// label. Unknown errors are 503: an authentic delivery that failed for an
// unexpected reason must be retried by Gemini, never acknowledged.
func statusFor(err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusOK, ResultPublished
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, ResultMethodNotAllowed
	case errors.Is(err, errNotFound):
		return http.StatusNotFound, ResultNotFound
	case errors.Is(err, errRouteToken):
		return http.StatusUnauthorized, ResultBadRouteToken
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, ResultTooLarge
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, ResultTimeout
	case errors.Is(err, errTruncated):
		return http.StatusBadRequest, ResultTruncatedBody
	case errors.Is(err, verify.ErrMissingHeaders), errors.Is(err, verify.ErrInvalidHeaders):
		return http.StatusBadRequest, ResultInvalidHeaders
	case errors.Is(err, verify.ErrTimestampTooOld), errors.Is(err, verify.ErrTimestampTooNew):
		return http.StatusUnauthorized, ResultStaleTimestamp
	case errors.Is(err, verify.ErrNoMatchingSignature), errors.Is(err, verify.ErrSchemeDisabled):
		return http.StatusUnauthorized, ResultBadSignature
	case errors.Is(err, ledger.ErrTokenReused):
		return http.StatusUnauthorized, ResultTokenReused
	case errors.Is(err, verify.ErrKeysUnavailable):
		return http.StatusServiceUnavailable, ResultKeysUnavailable
	case errors.Is(err, ledger.ErrPublished):
		return http.StatusOK, ResultDuplicate
	case errors.Is(err, ledger.ErrInFlight):
		return http.StatusConflict, ResultInFlight
	case errors.Is(err, ErrConfig):
		return http.StatusServiceUnavailable, ResultMisconfigured
	default: // ledger.ErrUnavailable, publish errors, deadlines, anything else
		return http.StatusServiceUnavailable, ResultBackendUnavailable
	}
}

// phrase is the fixed body of an error answer; details go to the log only.
func phrase(status int, result string) string {
	switch status {
	case http.StatusBadRequest:
		if result == ResultTruncatedBody {
			return "body shorter than its Content-Length"
		}
		return "missing or malformed webhook headers"
	case http.StatusUnauthorized:
		return "no valid signature or timestamp outside tolerance"
	case http.StatusNotFound:
		return "not found"
	case http.StatusRequestTimeout:
		return "body not received in time"
	case http.StatusMethodNotAllowed:
		return "method not allowed: POST only"
	case http.StatusConflict:
		return "delivery in progress, retry later"
	case http.StatusRequestEntityTooLarge:
		return "body too large"
	default:
		return "temporarily unavailable, retry later"
	}
}

type handler struct {
	Deps
	tokens tokenMemo
}

// NewHandler returns the webhook receiver: the request flow of
// ARCHITECTURE.md. It panics if a required dependency is nil, a programming
// error that must not reach production.
func NewHandler(d Deps) http.Handler {
	if (d.Verifier == nil && d.Routed == nil) || d.Ledger == nil || d.Publisher == nil {
		panic("geminihook.NewHandler: Verifier or Routed, Ledger and Publisher are required")
	}
	if d.Routed == nil {
		d.Routed = d.Verifier
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if d.BodyTimeout <= 0 || d.BodyTimeout > d.RequestTimeout {
		d.BodyTimeout = d.RequestTimeout / 2
	}
	return &handler{Deps: d}
}

// delivery is what one request learned, for its answer and its log line.
type delivery struct {
	start     time.Time  // the request's arrival
	path      route.Path // the route; its token is never logged
	bodyRead  bool       // the body was read to its end
	msg       verify.Message
	eventType string
	kind      events.Kind
	outcome   string
	messageID string
	result    string // set when it differs from statusFor's
	retryIn   time.Duration
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := cloudlog.WithTrace(r.Context(), r.Header)
	ctx, span := h.Tracer.Start(tracing.Extract(ctx, r.Header), "geminihook.delivery",
		trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, h.RequestTimeout)
	defer cancel()

	d := delivery{start: start}
	err := h.serve(ctx, w, r, &d)
	status, result := statusFor(err)
	if d.result != "" && err == nil {
		result = d.result
	}
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", redacted(r, d.path).URL.Path),
			attribute.Int("http.response.status_code", status),
			attribute.String("geminihook.result", result),
			attribute.String("geminihook.scheme", string(d.msg.Scheme)),
			attribute.String("geminihook.event_type", truncate(d.eventType, 256)))
		if status >= 500 {
			span.SetStatus(otelcodes.Error, result)
		}
	}

	var size int
	switch {
	case status == http.StatusOK:
		// The contract knows two answers: a quarantined delivery was
		// published too, to the quarantine topic.
		answer := ResultPublished
		if result == ResultDuplicate {
			answer = ResultDuplicate
		}
		size = writeJSON(w, answer, d.msg.ID)
	default:
		if !d.bodyRead {
			// Part of the body may still be on its way: close rather than
			// wait for it to keep the connection.
			w.Header().Set("Connection", "close")
		}
		switch status {
		case http.StatusConflict:
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d.retryIn+time.Second-1)/time.Second))))
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", retryAfter503)
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodPost)
		}
		p := phrase(status, result)
		http.Error(w, p, status)
		size = len(p) + 1
	}
	h.logDelivery(ctx, r, d, status, result, size, time.Since(start), err)
}

// serve runs the request flow and returns the error that decides the
// answer, or nil when the event was published (or quarantined).
func (h *handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, d *delivery) error {
	if r.Method != http.MethodPost {
		return errMethod
	}
	// Cheapest checks first, all before a byte of the body is read: the
	// path, the route token, the headers and the replay window.
	var err error
	if d.path, err = route.ParsePath(r.URL.Path); err != nil {
		return errNotFound
	}
	if err := d.path.Check(ctx, h.Routes); err != nil {
		if errors.Is(err, route.ErrUnknownToken) {
			return errRouteToken
		}
		return fmt.Errorf("%w: route tokens: %w", verify.ErrKeysUnavailable, err)
	}
	v := h.Verifier
	if d.path.Routed {
		v = h.Routed
	}
	if v == nil {
		return fmt.Errorf("%w: v1 is off; per-request deliveries come to /r/<route token>", errRouteToken)
	}
	if err := v.Precheck(r.Header); err != nil {
		if errors.Is(err, verify.ErrSchemeDisabled) && !d.path.Routed {
			// v1a or JWT at "/": signed by keys every Gemini customer
			// shares, so authentic is not ours without a route token.
			return fmt.Errorf("%w: %w", errRouteToken, err)
		}
		return err
	}
	body, err := h.readBody(w, r, d.start.Add(h.BodyTimeout))
	if err != nil {
		return err
	}
	d.bodyRead = true
	d.msg, err = v.Verify(ctx, r.Header, body)
	if err != nil {
		return err
	}
	received := h.Now()

	ev, parseErr := events.ParseValidated(body)
	var m events.Message
	if parseErr != nil {
		d.result = ResultQuarantined
		m = events.QuarantineMessage(body, d.msg.ID, string(d.msg.Scheme), parseErr, received)
	} else {
		ev.WebhookID = d.msg.ID
		ev.Scheme = string(d.msg.Scheme)
		ev.ReceivedAt = received
		d.eventType, d.kind, d.outcome = ev.Type, ev.Kind, string(ev.Outcome)
	}

	if tok := d.msg.TokenID; tok != "" && h.tokens.reused(tok, d.msg.ID) {
		return fmt.Errorf("%w (seen by this instance)", ledger.ErrTokenReused)
	}
	cctx, cspan := h.client(ctx, "firestore claim", systemFirestore)
	lease, err := h.Ledger.Claim(cctx, ledger.Delivery{WebhookID: d.msg.ID, EventType: d.eventType, Envelope: body, Token: d.msg.TokenID,
		Scheme: string(d.msg.Scheme), ReceivedAt: received}) // what `geminihook replay` rebuilds the event from
	endSpan(cspan, err)
	if tok := d.msg.TokenID; tok != "" && (err == nil || errors.Is(err, ledger.ErrPublished) || errors.Is(err, ledger.ErrInFlight)) {
		h.tokens.add(tok, d.msg.ID) // the ledger has bound it to this id
	}
	if err != nil {
		if ife, ok := errors.AsType[*ledger.InFlightError](err); ok {
			// The holder answers within its request deadline; only a
			// holder that died keeps the delivery until the lease ends.
			d.retryIn = min(ife.LeaseUntil.Sub(h.Now()), h.RequestTimeout)
		}
		return err
	}
	// The event is encoded once the claim is held: a duplicate costs no
	// encoding. The publish span's context goes into the message, for the
	// consumer to continue the trace.
	pctx, pspan := h.client(ctx, "pubsub publish", systemPubSub)
	if parseErr != nil {
		tracing.Inject(pctx, m.Attributes)
		d.messageID, err = h.Publisher.Quarantine(pctx, m)
	} else if m, err = ev.MessageWith(h.MetadataKeys); err == nil {
		tracing.Inject(pctx, m.Attributes)
		d.messageID, err = h.Publisher.Publish(pctx, d.kind, m)
		if errors.Is(err, publish.ErrInvalidMessage) {
			// Pub/Sub refuses the event and would refuse every retry of it:
			// keep the delivery as received on the quarantine topic rather
			// than answer 503 until Gemini gives up on it a day later.
			cloudlog.ReportError(ctx, h.Logger, "Pub/Sub refused the event; the delivery goes to the quarantine topic", err,
				"webhook_id", d.msg.ID)
			d.result = ResultQuarantined
			qm := events.QuarantineMessage(body, d.msg.ID, string(d.msg.Scheme), err, received)
			tracing.Inject(pctx, qm.Attributes)
			d.messageID, err = h.Publisher.Quarantine(pctx, qm)
		}
	}
	endSpan(pspan, err)
	if err != nil {
		// Give the delivery back so that Gemini's retry can publish it at
		// once.
		h.release(ctx, lease, d.msg.ID)
		return err
	}
	// The event is out: whatever happens to the ledger now, the answer is
	// 200, or Gemini would retry and the event would be published twice.
	cctx, cspan = h.client(ctx, "firestore complete", systemFirestore)
	err = h.Ledger.Complete(cctx, lease, d.messageID)
	endSpan(cspan, err)
	if err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer ccancel()
		if err := h.Ledger.Complete(cctx, lease, d.messageID); err != nil {
			cloudlog.ReportError(ctx, h.Logger, "published but could not mark the delivery published; a later retry of it may publish it again", err,
				"webhook_id", d.msg.ID, "message_id", d.messageID)
		}
	}
	return nil
}

// client starts a client span for a backend call.
func (h *handler) client(ctx context.Context, name string, system attribute.KeyValue) (context.Context, trace.Span) {
	return h.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(system))
}

// The backends, as OpenTelemetry's semantic conventions name them.
var (
	systemFirestore = attribute.String("db.system", "firestore")
	systemPubSub    = attribute.String("messaging.system", "gcp_pubsub")
)

// endSpan ends a client span, marking it failed for an error other than
// the ledger's expected answers (duplicate, in flight).
func endSpan(s trace.Span, err error) {
	if err != nil && !errors.Is(err, ledger.ErrPublished) && !errors.Is(err, ledger.ErrInFlight) {
		s.SetStatus(otelcodes.Error, err.Error())
	}
	s.End()
}

// readBody reads the whole body, at most [Deps.MaxBodyBytes] (a larger declared
// Content-Length is refused unread), by the body deadline: a body that
// stalls or trickles holds the request slot only until then.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, deadline time.Time) ([]byte, error) {
	if r.ContentLength > h.MaxBodyBytes {
		return nil, fmt.Errorf("%w: Content-Length %d over %d", errTooLarge, r.ContentLength, h.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(deadline); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	n := h.MaxBodyBytes
	if r.ContentLength >= 0 {
		n = r.ContentLength
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(n, 64<<10)+1))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	switch {
	case err == nil:
		return buf.Bytes(), nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("%w: %d bytes by the %v deadline", errBodyTimeout, buf.Len(), h.BodyTimeout)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, errTooLarge
	}
	return nil, fmt.Errorf("%w after %d bytes: %w", errTruncated, buf.Len(), err)
}

// answer is the body of a 200.
type answer struct {
	Status string `json:"status"`
	ID     string `json:"id"`
}

func writeJSON(w http.ResponseWriter, status, id string) int {
	b, _ := json.Marshal(answer{status, id}) // cannot fail: two strings
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return len(b)
}

func (h *handler) logDelivery(ctx context.Context, r *http.Request, d delivery, status int, result string, size int, latency time.Duration, err error) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		cloudlog.HTTPRequest(redacted(r, d.path), status, int64(size), latency),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		cloudlog.Label("result", result),
	}
	if d.msg.ID != "" {
		attrs = append(attrs, cloudlog.Label("webhook_id", truncate(d.msg.ID, 256)), cloudlog.Label("scheme", string(d.msg.Scheme)))
	}
	if d.eventType != "" {
		attrs = append(attrs, cloudlog.Label("event_type", truncate(d.eventType, 256)),
			cloudlog.Label("job_kind", string(d.kind)), cloudlog.Label("outcome", d.outcome))
	}
	if d.messageID != "" {
		attrs = append(attrs, slog.String("message_id", d.messageID))
	}
	if err != nil && status != http.StatusOK {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.Logger.LogAttrs(ctx, level, "delivery", attrs...)
}

// redacted is r as the access log may show it: a route token's path is
// logged as /r/…, and so is any other path under /r (a token with a typo
// is still a token).
func redacted(r *http.Request, p route.Path) *http.Request {
	if !p.Routed && !strings.HasPrefix(r.URL.Path, "/r") {
		return r
	}
	c := *r
	u := *r.URL
	u.Path, u.RawPath, u.RawQuery = route.Prefix+"…", "", ""
	c.URL = &u
	return &c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// release gives a claimed delivery back, on its own short deadline: the
// request's may be what just ran out.
func (h *handler) release(ctx context.Context, lease *ledger.Lease, id string) {
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer rcancel()
	if rerr := h.Ledger.Release(rctx, lease); rerr != nil {
		h.Logger.WarnContext(ctx, "release failed; the lease will expire",
			"webhook_id", id, "error", rerr.Error())
	}
}
