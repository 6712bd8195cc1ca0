package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
	"github.com/geminihook/geminihook/internal/gemini/geminitest"
)

var (
	reServeListen = regexp.MustCompile(`listening on (http://\S+/)`)
	reServePubSub = regexp.MustCompile(`in-process at (\S+?),`)
)

// serveInProcess runs serve in this process on free ports, with vars as
// its environment, and returns its URL, its in-process Pub/Sub address and
// its output (banner and logs); it stops at the end of the test.
func serveInProcess(t *testing.T, vars map[string]string, args ...string) (url, pubsubAddr string, out, logs *cloudlogtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs = &cloudlogtest.Buffer{}, &cloudlogtest.Buffer{}
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: logs, getenv: func(k string) string { return vars[k] }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--pubsub-addr", "127.0.0.1:0"}, args...), e)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		b := out.String()
		if strings.Contains(b, "Stop with Ctrl-C.") {
			u, p := reServeListen.FindStringSubmatch(b), reServePubSub.FindStringSubmatch(b)
			if u == nil || p == nil {
				t.Fatalf("serve banner without its address or Pub/Sub address:\n%s", b)
			}
			return u[1], p[1], out, logs
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s\n%s", code, out, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve printed no banner:\n%s\n%s", out, logs)
	return "", "", nil, nil
}

// TestWebhooksPingWaitEndToEnd: the whole path of a static webhook on one
// machine. create registers it with the fake WebhookService and stores the
// secret it issued in the loopback Secret Manager; serve verifies with
// that stored version (--secret-file); update points the webhook at serve;
// on :ping the fake delivers a v1-signed ping to it, serve publishes it,
// and `ping --wait` sees it arrive on the topic. No secret is printed or
// logged anywhere.
func TestWebhooksPingWaitEndToEnd(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://placeholder.example.test/")
	vs := h.versions()
	if len(vs) != 1 {
		t.Fatalf("%d versions after create", len(vs))
	}
	secretFile := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secretFile, vs[0].Payload, 0o600); err != nil {
		t.Fatal(err)
	}
	url, psAddr, banner, logs := serveInProcess(t, nil, "--secret-file", secretFile)
	h.mustRun(t, 0, "update", id, "--uri", url)

	stdout, stderr := h.mustRun(t, 0, "ping", id, "--wait", "--pubsub-addr", psAddr, "--timeout", "30s")
	want := "ping of webhook " + id + " arrived on projects/" + defaultProject + "/topics/" + geminihook.DefaultTopic + " after "
	if !strings.Contains(stdout, want) || !strings.Contains(stdout, "type "+geminitest.PingType) || !strings.Contains(stdout, "scheme v1") {
		t.Fatalf("ping --wait printed:\n%s\nwant %q…", stdout, want)
	}
	h.fake.WaitDeliveries()
	ds := h.fake.Deliveries()
	if len(ds) != 1 || ds[0].Status != 200 || ds[0].Signatures != 1 || ds[0].Type != geminitest.PingType {
		t.Errorf("deliveries %+v, want one ping answered 200", ds)
	}
	h.noSecrets(t, stdout, stderr, banner.String(), logs.String())
	if strings.Contains(stderr, "could not delete") {
		t.Errorf("the temporary subscription was not deleted:\n%s", stderr)
	}
}

// TestWebhooksPingWaitTimeout: a ping the function refuses (serve holds
// another secret) never arrives: exit 1 at --timeout, saying what to check.
func TestWebhooksPingWaitTimeout(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://placeholder.example.test/")
	url, psAddr, _, _ := serveInProcess(t, nil, "--secret", geminitest.NewSecret())
	h.mustRun(t, 0, "update", id, "--uri", url)
	start := time.Now()
	code, stdout, stderr := h.run(t, "ping", id, "--wait", "--pubsub-addr", psAddr, "--timeout", "3s")
	if code != exitFailure || !strings.Contains(stderr, "no ping event") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %v with --timeout 3s", took)
	}
	h.fake.WaitDeliveries()
	if ds := h.fake.Deliveries(); len(ds) != 1 || ds[0].Status != 401 {
		t.Errorf("deliveries %+v, want one refused with 401", ds)
	}
}
