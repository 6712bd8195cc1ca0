package emulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
)

// The launcher script of google-cloud-cli 528, verbatim in its last lines.
const firestoreScript528 = `set -o errexit

declare -r FIRESTORE="$0"
declare -r FIRESTORE_DIR=$(dirname "${FIRESTORE}")
declare -r FIRESTORE_JAR="${FIRESTORE_DIR}/cloud-firestore-emulator.jar"

# The Cloud Firestore emulator currently only supports English error messages
declare -r JVM_ENGLISH="-Duser.language=en"
declare -r JVM_FLAGS="${JVM_ENGLISH}"

${JAVA:="java"} ${JVM_FLAGS} -cp "${FIRESTORE_JAR}" com.google.cloud.datastore.emulator.firestore.CloudFirestore $*
`

func TestFirestoreJavaArgs(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string // nil: not understood
	}{
		{"sdk 528", firestoreScript528, []string{"-Duser.language=en", "-cp", "/d/cloud-firestore-emulator.jar",
			"com.google.cloud.datastore.emulator.firestore.CloudFirestore"}},
		{"no flags", strings.Replace(firestoreScript528, `declare -r JVM_ENGLISH="-Duser.language=en"`, "", 1),
			[]string{"-cp", "/d/cloud-firestore-emulator.jar", "com.google.cloud.datastore.emulator.firestore.CloudFirestore"}},
		{"exec'ing launcher", strings.Replace(firestoreScript528, "$*", `"$@"`, 1), nil},
		{"jar elsewhere", strings.Replace(firestoreScript528, `"${FIRESTORE_DIR}/cloud`, `"/opt/cloud`, 1), nil},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := firestoreJavaArgs(tc.script, "/d")
			if ok != (tc.want != nil) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("firestoreJavaArgs = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
	// The installed script, when there is one, must still have the known shape.
	root := SDKRoot()
	b, err := os.ReadFile(filepath.Join(root, "platform", "cloud-firestore-emulator", "cloud_firestore_emulator"))
	if err != nil {
		t.Skipf("no installed launcher: %v", err)
	}
	if _, ok := firestoreJavaArgs(string(b), "/d"); !ok {
		t.Errorf("installed launcher under %s changed shape: the emulator would run through the script (no Pdeathsig)", root)
	}
}

func TestFindSDKRoot(t *testing.T) {
	noGcloud := func(string) (string, error) { return "", errors.New("not found") }
	if got := findSDKRoot(noGcloud); got != fallbackSDKRoot {
		t.Errorf("findSDKRoot(no gcloud) = %q, want %q", got, fallbackSDKRoot)
	}
	failing := func(string) (string, error) { return "/bin/false", nil }
	if got := findSDKRoot(failing); got != fallbackSDKRoot {
		t.Errorf("findSDKRoot(failing gcloud) = %q, want %q", got, fallbackSDKRoot)
	}
	script := filepath.Join(t.TempDir(), "gcloud")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho /opt/sdk\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findSDKRoot(func(string) (string, error) { return script, nil }); got != "/opt/sdk" {
		t.Errorf("findSDKRoot(fake gcloud) = %q, want /opt/sdk", got)
	}
}

// recorder is a testing.TB whose Skip and Fatal only record.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Skip(...any)  { r.skipped = true }
func (r *recorder) Fatal(...any) { r.failed = true }

func TestRequire(t *testing.T) {
	missing := fmt.Errorf("%w: x", ErrNotInstalled)
	tests := []struct {
		name         string
		ci           string
		err          error
		skip, failed bool
	}{
		{"ok", "", nil, false, false},
		{"missing locally", "", missing, true, false},
		{"missing on CI", "true", missing, false, true},
		{"broken locally", "", ErrNotReady, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			require(r, tc.err)
			if r.skipped != tc.skip || r.failed != tc.failed {
				t.Errorf("skipped, failed = %v, %v; want %v, %v", r.skipped, r.failed, tc.skip, tc.failed)
			}
		})
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	if got := c.Count(""); got != 0 {
		t.Errorf("zero Counter Count = %d", got)
	}
	unary := c.UnaryInterceptor()
	stream := c.StreamInterceptor()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		return errors.New("failed calls count too")
	}
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		return nil, nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_ = unary(t.Context(), "/google.firestore.v1.Firestore/Commit", nil, nil, nil, invoker)
			_, _ = stream(t.Context(), &grpc.StreamDesc{}, nil, "/google.firestore.v1.Firestore/BatchGetDocuments", streamer)
		})
	}
	wg.Wait()
	for _, tc := range []struct {
		sub  string
		want int
	}{{"Commit", 50}, {"/BatchGetDocuments", 50}, {"Firestore/", 100}, {"", 100}, {"Rollback", 0}} {
		if got := c.Count(tc.sub); got != tc.want {
			t.Errorf("Count(%q) = %d, want %d", tc.sub, got, tc.want)
		}
	}
	snap := c.Snapshot()
	snap["/x"] = 7 // a copy
	if got := c.Count("/x"); got != 0 {
		t.Errorf("Snapshot is not a copy: Count(/x) = %d", got)
	}
	c.Reset()
	if got := c.Count(""); got != 0 || len(c.Snapshot()) != 0 {
		t.Errorf("after Reset Count = %d, Snapshot = %v", got, c.Snapshot())
	}
	if n := len(c.DialOptions()); n != 2 || len(c.ClientOptions()) != 2 {
		t.Errorf("DialOptions, ClientOptions lengths = %d, %d; want 2, 2", n, len(c.ClientOptions()))
	}
}
