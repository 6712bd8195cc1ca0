// Package secretstest runs a loopback Secret Manager for tests: a real gRPC
// server on 127.0.0.1 that implements the calls geminihook makes
// (ListSecretVersions and AccessSecretVersion for the function;
// AddSecretVersion, DisableSecretVersion and EnableSecretVersion for
// `geminihook webhooks`, in admin.go), with state that a test can
// change while a client is using it (add, disable and enable versions,
// corrupt a checksum, take the service down, stop and restart it).
//
// Google ships no Secret Manager emulator; this server is the network
// boundary at which geminihook's Secret Manager code is tested with the
// real client (cloud.google.com/go/secretmanager/apiv1):
//
//	srv := secretstest.NewServer(t)
//	v1 := srv.AddVersion("projects/p/secrets/s", []byte("whsec_..."))
//	client := srv.Client() // real *secretmanager.Client, closed by t.Cleanup
//
// Its behaviour follows the public API documentation: versions are listed
// newest first; the filter "state:ENABLED" (or DISABLED, DESTROYED) is
// honoured, other filters are rejected with InvalidArgument; accessing a
// disabled or destroyed version fails with FailedPrecondition; the alias
// "latest" names the most recently created version whatever its state;
// total_size is 0 when a filter is set;
// every payload carries its CRC32C (Castagnoli) checksum.
package secretstest

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxPageSize is the largest page ListSecretVersions returns, as in the
// real service; a request with page_size 0 gets this many.
const MaxPageSize = 25000

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Server is a loopback Secret Manager. Its methods are safe for concurrent
// use; they report misuse (an unknown version, a malformed name) through
// the testing.TB given to NewServer, so call them from the test goroutine.
type Server struct {
	tb   testing.TB
	addr string

	mu      sync.Mutex
	secrets map[string]*secret // by "projects/P/secrets/S"
	fault   codes.Code         // codes.OK = healthy
	latency time.Duration
	calls   map[string]int // by method name, e.g. "ListSecretVersions"
	gs      *grpc.Server   // nil while stopped
	created time.Time      // creation time of the next version
}

type secret struct {
	versions []*version // index i holds version i+1
}

type version struct {
	name    string
	state   secretmanagerpb.SecretVersion_State
	payload []byte
	created time.Time
	corrupt bool
}

// NewServer starts a Server on 127.0.0.1 with a free port and stops it
// when the test ends. It fails the test if it cannot listen.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("secretstest: listen: %v", err)
	}
	s := &Server{
		tb:      tb,
		addr:    lis.Addr().String(),
		secrets: map[string]*secret{},
		calls:   map[string]int{},
		created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	s.serve(lis)
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(lis net.Listener) {
	gs := grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	secretmanagerpb.RegisterSecretManagerServiceServer(gs, &service{s: s})
	s.mu.Lock()
	s.gs = gs
	s.mu.Unlock()
	go gs.Serve(lis) //nolint:errcheck // Serve returns when Stop is called.
}

// Addr is the server's host:port on the loopback interface. It stays the
// same across Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// ClientOptions point a Secret Manager client at the server: its address,
// no authentication and a plaintext gRPC transport.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns the real Secret Manager gRPC client connected to the
// server; it is closed when the test ends. It fails the test if the client
// cannot be built.
func (s *Server) Client() *secretmanager.Client {
	s.tb.Helper()
	c, err := secretmanager.NewClient(context.Background(), s.ClientOptions()...)
	if err != nil {
		s.tb.Fatalf("secretstest: new client: %v", err)
	}
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// AddVersion stores payload as a new ENABLED version of secret (full name
// projects/P/secrets/S, created on first use) and returns the version's
// full name, projects/P/secrets/S/versions/N, N counting from 1. Each
// version is created one second after the previous one.
func (s *Server) AddVersion(secretName string, payload []byte) string {
	s.tb.Helper()
	if !validSecret(secretName) {
		s.tb.Fatalf("secretstest: AddVersion: %q is not projects/P/secrets/S", secretName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[secretName]
	if sec == nil {
		sec = &secret{}
		s.secrets[secretName] = sec
	}
	v := &version{
		name:    secretName + "/versions/" + strconv.Itoa(len(sec.versions)+1),
		state:   secretmanagerpb.SecretVersion_ENABLED,
		payload: append([]byte(nil), payload...),
		created: s.created,
	}
	s.created = s.created.Add(time.Second)
	sec.versions = append(sec.versions, v)
	return v.name
}

// Disable sets a version's state to DISABLED: it is no longer listed under
// "state:ENABLED" and cannot be accessed.
func (s *Server) Disable(versionName string) {
	s.tb.Helper()
	s.setState(versionName, secretmanagerpb.SecretVersion_DISABLED)
}

// Enable sets a version's state back to ENABLED.
func (s *Server) Enable(versionName string) {
	s.tb.Helper()
	s.setState(versionName, secretmanagerpb.SecretVersion_ENABLED)
}

// Destroy sets a version's state to DESTROYED and drops its payload.
func (s *Server) Destroy(versionName string) {
	s.tb.Helper()
	s.setState(versionName, secretmanagerpb.SecretVersion_DESTROYED)
}

func (s *Server) setState(versionName string, st secretmanagerpb.SecretVersion_State) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lookup(versionName)
	if v == nil {
		s.tb.Fatalf("secretstest: no version %q", versionName)
		return
	}
	if v.state == secretmanagerpb.SecretVersion_DESTROYED && st != v.state {
		s.tb.Fatalf("secretstest: version %q is destroyed", versionName)
		return
	}
	v.state = st
	if st == secretmanagerpb.SecretVersion_DESTROYED {
		v.payload = nil
	}
}

// CorruptCRC makes AccessSecretVersion answer a wrong DataCrc32C for the
// version (the payload itself is unchanged), as if the data had been
// damaged on its way.
func (s *Server) CorruptCRC(versionName string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lookup(versionName)
	if v == nil {
		s.tb.Fatalf("secretstest: no version %q", versionName)
		return
	}
	v.corrupt = true
}

// SetDown makes every call fail with codes.Unavailable (true) or serve
// again (false). The connection stays up; use Stop and Restart to drop it.
func (s *Server) SetDown(down bool) {
	if down {
		s.SetFault(codes.Unavailable)
	} else {
		s.SetFault(codes.OK)
	}
}

// SetFault makes every call fail with code c; codes.OK clears the fault.
func (s *Server) SetFault(c codes.Code) {
	s.mu.Lock()
	s.fault = c
	s.mu.Unlock()
}

// SetLatency delays every call by d (0, the default, for none); a call
// whose context ends first fails with its context's error.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Calls reports how many calls of method (its short name, e.g.
// "ListSecretVersions" or "AccessSecretVersion") the server has received,
// including calls that failed.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Stop closes the listener and every connection, like an outage of the
// service's front end. The state is kept; Restart serves it again. Stop
// on a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	gs := s.gs
	s.gs = nil
	s.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
}

// Restart listens again on the same address after Stop. Clients reconnect
// on their own, after their gRPC reconnect backoff (about a second). It
// fails the test if the address cannot be bound again.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	running := s.gs != nil
	s.mu.Unlock()
	if running {
		return
	}
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.tb.Fatalf("secretstest: restart on %s: %v", s.addr, err)
	}
	s.serve(lis)
}

