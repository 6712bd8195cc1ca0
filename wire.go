package geminihook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/internal/tracing"
	"github.com/geminihook/geminihook/verify"
)

// Clients are the cloud clients a [Service] uses. SecretManager may be nil
// when no Secret Manager secret is read (v1 off or [Parts.Secrets] given, and
// no route tokens or [Parts.RouteTokens] given).
type Clients struct {
	Firestore     *firestore.Client
	PubSub        *pubsub.Client
	SecretManager *secretmanager.Client
}

// Parts are what a [Service] is built from besides its [Config]: the one
// composition of geminihook, for the Cloud Function ([NewFromEnv]: cloud
// clients only), the local serve command (static secrets and tokens, an
// in-memory ledger) and the tests. Every field but [Clients.PubSub] may be
// left zero.
type Parts struct {
	Clients
	// Secrets gives the v1 signing secrets; nil: every enabled version of
	// [Config.Secret] in Secret Manager (v1 off when [Config.Secret] is "").
	Secrets verify.SecretSource
	// RouteTokens gives the route tokens; nil: every enabled version of
	// [Config.RouteTokens] in Secret Manager (per-request deliveries off when
	// [Config.RouteTokens] is "").
	RouteTokens TokenSource
	// Ledger; nil: the Firestore ledger on [Clients.Firestore].
	Ledger Ledger
	// WrapPublisher, when set, wraps the Pub/Sub publisher (a test's fault
	// switch).
	WrapPublisher func(Publisher) Publisher
	// HTTPClient fetches the JWKS; nil: a client of verify's own.
	HTTPClient *http.Client
	// Logger; nil: discard.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// TracerProvider traces deliveries; nil: no tracing.
	TracerProvider trace.TracerProvider
}

// Service is the composed webhook receiver: an http.Handler plus what it
// must release on shutdown.
type Service struct {
	http.Handler
	// Topics are the full names of every topic the [Service] publishes to.
	Topics  []string
	closers []func() error
}

// Close flushes the publishers and closes every client the [Service] owns.
func (s *Service) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// NewLogger returns the Cloud Logging JSON logger of cfg on w.
func NewLogger(w io.Writer, cfg Config) *slog.Logger {
	return slog.New(cloudlog.NewHandler(w, &cloudlog.Options{
		ProjectID: cfg.ProjectID, Level: cfg.LogLevel, Service: "geminihook", Version: cfg.Revision,
	}))
}

// NewFromEnv builds the production [Service]: it reads the configuration
// through getenv, logs to w, and constructs the cloud clients (which honour
// FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST). It makes no network
// call: Secret Manager, Firestore and Pub/Sub are first reached by a
// request, so a backend that is down is answered 503 and recovers without
// a restart. Errors wrap [ErrConfig] when the configuration is at fault.
func NewFromEnv(ctx context.Context, getenv func(string) string, w io.Writer) (*Service, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	var c Clients
	var closers []func() error
	fail := func(err error) (*Service, error) {
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	if c.Firestore, err = firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.Database); err != nil {
		return fail(fmt.Errorf("firestore client: %w", err))
	}
	closers = append(closers, c.Firestore.Close)
	if c.PubSub, err = pubsub.NewClient(ctx, cfg.ProjectID); err != nil {
		return fail(fmt.Errorf("pubsub client: %w", err))
	}
	closers = append(closers, c.PubSub.Close)
	if cfg.Secret != "" || cfg.RouteTokens != "" {
		if c.SecretManager, err = secretmanager.NewClient(ctx); err != nil {
			return fail(fmt.Errorf("secret manager client: %w", err))
		}
		closers = append(closers, c.SecretManager.Close)
	}
	parts := Parts{Clients: c, Logger: NewLogger(w, cfg)}
	if cfg.TraceRatio > 0 {
		tp, err := tracing.NewProvider(ctx, tracing.Options{
			ProjectID: cfg.ProjectID, Service: "geminihook", Version: cfg.Revision, SampleRatio: cfg.TraceRatio,
		})
		if err != nil {
			return fail(fmt.Errorf("%w: GEMINIHOOK_TRACE_SAMPLE_RATIO=%v: %w", ErrConfig, cfg.TraceRatio, err))
		}
		closers = append(closers, func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return tp.Shutdown(sctx) // flushes the spans
		})
		parts.TracerProvider = tp
	}
	s, err := NewService(cfg, parts)
	if err != nil {
		return fail(err)
	}
	s.closers = append(closers, s.closers...)
	return s, nil
}

