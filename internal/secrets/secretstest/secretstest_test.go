package secretstest_test

import (
	"context"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/secrets/secretstest"
)

const name = "projects/p/secrets/s"

func listNames(t *testing.T, srv *secretstest.Server, filter string, pageSize int32) []string {
	t.Helper()
	it := srv.Client().ListSecretVersions(context.Background(), &secretmanagerpb.ListSecretVersionsRequest{
		Parent: name, Filter: filter, PageSize: pageSize,
	})
	var got []string
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return got
		}
		if err != nil {
			t.Fatalf("ListSecretVersions: %v", err)
		}
		got = append(got, v.GetName())
	}
}

func TestListSecretVersions(t *testing.T) {
	srv := secretstest.NewServer(t)
	v1 := srv.AddVersion(name, []byte("one"))
	v2 := srv.AddVersion(name, []byte("two"))
	v3 := srv.AddVersion(name, []byte("three"))
	srv.Disable(v2)

	tests := []struct {
		filter   string
		pageSize int32
		want     []string
	}{
		{"", 0, []string{v3, v2, v1}},
		{"state:ENABLED", 0, []string{v3, v1}},
		{"state:DISABLED", 0, []string{v2}},
		{"", 1, []string{v3, v2, v1}}, // three pages
		{"state:ENABLED", 1, []string{v3, v1}},
	}
	for _, tt := range tests {
		got := listNames(t, srv, tt.filter, tt.pageSize)
		if !slices.Equal(got, tt.want) {
			t.Errorf("list(filter %q, page %d) = %v, want %v", tt.filter, tt.pageSize, got, tt.want)
		}
	}
	if got := srv.Calls("ListSecretVersions"); got < 7 {
		t.Errorf("Calls(ListSecretVersions) = %d, want at least 7 (pages counted)", got)
	}
}

func TestListErrors(t *testing.T) {
	srv := secretstest.NewServer(t)
	srv.AddVersion(name, []byte("x"))
	c := srv.Client()
	tests := []struct {
		req  *secretmanagerpb.ListSecretVersionsRequest
		want codes.Code
	}{
		{&secretmanagerpb.ListSecretVersionsRequest{Parent: "projects/p/secrets/other"}, codes.NotFound},
		{&secretmanagerpb.ListSecretVersionsRequest{Parent: name, Filter: "name:x"}, codes.InvalidArgument},
		{&secretmanagerpb.ListSecretVersionsRequest{Parent: name, PageToken: "bogus"}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		_, err := c.ListSecretVersions(context.Background(), tt.req).Next()
		if got := status.Code(err); got != tt.want {
			t.Errorf("ListSecretVersions(%v) = %v, want code %v", tt.req, err, tt.want)
		}
	}
}

func TestAccessSecretVersion(t *testing.T) {
	srv := secretstest.NewServer(t)
	v1 := srv.AddVersion(name, []byte("one"))
	v2 := srv.AddVersion(name, []byte("two"))
	c := srv.Client()
	access := func(n string) (*secretmanagerpb.AccessSecretVersionResponse, error) {
		return c.AccessSecretVersion(context.Background(), &secretmanagerpb.AccessSecretVersionRequest{Name: n})
	}

	for _, tt := range []struct{ name, wantName, wantData string }{
		{v1, v1, "one"},
		{name + "/versions/latest", v2, "two"},
	} {
		resp, err := access(tt.name)
		if err != nil {
			t.Fatalf("AccessSecretVersion(%s): %v", tt.name, err)
		}
		data := resp.GetPayload().GetData()
		if resp.GetName() != tt.wantName || string(data) != tt.wantData {
			t.Errorf("AccessSecretVersion(%s) = %s %q, want %s %q", tt.name, resp.GetName(), data, tt.wantName, tt.wantData)
		}
		if got, want := resp.GetPayload().GetDataCrc32C(), int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))); got != want {
			t.Errorf("DataCrc32C = %d, want %d", got, want)
		}
	}

	srv.CorruptCRC(v1)
	resp, err := access(v1)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetPayload().GetDataCrc32C(); got == int64(crc32.Checksum([]byte("one"), crc32.MakeTable(crc32.Castagnoli))) {
		t.Error("CorruptCRC: checksum still matches")
	}

	srv.Disable(v2)
	for _, n := range []string{v2, name + "/versions/latest"} {
		if _, err := access(n); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("AccessSecretVersion(disabled %s) = %v, want FailedPrecondition", n, err)
		}
	}
	srv.Enable(v2)
	if _, err := access(v2); err != nil {
		t.Errorf("AccessSecretVersion(re-enabled) = %v", err)
	}
	srv.Destroy(v2)
	if _, err := access(v2); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("AccessSecretVersion(destroyed) = %v, want FailedPrecondition", err)
	}
	if _, err := access(name + "/versions/9"); status.Code(err) != codes.NotFound {
		t.Errorf("AccessSecretVersion(unknown) = %v, want NotFound", err)
	}
}

func TestFaults(t *testing.T) {
	srv := secretstest.NewServer(t)
	srv.AddVersion(name, []byte("x"))
	c := srv.Client()
	list := func() error {
		_, err := c.ListSecretVersions(context.Background(), &secretmanagerpb.ListSecretVersionsRequest{Parent: name}).Next()
		return err
	}
	srv.SetDown(true)
	if err := list(); status.Code(err) != codes.Unavailable {
		t.Fatalf("down: %v, want Unavailable", err)
	}
	srv.SetFault(codes.PermissionDenied)
	if err := list(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("fault: %v, want PermissionDenied", err)
	}
	srv.SetDown(false)
	if err := list(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := srv.Calls("ListSecretVersions"); got != 3 {
		t.Errorf("Calls = %d, want 3", got)
	}

	srv.Stop()
	if err := list(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stopped: %v, want Unavailable", err)
	}
	srv.Restart()
	// The client reconnects after its backoff; the retry is bounded.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = list(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
