package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/internal/loadtest"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

const loadSecret = verifytest.Secret

func TestLoadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no key", []string{"load"}, "no signing key"},
		{"secret file missing", []string{"load", "--secret", loadSecret, "--secret-file", "no-such-secret.txt"}, "--secret-file no-such-secret.txt"},
		{"bad secret", []string{"load", "--secret", "whsec_***"}, "secret"},
		{"n zero", []string{"load", "--secret", loadSecret, "--n", "0"}, "--n 0"},
		{"n over limit", []string{"load", "--secret", loadSecret, "--n", "100001"}, "want 1 to 100000"},
		{"concurrency over limit", []string{"load", "--secret", loadSecret, "--concurrency", "1000"}, "concurrency 1000"},
		{"duplicates over limit", []string{"load", "--secret", loadSecret, "--duplicates", "2"}, "duplicates 2"},
		{"forged over limit", []string{"load", "--secret", loadSecret, "--forged", "0.7"}, "forged 0.7"},
		{"public url", []string{"load", "--secret", loadSecret, "--url", "http://example.com/"}, "not a loopback host"},
		{"bad url", []string{"load", "--secret", loadSecret, "--url", "127.0.0.1:8080"}, "absolute http URL"},
		{"zero timeout", []string{"load", "--secret", loadSecret, "--timeout", "0s"}, "--timeout must be positive"},
		{"settle over limit", []string{"load", "--secret", loadSecret, "--settle", "1h"}, "--settle 1h0m0s"},
		{"no verify with topic", []string{"load", "--secret", loadSecret, "--no-verify-delivery", "--topic", "t"}, "drop --pubsub-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runInProcess(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("run(%q) = exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, exitUsage, tt.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		code, stdout, _ := runInProcess(t, "", "load", "--help")
		for _, want := range []string{"Usage: geminihook load", "--duplicates", "--no-verify-delivery", "Loopback only", "Examples:", "Exit codes"} {
			if code != exitOK || !strings.Contains(stdout, want) {
				t.Errorf("load --help = exit %d, lacks %q:\n%s", code, want, stdout)
			}
		}
		_, top, _ := runInProcess(t, "", "--help")
		if !strings.Contains(top, "load ") {
			t.Errorf("geminihook --help does not list load:\n%s", top)
		}
	})
}

func TestLoadPublicPubSubRefused(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	code, _, stderr := runInProcess(t, "", "load", "--secret", loadSecret, "--url", hs.URL, "--pubsub-addr", "10.1.2.3:8085")
	if code != exitUsage || !strings.Contains(stderr, "not on loopback") {
		t.Errorf("load with a public Pub/Sub address = exit %d, stderr %q; want usage error", code, stderr)
	}
}

func TestLoadUnreachable(t *testing.T) {
	dead := deadAddr(t)
	code, _, stderr := runInProcess(t, "", "load", "--secret", loadSecret, "--url", "http://"+dead+"/", "--no-verify-delivery")
	if code != exitUnreachable || !strings.Contains(stderr, "nothing answers") {
		t.Errorf("load at a closed port = exit %d, stderr %q; want %d", code, stderr, exitUnreachable)
	}
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	code, _, stderr = runInProcess(t, "", "load", "--secret", loadSecret, "--url", hs.URL, "--pubsub-addr", dead)
	if code != exitUnreachable || !strings.Contains(stderr, "no Pub/Sub server") {
		t.Errorf("load with a closed Pub/Sub port = exit %d, stderr %q; want %d", code, stderr, exitUnreachable)
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestLoadDetectsDoublePublish loads a receiver that acknowledges each
// delivery and publishes it twice: load must count every authentic
// delivery as doubled and exit 1.
func TestLoadDetectsDoublePublish(t *testing.T) {
	const project, topic = "doubled", "events"
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	defer srv.Close()
	client, closeClient, err := dialPubSub(context.Background(), srv.Addr, project)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient()
	full := "projects/" + project + "/topics/" + topic
	if _, err := client.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: full}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(verify.HeaderID)
		for range 2 {
			srv.Publish(full, body, map[string]string{events.AttrID: id})
		}
		w.Write([]byte(`{"status":"published","id":"` + id + `"}`))
	}))
	defer hs.Close()

	code, stdout, stderr := runInProcess(t, "", "load", "--secret", loadSecret, "--url", hs.URL,
		"--pubsub-addr", srv.Addr, "--project", project, "--topic", topic,
		"--n", "30", "--duplicates", "0", "--forged", "0.1", "--settle", "5s", "--json", "--quiet") // default --grace 1s
	if code != exitFailure {
		t.Errorf("load against a doubling receiver = exit %d, want %d; stderr:\n%s", code, exitFailure, stderr)
	}
	var r loadtest.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("load --json output: %v\n%s", err, stdout)
	}
	if r.Authentic != 27 || r.Doubled != 27 || r.ExtraCopies != 27 || r.Lost != 0 || r.ForgedAccepted != 3 || r.ForgedPublished != 3 {
		t.Errorf("report = %+v; want 27 authentic, all doubled, 3 forged accepted and published", r)
	}
}

