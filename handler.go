package geminihook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
)

// Verifier authenticates one delivery; *verify.Verifier is the one in use.
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) (verify.Message, error)
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

// Deps is what NewHandler needs. Verifier, Ledger and Publisher are
// required; the rest have defaults.
type Deps struct {
	Verifier  Verifier
	Ledger    Ledger
	Publisher Publisher
	Logger    *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now

	// MaxBodyBytes bounds the body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout bounds one delivery's work; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
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
	ResultStaleTimestamp     = "stale_timestamp"
	ResultTooLarge           = "too_large"
	ResultMethodNotAllowed   = "method_not_allowed"
	ResultKeysUnavailable    = "keys_unavailable"
	ResultBackendUnavailable = "backend_unavailable"
	ResultMisconfigured      = "misconfigured"
)

// Errors of the handler itself; the others come from verify, ledger and
// publish and are mapped by statusFor.
var (
	errMethod   = errors.New("method not allowed")
	errTooLarge = errors.New("body too large")
	errBody     = errors.New("body could not be read")
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
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, ResultTooLarge
	case errors.Is(err, verify.ErrMissingHeaders), errors.Is(err, verify.ErrInvalidHeaders):
		return http.StatusBadRequest, ResultInvalidHeaders
	case errors.Is(err, verify.ErrTimestampTooOld), errors.Is(err, verify.ErrTimestampTooNew):
		return http.StatusUnauthorized, ResultStaleTimestamp
	case errors.Is(err, verify.ErrNoMatchingSignature):
		return http.StatusUnauthorized, ResultBadSignature
	case errors.Is(err, verify.ErrKeysUnavailable):
		return http.StatusServiceUnavailable, ResultKeysUnavailable
	case errors.Is(err, ledger.ErrPublished):
		return http.StatusOK, ResultDuplicate
	case errors.Is(err, ledger.ErrInFlight):
		return http.StatusConflict, ResultInFlight
	case errors.Is(err, ErrConfig):
		return http.StatusServiceUnavailable, ResultMisconfigured
	default: // ledger.ErrUnavailable, publish errors, deadlines, errBody, anything else
		return http.StatusServiceUnavailable, ResultBackendUnavailable
	}
}

// phrase is the fixed body of an error answer; details go to the log only.
func phrase(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "missing or malformed webhook headers"
	case http.StatusUnauthorized:
		return "no valid signature or timestamp outside tolerance"
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
}

// NewHandler returns the webhook receiver: the request flow of
// ARCHITECTURE.md. It panics if a required dependency is nil, a programming
// error that must not reach production.
func NewHandler(d Deps) http.Handler {
	if d.Verifier == nil || d.Ledger == nil || d.Publisher == nil {
		panic("geminihook.NewHandler: Verifier, Ledger and Publisher are required")
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
	return &handler{d}
}

// delivery is what one request learned, for its answer and its log line.
type delivery struct {
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
	ctx, cancel := context.WithTimeout(ctx, h.RequestTimeout)
	defer cancel()

	var d delivery
	err := h.serve(ctx, w, r, &d)
	status, result := statusFor(err)
	if d.result != "" && err == nil {
		result = d.result
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
		switch status {
		case http.StatusConflict:
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d.retryIn+time.Second-1)/time.Second))))
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", retryAfter503)
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodPost)
		}
		p := phrase(status)
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errTooLarge
		}
		return errors.Join(errBody, err)
	}
	d.msg, err = h.Verifier.Verify(ctx, r.Header, body)
	if err != nil {
		return err
	}
	received := h.Now()

	ev, parseErr := events.Parse(body)
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

	lease, err := h.Ledger.Claim(ctx, ledger.Delivery{WebhookID: d.msg.ID, EventType: d.eventType, Envelope: body})
	if err != nil {
		if ife, ok := errors.AsType[*ledger.InFlightError](err); ok {
			// The holder answers within its request deadline; only a
			// holder that died keeps the delivery until the lease ends.
			d.retryIn = min(ife.LeaseUntil.Sub(h.Now()), h.RequestTimeout)
		}
		return err
	}
	// The event is encoded once the claim is held: a duplicate costs no
	// encoding.
	if parseErr != nil {
		d.messageID, err = h.Publisher.Quarantine(ctx, m)
	} else if m, err = ev.Message(); err == nil {
		d.messageID, err = h.Publisher.Publish(ctx, d.kind, m)
		if errors.Is(err, publish.ErrInvalidMessage) {
			// Pub/Sub refuses the event and would refuse every retry of it:
			// keep the delivery as received on the quarantine topic rather
			// than answer 503 until Gemini gives up on it a day later.
			cloudlog.ReportError(ctx, h.Logger, "Pub/Sub refused the event; the delivery goes to the quarantine topic", err,
				"webhook_id", d.msg.ID)
			d.result = ResultQuarantined
			d.messageID, err = h.Publisher.Quarantine(ctx, events.QuarantineMessage(body, d.msg.ID, string(d.msg.Scheme), err, received))
		}
	}
	if err != nil {
		// Give the delivery back so that Gemini's retry can publish it at
		// once.
		h.release(ctx, lease, d.msg.ID)
		return err
	}
	// The event is out: whatever happens to the ledger now, the answer is
	// 200, or Gemini would retry and the event would be published twice.
	if err := h.Ledger.Complete(ctx, lease, d.messageID); err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer ccancel()
		if err := h.Ledger.Complete(cctx, lease, d.messageID); err != nil {
			cloudlog.ReportError(ctx, h.Logger, "published but could not mark the delivery published; a later retry of it may publish it again", err,
				"webhook_id", d.msg.ID, "message_id", d.messageID)
		}
	}
	return nil
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
		cloudlog.HTTPRequest(r, status, int64(size), latency),
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
