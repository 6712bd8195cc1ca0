package secretstest_test

import (
	"context"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/secrets/secretstest"
)

// TestAddDisableEnable: the calls that change versions, through the real
// client.
func TestAddDisableEnable(t *testing.T) {
	srv := secretstest.NewServer(t)
	c := srv.Client()
	ctx := context.Background()
	const secret = "projects/p/secrets/added"
	add := func(data string, sum *int64) (*secretmanagerpb.SecretVersion, error) {
		return c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
			Parent: secret, Payload: &secretmanagerpb.SecretPayload{Data: []byte(data), DataCrc32C: sum},
		})
	}
	if _, err := add("x", nil); status.Code(err) != codes.NotFound {
		t.Fatalf("add to a missing secret: %v, want NotFound", err)
	}
	srv.CreateSecret(secret)
	if vs := srv.Versions(secret); len(vs) != 0 {
		t.Fatalf("a created secret has %d versions", len(vs))
	}
	bad := int64(1)
	if _, err := add("x", &bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("add with a wrong checksum: %v, want InvalidArgument", err)
	}
	v1, err := add("one", nil)
	if err != nil || v1.GetName() != secret+"/versions/1" || v1.GetState() != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("add: %v, %v", v1, err)
	}
	if _, err := add("two", nil); err != nil {
		t.Fatal(err)
	}
	res, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secret + "/versions/latest"})
	if err != nil || string(res.GetPayload().GetData()) != "two" {
		t.Fatalf("latest: %v, %v", res, err)
	}
	d, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v1.GetName()})
	if err != nil || d.GetState() != secretmanagerpb.SecretVersion_DISABLED {
		t.Fatalf("disable: %v, %v", d, err)
	}
	if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v1.GetName()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("access of a disabled version: %v", err)
	}
	vs := srv.Versions(secret)
	if len(vs) != 2 || vs[0].State != secretmanagerpb.SecretVersion_DISABLED || string(vs[1].Payload) != "two" {
		t.Errorf("Versions = %+v", vs)
	}
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v1.GetName()}); err != nil {
		t.Fatal(err)
	}
	srv.Destroy(v1.GetName())
	if _, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v1.GetName()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("disable of a destroyed version: %v", err)
	}
	if _, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: secret + "/versions/9"}); status.Code(err) != codes.NotFound {
		t.Errorf("disable of a missing version: %v", err)
	}
	if got := srv.Calls("AddSecretVersion"); got != 4 {
		t.Errorf("Calls(AddSecretVersion) = %d", got)
	}
}
