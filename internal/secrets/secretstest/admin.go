package secretstest

import (
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The calls that change versions, for tools that store secrets (the
// webhooks command adds the signing secrets Gemini issues and disables the
// expired ones): AddSecretVersion, DisableSecretVersion and
// EnableSecretVersion, as the public API documents them. A version is
// added only to a secret that exists (CreateSecret, or AddVersion), else
// NotFound; a payload whose data_crc32c is given must match it, else
// InvalidArgument; a destroyed version cannot be disabled or enabled
// (FailedPrecondition).

// Version is a snapshot of one stored version.
type Version struct {
	Name    string
	State   secretmanagerpb.SecretVersion_State
	Payload []byte
}

// CreateSecret makes secret (projects/P/secrets/S) exist with no version,
// as a secret made by Terraform before anything is stored in it. It does
// nothing when the secret exists.
func (s *Server) CreateSecret(secretName string) {
	s.tb.Helper()
	if !validSecret(secretName) {
		s.tb.Fatalf("secretstest: CreateSecret: %q is not projects/P/secrets/S", secretName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets[secretName] == nil {
		s.secrets[secretName] = &secret{}
	}
}

// Versions returns the versions of secret, oldest first (nil when the
// secret does not exist).
func (s *Server) Versions(secretName string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[secretName]
	if sec == nil {
		return nil
	}
	out := make([]Version, len(sec.versions))
	for i, v := range sec.versions {
		out[i] = Version{Name: v.name, State: v.state, Payload: append([]byte(nil), v.payload...)}
	}
	return out
}

func (svc *service) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	parent := req.GetParent()
	if !validSecret(parent) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", parent)
	}
	data := req.GetPayload().GetData()
	if sum := req.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoli)) != *sum {
		return nil, status.Error(codes.InvalidArgument, "Checksum mismatch: data_crc32c does not match the payload.")
	}
	s := svc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[parent]
	if sec == nil {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", parent)
	}
	v := &version{
		name:    parent + "/versions/" + strconv.Itoa(len(sec.versions)+1),
		state:   secretmanagerpb.SecretVersion_ENABLED,
		payload: append([]byte(nil), data...),
		created: s.created,
	}
	s.created = s.created.Add(time.Second)
	sec.versions = append(sec.versions, v)
	return versionProto(v, len(sec.versions)), nil
}

func (svc *service) DisableSecretVersion(_ context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.s.changeState(req.GetName(), secretmanagerpb.SecretVersion_DISABLED)
}

func (svc *service) EnableSecretVersion(_ context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.s.changeState(req.GetName(), secretmanagerpb.SecretVersion_ENABLED)
}

func (s *Server) changeState(name string, st secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	if _, _, ok := splitVersion(name); !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid version name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lookup(name)
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	if v.state == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DESTROYED state.", name)
	}
	v.state = st
	_, id, _ := splitVersion(name)
	n, _ := strconv.Atoi(id)
	return versionProto(v, n), nil
}

func versionProto(v *version, n int) *secretmanagerpb.SecretVersion {
	return &secretmanagerpb.SecretVersion{
		Name:       v.name,
		CreateTime: timestamppb.New(v.created),
		State:      v.state,
		Etag:       fmt.Sprintf("%q", strconv.Itoa(n)+"-"+v.state.String()),
	}
}
