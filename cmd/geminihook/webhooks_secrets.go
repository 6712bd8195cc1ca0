package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Secret Manager and Cloud Functions for the webhooks command: the signing
// secrets Gemini issues are stored as new versions of one secret (every
// enabled version verifies at the function), and old versions are
// disabled once Gemini no longer signs with them.

// smClient is a Secret Manager client and how to close it.
type smClient struct {
	c     *secretmanager.Client
	close func()
}

// loopbackOptions point a Google gRPC client at a loopback test server:
// plaintext, no credentials.
func loopbackOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// newSMClient connects to Google's Secret Manager with the application
// default credentials, or to the loopback server at addr.
func newSMClient(ctx context.Context, addr string) (*smClient, error) {
	var opts []option.ClientOption
	if addr != "" {
		opts = loopbackOptions(addr)
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Secret Manager client: %v (sign in with 'gcloud auth application-default login')", err)
	}
	return &smClient{c: c, close: func() { c.Close() }}, nil
}

var (
	secretNameRE = regexp.MustCompile(`^projects/[a-z0-9.:-]{1,100}/secrets/[A-Za-z0-9_-]{1,255}$`)
	secretIDRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// secretName returns the full name of a secret given as an id (in
// project) or as projects/P/secrets/S.
func secretName(flagName, v, project string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case secretNameRE.MatchString(v):
		return v, nil
	case secretIDRE.MatchString(v) && project != "":
		return "projects/" + project + "/secrets/" + v, nil
	case secretIDRE.MatchString(v):
		return "", badUsage("%s %s: a secret id needs --project (or $GOOGLE_CLOUD_PROJECT); or give projects/P/secrets/S", flagName, v)
	}
	return "", badUsage("%s %q: want a secret id or projects/P/secrets/S", flagName, v)
}

// smError turns a Secret Manager error into one line with what to do.
func smError(what, name string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%s %s: not found: create the secret first (the Terraform module creates it; or 'gcloud secrets create %s')", what, name, name[strings.LastIndexByte(name, '/')+1:])
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("%s %s: permission denied: you need roles/secretmanager.secretVersionManager (add, disable) and roles/secretmanager.secretAccessor (read) on it: %v", what, name, status.Convert(err).Message())
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s %s: Secret Manager does not answer: %v", errUnreachable, what, name, status.Convert(err).Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("%s %s: %v", what, name, status.Convert(err).Message())
	}
	return fmt.Errorf("%s %s: %v", what, name, err)
}

// latest returns the payload of the latest version of secret.
func (s *smClient) latest(ctx context.Context, name string) (string, error) {
	res, err := s.c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/latest"})
	if err != nil {
		return "", smError("reading", name, err)
	}
	data := res.GetPayload().GetData()
	if sum := res.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoliTable)) != *sum {
		return "", fmt.Errorf("reading %s: the payload does not match its checksum", name)
	}
	return string(data), nil
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// check proves that secret exists and can be listed, before anything is
// asked of Gemini that would leave a secret to store.
func (s *smClient) check(ctx context.Context, name string) error {
	it := s.c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: name, PageSize: 1})
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		return smError("checking", name, err)
	}
	return nil
}

// add stores payload as a new version of secret and returns the version's
// name. An unanswered call is tried again (a version added twice holds
// the same secret, which verifies the same).
func (s *smClient) add(ctx context.Context, name, payload string) (string, error) {
	sum := int64(crc32.Checksum([]byte(payload), castagnoliTable))
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return "", smError("adding a version to", name, err)
			}
		}
		var v *secretmanagerpb.SecretVersion
		v, err = s.c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
			Parent:  name,
			Payload: &secretmanagerpb.SecretPayload{Data: []byte(payload), DataCrc32C: &sum},
		})
		if err == nil {
			return v.GetName(), nil
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.ResourceExhausted {
			break
		}
	}
	return "", smError("adding a version to", name, err)
}

// storedVersion is one enabled version with its payload.
type storedVersion struct {
	name    string
	payload string
	created time.Time
}

// enabled returns the enabled versions of secret, newest first, with
// their payloads.
func (s *smClient) enabled(ctx context.Context, name string) ([]storedVersion, error) {
	it := s.c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: name, Filter: "state:ENABLED"})
	var out []storedVersion
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, smError("listing the versions of", name, err)
		}
		if v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		res, err := s.c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v.GetName()})
		if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.NotFound {
			continue // disabled since the list
		}
		if err != nil {
			return nil, smError("reading", v.GetName(), err)
		}
		out = append(out, storedVersion{name: v.GetName(), payload: strings.TrimSpace(string(res.GetPayload().GetData())), created: v.GetCreateTime().AsTime()})
	}
	return out, nil
}

// disable disables one version.
func (s *smClient) disable(ctx context.Context, version string) error {
	if _, err := s.c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: version}); err != nil {
		return smError("disabling", version, err)
	}
	return nil
}

var (
	functionNameRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/functions/[^/]+$`)
	functionIDRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// functionURI reads the URL of a deployed Cloud Function (2nd gen) from
// the Cloud Functions API: its ServiceConfig.Uri. name is
// projects/P/locations/L/functions/F, or F with project and region. addr,
// when set, is a loopback Cloud Functions server (tests).
func functionURI(ctx context.Context, name, project, region, addr string) (string, error) {
	if !functionNameRE.MatchString(name) {
		if !functionIDRE.MatchString(name) || project == "" || region == "" {
			return "", badUsage("--function %q: want projects/P/locations/REGION/functions/NAME, or NAME with --project and --region", name)
		}
		name = "projects/" + project + "/locations/" + region + "/functions/" + name
	}
	var opts []option.ClientOption
	if addr != "" {
		opts = loopbackOptions(addr)
	}
	c, err := functions.NewFunctionClient(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("creating the Cloud Functions client: %v (sign in with 'gcloud auth application-default login')", err)
	}
	defer c.Close()
	f, err := c.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: name})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return "", fmt.Errorf("--function %s: no such function (deploy it first: see the Terraform module)", name)
	case codes.PermissionDenied, codes.Unauthenticated:
		return "", fmt.Errorf("--function %s: permission denied (you need cloudfunctions.functions.get, e.g. roles/cloudfunctions.viewer): %v", name, status.Convert(err).Message())
	case codes.Unavailable, codes.DeadlineExceeded:
		return "", fmt.Errorf("%w: --function %s: Cloud Functions does not answer: %v", errUnreachable, name, status.Convert(err).Message())
	default:
		return "", fmt.Errorf("--function %s: %v", name, err)
	}
	uri := f.GetServiceConfig().GetUri()
	if uri == "" {
		uri = f.GetUrl()
	}
	if uri == "" {
		return "", fmt.Errorf("--function %s has no URL yet (state %s): wait for the deployment to finish, or pass --uri", name, f.GetState())
	}
	return uri, nil
}
