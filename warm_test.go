package geminihook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// warmPublisher counts WarmUp calls of a publisher that has one.
type warmPublisher struct {
	Publisher
	warmed atomic.Int64
}

func (p *warmPublisher) WarmUp(context.Context) error { p.warmed.Add(1); return nil }

// TestWarmUp: WarmUp loads the v1 secret, the route tokens and the JWKS
// into the caches the requests use, reads the ledger and warms a publisher
// that can be warmed, without publishing, writing or logging a delivery;
// the deliveries that follow call Secret Manager and the JWKS no more.
func TestWarmUp(t *testing.T) {
	ctx := context.Background()
	const project = "warm"
	sm := secretstest.NewServer(t)
	token := route.NewToken()
	sm.AddVersion("projects/"+project+"/secrets/"+DefaultSecret, []byte(verifytest.Secret))
	sm.AddVersion("projects/"+project+"/secrets/tokens", []byte(token))
	signer := verifytest.NewSigner()
	jwks := verifytest.NewJWKSServer(verifytest.JWKS(signer))
	t.Cleanup(jwks.Close)

	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	conn, err := grpc.NewClient(ps.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	psc, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psc.Close() })

	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT":    project,
		"GEMINIHOOK_ROUTE_TOKENS": "tokens",
		"GEMINIHOOK_JWKS_URL":     jwks.URL + "/.well-known/jwks.json",
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := publish.EnsureTopics(ctx, psc, cfg.Topic, cfg.QuarantineTopic); err != nil {
		t.Fatal(err)
	}
	var logs cloudlogtest.Buffer
	wp := &warmPublisher{}
	led := ledger.NewMemory(ledger.Options{})
	s, err := NewService(cfg, Parts{
		Clients: Clients{PubSub: psc, SecretManager: sm.Client()},
		Ledger:  led,
		Logger:  NewLogger(&logs, cfg),
		WrapPublisher: func(p Publisher) Publisher {
			wp.Publisher = p
			return wp
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	if err := s.WarmUp(ctx); err != nil {
		t.Fatalf("WarmUp: %v", err)
	}
	if l, a := sm.Calls("ListSecretVersions"), sm.Calls("AccessSecretVersion"); l != 2 || a != 2 {
		t.Errorf("Secret Manager: %d lists, %d accesses after WarmUp: want 2 and 2 (the v1 secret and the route tokens, once each)", l, a)
	}
	if n := jwks.Requests(); n != 1 {
		t.Errorf("%d JWKS fetches after WarmUp, want 1", n)
	}
	if n := wp.warmed.Load(); n != 1 {
		t.Errorf("publisher warmed %d times, want 1", n)
	}
	if n := len(ps.Messages()); n != 0 {
		t.Errorf("WarmUp published %d messages", n)
	}
	if _, err := led.Lookup(ctx, warmUpID); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("ledger after WarmUp: %v, want no record", err)
	}
	if strings.Contains(logs.String(), `"message":"delivery"`) {
		t.Errorf("WarmUp logged a delivery: %s", logs.String())
	}

	// The deliveries that follow find everything loaded.
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`)
	for _, d := range []struct {
		path string
		h    http.Header
	}{
		{route.Prefix + token, signer.V1a(verifytest.NewWebhookID(), time.Now(), body)},
		{"/", verifytest.Headers("msg_warm_v1", time.Now(), verifytest.V1Token(verifytest.Secret, "msg_warm_v1", time.Now(), body))},
	} {
		r := httptest.NewRequest(http.MethodPost, d.path, bytes.NewReader(body))
		r.Header = d.h
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("delivery to %s: %d %s", route.Path{Routed: d.path != "/"}.Redacted(), w.Code, w.Body)
		}
	}
	if l, a, n := sm.Calls("ListSecretVersions"), sm.Calls("AccessSecretVersion"), jwks.Requests(); l != 2 || a != 2 || n != 1 {
		t.Errorf("after two deliveries: %d lists, %d accesses, %d JWKS fetches: want 2, 2, 1 (all loaded by WarmUp)", l, a, n)
	}
	if n := len(ps.Messages()); n != 2 {
		t.Errorf("%d messages after two deliveries, want 2", n)
	}
}

// TestWarmUpReportsFailures: a backend that fails is reported, not fatal,
// and WarmUp ends by ctx.
func TestWarmUpReportsFailures(t *testing.T) {
	sm := secretstest.NewServer(t)
	sm.SetDown(true)
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	conn, err := grpc.NewClient(ps.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	psc, err := pubsub.NewClient(context.Background(), "warm", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psc.Close() })
	cfg, err := LoadConfig(func(k string) string {
		return map[string]string{"GOOGLE_CLOUD_PROJECT": "warm", "GEMINIHOOK_JWKS_URL": Off}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(cfg, Parts{Clients: Clients{PubSub: psc, SecretManager: sm.Client()}, Ledger: ledger.NewMemory(ledger.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.WarmUp(ctx); err == nil {
		t.Error("WarmUp with Secret Manager down: no error")
	}
}