// lookup finds a version by full name; the caller holds s.mu.
func (s *Server) lookup(versionName string) *version {
	secretName, id, ok := splitVersion(versionName)
	if !ok {
		return nil
	}
	sec := s.secrets[secretName]
	if sec == nil {
		return nil
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > len(sec.versions) {
		return nil
	}
	return sec.versions[n-1]
}

// intercept counts each call, then applies the latency and fault set by
// the test.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	s.mu.Lock()
	s.calls[method]++
	latency, fault := s.latency, s.fault
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if fault != codes.OK {
		return nil, status.Errorf(fault, "secretstest: injected fault %v", fault)
	}
	return handler(ctx, req)
}

type service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	s *Server
}

func (svc *service) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	want, err := parseFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	if req.GetPageSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	size := int(req.GetPageSize())
	if size == 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	offset := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "offset-"))
		if !strings.HasPrefix(tok, "offset-") || err != nil || n < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "invalid page_token %q", tok)
		}
		offset = n
	}

	s := svc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[req.GetParent()]
	if sec == nil {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", req.GetParent())
	}
	var match []*secretmanagerpb.SecretVersion
	for i := len(sec.versions) - 1; i >= 0; i-- { // newest first
		v := sec.versions[i]
		if want != secretmanagerpb.SecretVersion_STATE_UNSPECIFIED && v.state != want {
			continue
		}
		match = append(match, &secretmanagerpb.SecretVersion{
			Name:       v.name,
			CreateTime: timestamppb.New(v.created),
			State:      v.state,
			Etag:       fmt.Sprintf("%q", strconv.Itoa(i+1)+"-"+v.state.String()),
		})
	}
	resp := &secretmanagerpb.ListSecretVersionsResponse{}
	if want == secretmanagerpb.SecretVersion_STATE_UNSPECIFIED {
		resp.TotalSize = int32(len(match)) // documented as 0 when a filter is set
	}
	if offset >= len(match) {
		return resp, nil
	}
	end := min(offset+size, len(match))
	resp.Versions = match[offset:end]
	if end < len(match) {
		resp.NextPageToken = "offset-" + strconv.Itoa(end)
	}
	return resp, nil
}

func (svc *service) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	secretName, id, ok := splitVersion(req.GetName())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid version name %q", req.GetName())
	}
	s := svc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[secretName]
	var v *version
	if sec != nil && id == "latest" && len(sec.versions) > 0 {
		v = sec.versions[len(sec.versions)-1]
	} else if sec != nil {
		v = s.lookup(req.GetName())
	}
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", req.GetName())
	}
	if v.state != secretmanagerpb.SecretVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v.name, v.state)
	}
	sum := int64(crc32.Checksum(v.payload, castagnoli))
	if v.corrupt {
		sum ^= 1
	}
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name: v.name,
		Payload: &secretmanagerpb.SecretPayload{
			Data:       append([]byte(nil), v.payload...),
			DataCrc32C: &sum,
		},
	}, nil
}

// parseFilter accepts "" and "state:STATE"; the real service knows more.
func parseFilter(f string) (secretmanagerpb.SecretVersion_State, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return secretmanagerpb.SecretVersion_STATE_UNSPECIFIED, nil
	}
	name, ok := strings.CutPrefix(f, "state:")
	if ok {
		st, known := secretmanagerpb.SecretVersion_State_value[strings.ToUpper(strings.TrimSpace(name))]
		if known && st != 0 {
			return secretmanagerpb.SecretVersion_State(st), nil
		}
	}
	return 0, status.Errorf(codes.InvalidArgument, "secretstest: unsupported filter %q", f)
}

// splitVersion splits projects/P/secrets/S/versions/V into the secret's
// name and V.
func splitVersion(name string) (secretName, id string, ok bool) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", "", false
	}
	secretName, id = name[:i], name[i+len("/versions/"):]
	return secretName, id, validSecret(secretName) && id != "" && !strings.Contains(id, "/")
}

func validSecret(name string) bool {
	p := strings.Split(name, "/")
	return len(p) == 4 && p[0] == "projects" && p[1] != "" && p[2] == "secrets" && p[3] != ""
}
