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
}

// TestInstalledLauncherShape: the installed Firestore launcher still has
// the shape that firestoreJavaArgs understands, so that java is the direct
// child (Pdeathsig reaches it).
func TestInstalledLauncherShape(t *testing.T) {
	if !ready(t, testing.Short(), Check) {
		return
	}
	root := SDKRoot()
	b, err := os.ReadFile(filepath.Join(root, "platform", "cloud-firestore-emulator", "cloud_firestore_emulator"))
	if err != nil {
		t.Fatal(err)
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
	name            string
	skipped, failed bool
	msg             string
}

func (r *recorder) Name() string      { return r.name }
func (r *recorder) Skip(args ...any)  { r.skipped = true; r.msg = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any) { r.failed = true; r.msg = fmt.Sprint(args...) }

// TestReady: under -short an emulator test skips and is counted; without
// -short a missing part fails it (never skips), whatever CI says, with
// the message of the missing part, and is counted for the summary.
func TestReady(t *testing.T) {
	missing := &installError{root: "/nowhere", parts: []missing{{javaPart, "no java on PATH"}}}
	tests := []struct {
		name         string
		short        bool
		ci           string
		check        error
		ok           bool
		skip, failed bool
		msg          string // in the Skip or Fatal message
	}{
		{"installed", false, "", nil, true, false, false, ""},
		{"short", true, "", nil, false, true, false, "-short"},
		{"short and missing", true, "", missing, false, true, false, "-short"},
		{"missing", false, "", missing, false, false, true, "openjdk-17-jre-headless"},
		{"missing on CI", false, "true", missing, false, false, true, "Java 17 or later"},
		{"broken", false, "", ErrNotReady, false, false, true, "not ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			saved := report
			report = &tally{}
			defer func() { report = saved }()
			r := &recorder{TB: t, name: "TestX/" + tc.name}
			ok := ready(r, tc.short, func() error { return tc.check })
			if ok != tc.ok || r.skipped != tc.skip || r.failed != tc.failed {
				t.Errorf("ready = %v, skipped %v, failed %v; want %v, %v, %v", ok, r.skipped, r.failed, tc.ok, tc.skip, tc.failed)
			}
			if !strings.Contains(r.msg, tc.msg) {
				t.Errorf("message %q does not contain %q", r.msg, tc.msg)
			}
			sum := report.summary()
			switch {
			case tc.skip && !strings.Contains(sum, "1 test skipped under -short"):
				t.Errorf("summary after a -short skip = %q", sum)
			case tc.failed && errors.Is(tc.check, ErrNotInstalled) && !strings.Contains(sum, "1 test failed because a part it needs is missing"):
				t.Errorf("summary after a missing part = %q", sum)
			case tc.ok && sum != "":
				t.Errorf("summary after a test that could run = %q, want none", sum)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	r := &tally{}
	if got := r.summary(); got != "" {
		t.Errorf("empty tally: summary %q", got)
	}
	for _, name := range []string{"TestA", "TestB", "TestB", "TestC/sub"} {
		r.skipped(name)
	}
	want := "emulator: 3 tests skipped under -short: they need the Firestore/Pub/Sub emulators and Java; go test without -short runs them\n"
	if got := r.summary(); got != want {
		t.Errorf("summary = %q\nwant %q", got, want)
	}
	r = &tally{}
	r.failed("TestA", "emulator: not installed: missing Java")
	r.failed("TestB", "emulator: not installed: missing Java")
	want = "emulator: 2 tests failed because a part they need is missing:\nemulator: not installed: missing Java\n"
	if got := r.summary(); got != want {
		t.Errorf("summary = %q\nwant %q", got, want)
	}
}

// TestCheck: one message names every missing part and how to install
// each, and nothing when all is there.
func TestCheck(t *testing.T) {
	fake := t.TempDir()
	for _, f := range []string{
		"platform/cloud-firestore-emulator/cloud_firestore_emulator",
		"platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
		"platform/pubsub-emulator/bin/cloud-pubsub-emulator",
	} {
		p := filepath.Join(fake, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(firestoreScript528), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	java := t.TempDir()
	if err := os.WriteFile(filepath.Join(java, "java"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name    string
		root    string
		path    string
		want    []string // in the message; nil: no error
		notWant []string
	}{
		{"all there", fake, java, nil, nil},
		{"no java", fake, empty, []string{"missing Java 17 or later (no java on PATH", "apt-get install openjdk-17-jre-headless"},
			[]string{"Firestore", "Pub/Sub", "gcloud components"}},
		{"no emulators", empty, java, []string{
			"missing the Firestore emulator (no launcher " + empty, "and the Pub/Sub emulator (no launcher",
			"apt-get install google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator",
			"gcloud components install cloud-firestore-emulator pubsub-emulator", "go test -short",
		}, []string{"Java", "apt-get install google-cloud-cli "}},
		{"nothing", filepath.Join(empty, "sdk"), empty, []string{
			"the Firestore emulator", ", the Pub/Sub emulator", "and Java 17 or later",
			"apt-get install google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator openjdk-17-jre-headless",
			"gcloud components install cloud-firestore-emulator pubsub-emulator, and a Java 17+ runtime",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			t.Setenv("JAVA", "")
			t.Setenv("JAVA_HOME", "")
			err := check(tc.root)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrNotInstalled) {
				t.Fatalf("check = %v, want ErrNotInstalled", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not contain %q:\n%s", w, err)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("message contains %q:\n%s", w, err)
				}
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
