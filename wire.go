package geminihook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/verify"
)

// Clients are the cloud clients a Service uses. SecretManager may be nil
// when the configuration turns v1 HMAC off.
type Clients struct {
	Firestore     *firestore.Client
	PubSub        *pubsub.Client
	SecretManager *secretmanager.Client
}

// Service is the composed webhook receiver: an http.Handler plus what it
// must release on shutdown.
type Service struct {
	http.Handler
	closers []func() error
}

// Close flushes the publishers and closes every client the Service owns.
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
		ProjectID: cfg.ProjectID, Level: cfg.LogLevel, Service: "geminihook",
	}))
}

// NewFromEnv builds the production Service: it reads the configuration
// through getenv, logs to w, and constructs the cloud clients (which honour
// FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST). It makes no network
// call: Secret Manager, Firestore and Pub/Sub are first reached by a
// request, so a backend that is down is answered 503 and recovers without
// a restart. Errors wrap ErrConfig when the configuration is at fault.
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
	if cfg.Secret != "" {
		if c.SecretManager, err = secretmanager.NewClient(ctx); err != nil {
			return fail(fmt.Errorf("secret manager client: %w", err))
		}
		closers = append(closers, c.SecretManager.Close)
	}
	s, err := NewService(cfg, c, NewLogger(w, cfg))
	if err != nil {
		return fail(err)
	}
	s.closers = append(closers, s.closers...)
	return s, nil
}

// NewService composes a Service from a configuration and clients that the
// caller owns (Close does not close them).
func NewService(cfg Config, c Clients, logger *slog.Logger) (*Service, error) {
	vo := verify.Options{JWKSURL: cfg.JWKSURL, Audience: cfg.Audience, Tolerance: cfg.Tolerance}
	if cfg.Secret != "" {
		if c.SecretManager == nil {
			return nil, fmt.Errorf("%w: GEMINIHOOK_SECRET is set but no Secret Manager client was given", ErrConfig)
		}
		src, err := secrets.New(c.SecretManager, cfg.Secret, secrets.Options{MaxAge: cfg.SecretRefresh, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		vo.Secrets = src
	}
	v, err := verify.New(vo)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	pub, err := publish.New(c.PubSub, publish.Options{
		Topic:           cfg.Topic,
		Topics:          cfg.kindTopics(),
		QuarantineTopic: cfg.QuarantineTopic,
		// The client's retries end with the request: a publish still
		// retrying after the 503 (and the Release) could land after
		// Gemini's retry has published the event again.
		Timeout: cfg.RequestTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	led := ledger.NewFirestore(c.Firestore, ledger.Options{
		Collection: cfg.Collection, Lease: cfg.Lease, Retention: cfg.Retention,
	})
	h := NewHandler(Deps{
		Verifier: v, Ledger: led, Publisher: pub, Logger: logger,
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout,
	})
	return &Service{Handler: h, closers: []func() error{func() error { pub.Close(); return nil }}}, nil
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

// buildRetry is how long a failed lazy build is remembered before the next
// request tries again.
const buildRetry = 10 * time.Second
