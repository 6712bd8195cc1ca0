// Command push is an example consumer of geminihook's events for Cloud
// Run, behind a Pub/Sub push subscription (or an Eventarc trigger on the
// topic). Before it reads a body it verifies the OIDC token that the
// subscription attaches (Google's signature, the audience, the
// subscription's service account); then it decodes the message with
// events.DecodePush and answers as Pub/Sub push expects (Handler).
//
// Environment:
//
//	PUSH_AUDIENCE         the subscription's oidc_token.audience (terraform/ sets a custom one)
//	PUSH_SERVICE_ACCOUNT  the subscription's oidc_token.service_account_email
//	GOOGLE_JWKS_URL       Google's OIDC keys (default GoogleJWKSURL)
//	PORT                  set by Cloud Run (default 8080)
//
// Deploy it with --no-allow-unauthenticated: Cloud Run lets through only
// callers with roles/run.invoker (the push service account), and the
// handler checks that the token is the subscription's.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/geminihook/geminihook/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(ctx, os.Getenv, log); err != nil {
		log.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

// newHandler builds the handler from the environment.
func newHandler(getenv func(string) string, log *slog.Logger) (*Handler, error) {
	aud, sa := getenv("PUSH_AUDIENCE"), getenv("PUSH_SERVICE_ACCOUNT")
	if aud == "" || sa == "" {
		return nil, errors.New("set PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT to the push subscription's oidc_token audience and service account")
	}
	keys, err := verify.NewJWKS(verify.JWKSOptions{URL: cmp.Or(getenv("GOOGLE_JWKS_URL"), GoogleJWKSURL)})
	if err != nil {
		return nil, fmt.Errorf("GOOGLE_JWKS_URL: %w", err)
	}
	return &Handler{Tokens: &TokenVerifier{Keys: keys, Audience: aud, ServiceAccount: sa}, Log: log}, nil
}

// run serves until ctx ends, then lets requests in flight finish (Cloud Run
// allows 10 s after SIGTERM).
func run(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	h, err := newHandler(getenv, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /events", h)
	srv := &http.Server{
		Addr:              ":" + cmp.Or(getenv("PORT"), "8080"),
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", srv.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