// NewService composes a [Service] from a configuration and its parts. The
// clients stay the caller's (Close does not close them). It makes no
// network call, and logs once which schemes it accepts where. Errors wrap
// [ErrConfig].
func NewService(cfg Config, p Parts) (*Service, error) {
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secretSource := func(variable, name, what string, parse func(string) ([]byte, error)) (*secrets.Source, error) {
		if p.SecretManager == nil {
			return nil, fmt.Errorf("%w: %s is set but no Secret Manager client was given", ErrConfig, variable)
		}
		src, err := secrets.New(p.SecretManager, name, secrets.Options{MaxAge: cfg.SecretRefresh, Logger: logger, Parse: parse, What: what})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, variable, err)
		}
		return src, nil
	}

	// "/" accepts the project scheme only: its secret is ours alone.
	// /r/<route token> accepts every configured scheme.
	symmetric := verify.Options{Secrets: p.Secrets, Tolerance: cfg.Tolerance, Now: p.Now}
	if symmetric.Secrets == nil && cfg.Secret != "" {
		src, err := secretSource("GEMINIHOOK_SECRET", cfg.Secret, "signing secrets", nil)
		if err != nil {
			return nil, err
		}
		symmetric.Secrets = src
	}
	tokens := p.RouteTokens
	if tokens == nil && cfg.RouteTokens != "" {
		src, err := secretSource("GEMINIHOOK_ROUTE_TOKENS", cfg.RouteTokens, "route tokens", route.ParseToken)
		if err != nil {
			return nil, err
		}
		tokens = src
	}
	deps := Deps{
		Ledger: p.Ledger, Logger: logger, Now: p.Now,
		Tracer:       tracer(p.TracerProvider),
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout,
		MetadataKeys: cfg.metadataKeys(),
	}
	var err error
	if symmetric.Secrets != nil {
		if deps.Verifier, err = verify.New(symmetric); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if tokens != nil && cfg.JWKSURL != "" {
		routed := symmetric
		routed.JWKSURL, routed.Audience, routed.Issuer = cfg.JWKSURL, cfg.Audience, cfg.Issuer
		routed.MaxTokenLifetime, routed.HTTPClient = MaxJWTLifetime, p.HTTPClient
		if deps.Routed, err = verify.New(routed); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		deps.Routes = tokens
	}
	if deps.Verifier == nil && deps.Routed == nil {
		return nil, fmt.Errorf("%w: no scheme is on: set GEMINIHOOK_SECRET, or GEMINIHOOK_ROUTE_TOKENS with GEMINIHOOK_JWKS_URL", ErrConfig)
	}
	if deps.Ledger == nil {
		if p.Firestore == nil {
			return nil, fmt.Errorf("%w: no ledger and no Firestore client was given", ErrConfig)
		}
		deps.Ledger = ledger.NewFirestore(p.Firestore, ledger.Options{
			Collection: cfg.Collection, Lease: cfg.Lease, Retention: cfg.Retention, Now: p.Now,
		})
	}
	pub, err := publish.New(p.PubSub, publish.Options{
		Topic:           cfg.Topic,
		Topics:          cfg.kindTopics(),
		QuarantineTopic: cfg.QuarantineTopic,
		// Each publish is a unary call under the request's context (or
		// shares one that ends by the earliest deadline it carries), so
		// its retries end with the request (a publish landing after the 503
		// and the Release would double with Gemini's retry); the Timeout is
		// only an upper bound on top.
		Timeout: cfg.RequestTimeout,
		// GEMINIHOOK_ORDERING: the job id as ordering key.
		Ordering: cfg.Ordering,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	deps.Publisher = pub
	if p.WrapPublisher != nil {
		deps.Publisher = p.WrapPublisher(pub)
	}
	logSchemes(logger, cfg, deps)
	return &Service{Handler: NewHandler(deps), Topics: pub.Topics(), closers: []func() error{func() error { pub.Close(); return nil }}}, nil
}

// tracer is the handler's tracer of tp, nil without one.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/geminihook/geminihook")
}

// logSchemes writes the instance's first lines: which schemes are accepted
// where, and how to turn on those that are off.
func logSchemes(logger *slog.Logger, cfg Config, d Deps) {
	names := func(v Verifier) string {
		if vv, ok := v.(*verify.Verifier); ok && vv != nil {
			return fmt.Sprint(vv.Schemes())
		}
		return "[]"
	}
	logger.Info("geminihook: accepting deliveries",
		"at_root", names(d.Verifier), "at_route_token_path", names(d.Routed))
	switch {
	case d.Routes == nil:
		logger.Info("geminihook: per-request deliveries (v1a, JWT) are off; set GEMINIHOOK_ROUTE_TOKENS (a Secret Manager secret of route tokens) to accept them at /r/<token>")
	case cfg.Audience == "":
		logger.Info("geminihook: JWT deliveries are off; set GEMINIHOOK_JWT_AUDIENCE to accept them")
	}
}

// kindTopics is the per-kind topic map of cfg, without empty entries.
func (c Config) kindTopics() map[events.Kind]string {
	m := map[events.Kind]string{}
	for k, t := range map[events.Kind]string{
		events.KindBatch: c.BatchTopic, events.KindInteraction: c.InteractionTopic, events.KindVideo: c.VideoTopic,
	} {
		if t != "" {
			m[k] = t
		}
	}
	return m
}

// Topics lists every topic a Service of c publishes to, as configured (ids
// or full names): the default topic, the per-kind ones and the quarantine
// topic, without repeats. Local runs create them before they serve; in
// production Terraform owns them.
func (c Config) Topics() []string {
	var ts []string
	for _, t := range []string{c.Topic, c.BatchTopic, c.InteractionTopic, c.VideoTopic, c.QuarantineTopic} {
		if t != "" && !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// buildRetry is how long a failed lazy build is remembered before the next
// request tries again.
const buildRetry = 10 * time.Second
