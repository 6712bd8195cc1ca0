package secrets_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/verify"
)

// A Source feeds the verifier with every enabled version of one secret.
// Rotation: add a version (gcloud secrets versions add), then disable the
// old one once the sender signs with the new secret.
func ExampleNew() {
	ctx := context.Background()
	client, err := secretmanager.NewClient(ctx) // Application Default Credentials
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	src, err := secrets.New(client, "projects/my-project/secrets/geminihook-signing-secret", secrets.Options{
		MaxAge: 5 * time.Minute, // how long a disabled version keeps verifying
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := verify.New(verify.Options{Secrets: src})
	if err != nil {
		log.Fatal(err)
	}
	_ = v // v.Verify(ctx, r.Header, body) in the handler
}