// loadReport runs the built binary's load and decodes its --json report.
func loadReport(t *testing.T, env []string, wantCode int, args ...string) loadtest.Report {
	t.Helper()
	code, stdout, stderr := runCLI(t, env, append([]string{"load", "--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("load %q: exit %d, want %d; stdout:\n%s\nstderr:\n%s", args, code, wantCode, stdout, stderr)
	}
	var r loadtest.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("load --json output: %v\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "sends done (") {
		t.Errorf("load printed no progress line; stderr:\n%s", stderr)
	}
	return r
}

// checkCleanLoad checks the report of n sends with 20 % duplicates and
// 10 % forgeries against a correct receiver.
func checkCleanLoad(t *testing.T, r loadtest.Report, n int) {
	t.Helper()
	dup, forged := n/5, n/10
	authentic := n - dup - forged
	if r.Sends != n || r.Authentic != authentic || r.DuplicateSends != dup || r.ForgedSends != forged {
		t.Errorf("sent %d = %d authentic + %d duplicates + %d forged; want %d = %d + %d + %d", r.Sends, r.Authentic, r.DuplicateSends, r.ForgedSends, n, authentic, dup, forged)
	}
	if r.Published != authentic || r.Lost != 0 || r.Doubled != 0 || r.ForgedPublished != 0 || r.LostAtSender != 0 || r.ForgedAccepted != 0 || !r.Verified {
		t.Errorf("report = %+v; want every authentic delivery published once, nothing lost, doubled or forged", r)
	}
	// The receiver publishes each authentic delivery once and answers its
	// other sends "duplicate" (after 409 while the first is in flight);
	// forgeries get one final 401 each.
	if r.Status["200 published"] != authentic || r.Status["401"] != forged || r.Status["200 duplicate"] != dup {
		t.Errorf("status histogram = %v; want %d × 200 published, %d × 200 duplicate, %d × 401", r.Status, authentic, dup, forged)
	}
	if other := r.Attempts - r.Status["200 published"] - r.Status["200 duplicate"] - r.Status["401"] - r.Status["409"]; other != 0 {
		t.Errorf("status histogram = %v: %d attempts with another answer", r.Status, other)
	}
	if r.Retries != r.Status["409"] {
		t.Errorf("%d retries, want one per 409 (%d)", r.Retries, r.Status["409"])
	}
}

func TestLoadServeEmbedded(t *testing.T) {
	needBinary(t)
	env := cliEnv()
	serve, s := startServe(t, env)
	r := loadReport(t, env, exitOK, "--url", s.url, "--secret", s.secret, "--pubsub-addr", s.pubsubAddr,
		"--n", "300", "--concurrency", "10", "--duplicates", "0.2", "--forged", "0.1", "--max-backoff", "300ms", "--progress", "50ms")
	checkCleanLoad(t, r, 300)
	serve.interrupt(t)
}

func TestLoadServeEmulators(t *testing.T) {
	needBinary(t)
	fs, ps := emulator.Firestore(t), emulator.PubSub(t)
	project := emulator.ProjectID(t)
	env := cliEnv("FIRESTORE_EMULATOR_HOST="+fs.Addr(), "PUBSUB_EMULATOR_HOST="+ps.Addr())
	serve, s := startServe(t, env, "--project", project)
	r := loadReport(t, env, exitOK, "--url", s.url, "--secret", s.secret, "--project", project,
		"--n", "200", "--concurrency", "10", "--duplicates", "0.2", "--forged", "0.1", "--max-backoff", "300ms", "--progress", "50ms")
	checkCleanLoad(t, r, 200)
	serve.interrupt(t)
}
