package benchfn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/internal/secrets"
)

func TestSecretManager(t *testing.T) {
	const name = "projects/p/secrets/s"
	sm, err := StartSecretManager("127.0.0.1:0", map[string][]byte{name: []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Stop)
	ctx := context.Background()
	c, err := SecretManagerClient(ctx, sm.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	quiet := secrets.Options{Logger: slog.New(slog.DiscardHandler)}
	src, err := secrets.New(c, name, quiet)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := src.Secrets(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("Secrets = %d keys, %v; want the one version", len(keys), err)
	}
	if n := sm.Calls(); n != 2 {
		t.Errorf("%d calls, want 2 (list, access)", n)
	}
	other, _ := secrets.New(c, "projects/p/secrets/absent", quiet)
	if _, err := other.Secrets(ctx); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("absent secret: %v, want secrets.ErrNotFound", err)
	}
	for _, bad := range []struct{ addr, name string }{
		{"10.0.0.1:0", name}, {"127.0.0.1:0", "projects/p/s"},
	} {
		if s, err := StartSecretManager(bad.addr, map[string][]byte{bad.name: nil}); err == nil {
			s.Stop()
			t.Errorf("StartSecretManager(%q, %q): no error", bad.addr, bad.name)
		}
	}
}

func TestCountedClientsGateAndSidePort(t *testing.T) {
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	env := map[string]string{
		"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1", // dialed lazily: never called here
		"PUBSUB_EMULATOR_HOST":    ps.Addr,
		EnvStats:                  "127.0.0.1:0",
	}
	ctx := context.Background()
	c, err := NewClients(ctx, func(k string) string { return env[k] }, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.FirestoreCalls == nil || c.PubSubCalls == nil || c.Gate == nil || c.SecretManager != nil {
		t.Fatalf("clients %+v: want counted, with a gate, and no Secret Manager client", c)
	}
	topic := "projects/p/topics/t"
	if _, err := c.PubSub.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		// The client retries UNAVAILABLE until its deadline.
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.PubSub.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic,
			Messages: []*pubsubpb.PubsubMessage{{Data: []byte("x")}}})
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	addr, err := c.ServeStats("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	post := func(q string) int {
		resp, err := http.Post("http://"+addr+"/fault/publish?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("refuse=true"); code != http.StatusNoContent {
		t.Fatalf("closing the gate: %d", code)
	}
	if err := publish(); err == nil {
		t.Error("publish with the gate closed: no error")
	}
	if code := post("refuse=maybe"); code != http.StatusBadRequest {
		t.Errorf("refuse=maybe: %d, want 400", code)
	}
	post("refuse=false")
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Publishes < 2 || st.RefusedPublish < 1 || st.PubSubCalls < 3 || st.FirestoreCalls != 0 || st.CPUSeconds <= 0 {
		t.Errorf("stats %+v: want 1 create, 2 or more publishes (one refused, with retries), no Firestore call, some CPU", st)
	}
	if len(ps.Messages()) != 1 {
		t.Errorf("%d messages on pstest, want 1", len(ps.Messages()))
	}
}
