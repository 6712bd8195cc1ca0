package benchfn

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"strings"
	"sync/atomic"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// SecretManager is a loopback Secret Manager for the benchmarks' function
// binaries: Google ships no Secret Manager emulator, and the production
// client (secretmanager.NewClient with the default endpoint) cannot be
// pointed at loopback from the environment. It serves the two calls
// geminihook makes, ListSecretVersions (filter "state:ENABLED" or none)
// and AccessSecretVersion (with the payload's CRC32C), for secrets of one
// enabled version each. internal/secrets/secretstest is the full test
// double; it needs a testing.TB, which a driver program has not.
type SecretManager struct {
	addr    string
	gs      *grpc.Server
	secrets map[string][]byte // by full secret name
	calls   atomic.Int64
}

// StartSecretManager serves secrets (full secret name projects/P/secrets/S
// → the payload of its only version, "1") on addr, a loopback host:port
// ("127.0.0.1:0": a free port).
func StartSecretManager(addr string, secrets map[string][]byte) (*SecretManager, error) {
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("secret manager address %q: want a loopback host:port", addr)
	}
	for name := range secrets {
		if p := strings.Split(name, "/"); len(p) != 4 || p[0] != "projects" || p[2] != "secrets" || p[1] == "" || p[3] == "" {
			return nil, fmt.Errorf("secret name %q: want projects/P/secrets/S", name)
		}
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &SecretManager{addr: lis.Addr().String(), gs: grpc.NewServer(), secrets: secrets}
	secretmanagerpb.RegisterSecretManagerServiceServer(s.gs, &smService{s: s})
	go s.gs.Serve(lis) //nolint:errcheck // returns on Stop
	return s, nil
}

// Addr is the server's host:port.
func (s *SecretManager) Addr() string { return s.addr }

// Calls is the number of calls served so far.
func (s *SecretManager) Calls() int64 { return s.calls.Load() }

// Stop closes the listener and every connection.
func (s *SecretManager) Stop() { s.gs.Stop() }

// SecretManagerClient returns the real Secret Manager client (the one
// NewFromEnv builds) pointed at the plaintext loopback server at addr, with
// no credentials: the only difference from production is the endpoint.
func SecretManagerClient(ctx context.Context, addr string) (*secretmanager.Client, error) {
	return secretmanager.NewClient(ctx,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

type smService struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	s *SecretManager
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (svc *smService) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	svc.s.calls.Add(1)
	if f := req.GetFilter(); f != "" && f != "state:ENABLED" {
		return nil, status.Errorf(codes.InvalidArgument, "benchfn: filter %q not supported", f)
	}
	if _, ok := svc.s.secrets[req.GetParent()]; !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", req.GetParent())
	}
	return &secretmanagerpb.ListSecretVersionsResponse{Versions: []*secretmanagerpb.SecretVersion{{
		Name: req.GetParent() + "/versions/1", State: secretmanagerpb.SecretVersion_ENABLED,
	}}}, nil
}

func (svc *smService) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	svc.s.calls.Add(1)
	name := req.GetName()
	secret, version, ok := strings.Cut(name, "/versions/")
	payload, found := svc.s.secrets[secret]
	if !ok || !found || (version != "1" && version != "latest") {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	sum := int64(crc32.Checksum(payload, castagnoli))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    secret + "/versions/1",
		Payload: &secretmanagerpb.SecretPayload{Data: append([]byte(nil), payload...), DataCrc32C: &sum},
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
