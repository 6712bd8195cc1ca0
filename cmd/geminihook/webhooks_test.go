package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/gemini"
	"github.com/geminihook/geminihook/internal/gemini/geminitest"
	"github.com/geminihook/geminihook/internal/secrets/secretstest"
)

const (
	hooksKey    = "AIzaCliTestKey-0123456789abcdefghijklmn"
	hooksSecret = "projects/hooks-project/secrets/geminihook-signing-secret"
)

// hooksEnv is a fake WebhookService and a loopback Secret Manager, with
// the signing secret's secret created (empty), as Terraform leaves it.
type hooksEnv struct {
	fake *geminitest.Server
	sm   *secretstest.Server
	vars map[string]string
}

func newHooksEnv(t *testing.T) *hooksEnv {
	t.Helper()
	h := &hooksEnv{fake: geminitest.NewServer(t, hooksKey), sm: secretstest.NewServer(t), vars: map[string]string{"GEMINI_API_KEY": hooksKey}}
	h.sm.CreateSecret(hooksSecret)
	return h
}

// conn are the flags that point a subcommand at the fakes.
func (h *hooksEnv) conn() []string {
	return []string{"--api-url", h.fake.URL, "--secret-manager-addr", h.sm.Addr()}
}

// run runs `geminihook webhooks SUB args... <conn flags>` in-process.
func (h *hooksEnv) run(t *testing.T, sub string, args ...string) (int, string, string) {
	t.Helper()
	all := append([]string{"webhooks", sub}, args...)
	if sub != "config" && !slices.Contains(args, "--api-url") && !slices.Contains(args, "--secret-manager-addr") {
		all = append(all, h.conn()...)
	}
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return h.vars[k] }}
	code := run(context.Background(), all, e)
	return code, out.String(), errOut.String()
}

// mustRun runs and fails the test on an exit code other than want.
func (h *hooksEnv) mustRun(t *testing.T, want int, sub string, args ...string) (string, string) {
	t.Helper()
	code, stdout, stderr := h.run(t, sub, args...)
	if code != want {
		t.Fatalf("webhooks %s %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", sub, args, code, want, stdout, stderr)
	}
	return stdout, stderr
}

// noSecrets fails when any text holds a secret the fake issued (whole, or
// its base64 part) or the API key.
func (h *hooksEnv) noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range h.fake.AllSecrets() {
		for _, txt := range texts {
			if strings.Contains(txt, strings.TrimPrefix(s, "whsec_")) {
				t.Errorf("a signing secret is printed:\n%s", txt)
			}
		}
	}
	for _, txt := range texts {
		if strings.Contains(txt, hooksKey) {
			t.Errorf("the API key is printed:\n%s", txt)
		}
	}
}

var reCreated = regexp.MustCompile(`created webhook (\S+) \(state (\S+)\)`)

// create registers a webhook and returns its id.
func (h *hooksEnv) create(t *testing.T, uri string, extra ...string) string {
	t.Helper()
	stdout, stderr := h.mustRun(t, 0, "create", append([]string{"--uri", uri, "--events", "batch.succeeded,batch.failed", "--secret", hooksSecret}, extra...)...)
	m := reCreated.FindStringSubmatch(stdout)
	if m == nil || m[2] != gemini.StateEnabled {
		t.Fatalf("create printed no id and state:\n%s", stdout)
	}
	h.noSecrets(t, stdout, stderr)
	return m[1]
}

// versions are the stored versions' states and payloads.
func (h *hooksEnv) versions() []secretstest.Version { return h.sm.Versions(hooksSecret) }

func TestWebhooksHelp(t *testing.T) {
	for _, args := range [][]string{{"webhooks", "--help"}, {"help", "webhooks"}, {"webhooks", "help", "rotate"}} {
		code, stdout, stderr := runInProcess(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, "Subcommands:") && !strings.Contains(stdout, "Usage: geminihook webhooks rotate") {
			t.Errorf("%q: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	for _, c := range webhooksCommands {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, "", "webhooks", c.name, "--help")
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			for _, want := range []string{"Usage: geminihook webhooks " + c.name, "Examples:", "geminihook webhooks " + c.name + " ", "Exit codes", "--"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("--help lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
	if code, _, stderr := runInProcess(t, "", "webhooks"); code != exitUsage || !strings.Contains(stderr, "Subcommands:") {
		t.Errorf("webhooks alone: exit %d\n%s", code, stderr)
	}
}

func TestWebhooksUsageErrors(t *testing.T) {
	h := newHooksEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown subcommand "bogus"`},
		{[]string{"get"}, "name the webhook"},
		{[]string{"get", "a", "b"}, "one webhook id"},
		{[]string{"get", "a/b"}, "invalid webhook id"},
		{[]string{"create", "--events", "batch.succeeded", "--secret", "s"}, "no --uri"},
		{[]string{"create", "--uri", "https://x.test/", "--secret", "s"}, "no --events"},
		{[]string{"create", "--uri", "https://x.test/", "--events", "batch.succeeded"}, "no --secret"},
		{[]string{"create", "--uri", "ftp://x.test/", "--events", "batch.succeeded", "--secret", "s"}, "--uri"},
		{[]string{"create", "--uri", "http://x.test/", "--events", "batch.succeeded", "--secret", hooksSecret}, "https only"},
		{[]string{"create", "--uri", "https://x.test/", "--events", "Batch", "--secret", "s"}, "event"},
		{[]string{"create", "--uri", "https://x.test/", "--function", "f", "--events", "batch.failed", "--secret", "s"}, "pick one"},
		{[]string{"create", "--uri", "https://x.test/", "--events", "batch.failed", "--secret", "s"}, "needs --project"},
		{[]string{"update", "abc"}, "nothing to update"},
		{[]string{"rotate", "abc"}, "no --secret"},
		{[]string{"rotate", "abc", "--secret", hooksSecret, "--dry-run"}, "--dry-run goes with --finish"},
		{[]string{"rotate", "--finish", "abc", "--secret", hooksSecret, "--immediately"}, "--finish rotates nothing"},
		{[]string{"list", "--page-size", "5000"}, "--page-size"},
		{[]string{"list", "--api-key-file", "a", "--api-key-secret", "b"}, "pick one"},
		{[]string{"list", "--api-url", "http://example.test"}, "clear text"},
		{[]string{"list", "--secret-manager-addr", "10.0.0.1:1"}, "loopback"},
		{[]string{"config"}, "no --url"},
		{[]string{"config", "--url", "https://f.test", "--print-token"}, "--print-token needs --route-token-file"},
		{[]string{"config", "--url", "https://f.test", "--metadata", "novalue"}, "key=value"},
	} {
		code, stdout, stderr := h.run(t, tt.args[0], tt.args[1:]...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("webhooks %q: exit %d, stderr %q; want exit 2 mentioning %q (stdout %q)", tt.args, code, stderr, tt.want, stdout)
		}
	}
	// No key at all.
	h.vars = map[string]string{}
	if code, _, stderr := h.run(t, "list"); code != exitUsage || !strings.Contains(stderr, "GEMINI_API_KEY") {
		t.Errorf("no key: exit %d %q", code, stderr)
	}
}

// TestWebhooksCreate: the signing secret Gemini returns is added as a
// version of the secret, and appears nowhere on the output; --print-secret
// shows it; a missing secret stops create before Gemini is asked.
func TestWebhooksCreate(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://hooks.example.test/", "--name", "prod")
	w, ok := h.fake.Webhook(id)
	if !ok || w.Name != "prod" || w.URI != "https://hooks.example.test/" || strings.Join(w.SubscribedEvents, ",") != "batch.succeeded,batch.failed" {
		t.Fatalf("the fake holds %+v", w)
	}
	vs := h.versions()
	issued := h.fake.Secrets(id)
	if len(vs) != 1 || string(vs[0].Payload) != issued[0] || vs[0].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("Secret Manager holds %d versions; want one enabled version with the issued secret", len(vs))
	}

	stdout, stderr := h.mustRun(t, 0, "create", "--uri", "https://hooks.example.test/2", "--events", "video.generated", "--secret", hooksSecret, "--print-secret")
	second := h.fake.AllSecrets()[1]
	if !strings.Contains(stdout, second) || strings.Contains(stderr, second) {
		t.Errorf("--print-secret: the secret is not on stdout (only):\n%s\n%s", stdout, stderr)
	}

	before := h.fake.Calls("create")
	code, _, stderr := h.run(t, "create", "--uri", "https://hooks.example.test/", "--events", "batch.failed", "--secret", "projects/hooks-project/secrets/missing")
	if code != exitFailure || !strings.Contains(stderr, "not found") || h.fake.Calls("create") != before {
		t.Errorf("create into a missing secret: exit %d, %d create calls; want exit 1 before any call\n%s", code, h.fake.Calls("create")-before, stderr)
	}
	// A secret id resolves in --project.
	h.vars["GOOGLE_CLOUD_PROJECT"] = "hooks-project"
	h.mustRun(t, 0, "create", "--uri", "https://hooks.example.test/3", "--events", "batch.failed", "--secret", "geminihook-signing-secret")
	if n := len(h.versions()); n != 3 {
		t.Errorf("%d versions after three creates", n)
	}
}

// fakeFunctions is a loopback Cloud Functions v2 API answering GetFunction.
type fakeFunctions struct {
	functionspb.UnimplementedFunctionServiceServer
	name, uri string
}

func (f *fakeFunctions) GetFunction(_ context.Context, req *functionspb.GetFunctionRequest) (*functionspb.Function, error) {
	if req.GetName() != f.name {
		return nil, errNotFoundRPC(req.GetName())
	}
	return &functionspb.Function{Name: f.name, State: functionspb.Function_ACTIVE, ServiceConfig: &functionspb.ServiceConfig{Uri: f.uri}}, nil
}

// TestWebhooksCreateFunction: --function reads the URL of the deployed
// function from the Cloud Functions API (here a loopback gRPC server).
func TestWebhooksCreateFunction(t *testing.T) {
	h := newHooksEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	const name = "projects/hooks-project/locations/europe-west1/functions/geminihook"
	const uri = "https://geminihook-abc123-ew.a.run.app"
	functionspb.RegisterFunctionServiceServer(gs, &fakeFunctions{name: name, uri: uri})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	stdout, _ := h.mustRun(t, 0, "create", "--function", "geminihook", "--region", "europe-west1", "--project", "hooks-project",
		"--functions-addr", lis.Addr().String(), "--events", "batch.succeeded", "--secret", "geminihook-signing-secret")
	id := reCreated.FindStringSubmatch(stdout)[1]
	if w, _ := h.fake.Webhook(id); w.URI != uri {
		t.Errorf("webhook uri %q, want the function's %q", w.URI, uri)
	}
	code, _, stderr := h.run(t, "create", "--function", "projects/hooks-project/locations/europe-west1/functions/other",
		"--functions-addr", lis.Addr().String(), "--events", "batch.succeeded", "--secret", hooksSecret)
	if code != exitFailure || !strings.Contains(stderr, "no such function") {
		t.Errorf("unknown function: exit %d %q", code, stderr)
	}
}

var reFinishDisable = regexp.MustCompile(`(?m)^disable (\S+):`)

// TestWebhooksRotate: rotate adds the new secret as a version and says when
// the old one expires; --finish disables nothing while the old secret is
// valid, then exactly the expired one, never the newest.
func TestWebhooksRotate(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://hooks.example.test/")
	stdout, stderr := h.mustRun(t, 0, "rotate", id, "--secret", hooksSecret)
	h.noSecrets(t, stdout, stderr)
	vs := h.versions()
	issued := h.fake.Secrets(id)
	if len(vs) != 2 || len(issued) != 2 || string(vs[1].Payload) != issued[1] {
		t.Fatalf("after rotate: %d versions, %d secrets at Gemini; want the new secret as version 2", len(vs), len(issued))
	}
	if b := h.fake.Behaviors(); len(b) != 1 || b[0] != gemini.RevokeAfter24h {
		t.Errorf("revocation behavior %v", b)
	}
	if !strings.Contains(stdout, "expires at") || !strings.Contains(stdout, "rotate --finish "+id) {
		t.Errorf("rotate does not say when the old secret expires and what to run then:\n%s", stdout)
	}

	// Too early: both secrets are valid.
	stdout, _ = h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret)
	if !strings.Contains(stdout, "nothing to disable yet") || h.versions()[0].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("--finish before the expiry:\n%s", stdout)
	}
	// A day later (Gemini's clock): the old one goes.
	h.fake.Advance(25 * time.Hour)
	stdout, _ = h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret, "--dry-run")
	if h.versions()[0].State != secretmanagerpb.SecretVersion_ENABLED || !strings.Contains(stdout, "would disable "+vs[0].Name) {
		t.Fatalf("--dry-run disabled something, or does not say what it would:\n%s", stdout)
	}
	stdout, stderr = h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret)
	h.noSecrets(t, stdout, stderr)
	vs = h.versions()
	if vs[0].State != secretmanagerpb.SecretVersion_DISABLED || vs[1].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("after --finish: %v, %v; want version 1 disabled, 2 enabled\n%s", vs[0].State, vs[1].State, stdout)
	}
	if m := reFinishDisable.FindAllStringSubmatch(stdout, -1); len(m) != 1 || m[0][1] != vs[0].Name {
		t.Errorf("--finish output:\n%s", stdout)
	}
	stdout, _ = h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret)
	if !strings.Contains(stdout, "nothing to disable") {
		t.Errorf("second --finish:\n%s", stdout)
	}

	// --immediately: the old secret stops at once, --finish disables it
	// right away; Gemini dropping expired secrets from its list changes
	// nothing.
	h.fake.DropExpired(true)
	h.mustRun(t, 0, "rotate", id, "--secret", hooksSecret, "--immediately")
	if b := h.fake.Behaviors(); b[len(b)-1] != gemini.RevokeImmediately {
		t.Errorf("behaviors %v", b)
	}
	h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret)
	vs = h.versions()
	if len(vs) != 3 || vs[1].State != secretmanagerpb.SecretVersion_DISABLED || vs[2].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("after an immediate rotation and --finish: %+v", states(vs))
	}
}

func states(vs []secretstest.Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name+"="+v.State.String())
	}
	return out
}

// TestWebhooksFinishRefuses: --finish refuses to disable the newest
// version, and anything when no version holds the current secret; a
// version another webhook signs with is kept.
func TestWebhooksFinishRefuses(t *testing.T) {
	t.Run("newest version", func(t *testing.T) {
		h := newHooksEnv(t)
		id := h.create(t, "https://hooks.example.test/")
		// A newer version that no webhook signs with (put in by hand).
		h.sm.AddVersion(hooksSecret, []byte(geminitest.NewSecret()))
		code, stdout, stderr := h.run(t, "rotate", "--finish", id, "--secret", hooksSecret)
		if code != exitFailure || !strings.Contains(stderr, "refusing to disable") {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, v := range h.versions() {
			if v.State != secretmanagerpb.SecretVersion_ENABLED {
				t.Errorf("%s was disabled", v.Name)
			}
		}
	})
	t.Run("current secret not stored", func(t *testing.T) {
		h := newHooksEnv(t)
		id := h.fake.AddWebhook("https://hooks.example.test/", []string{"batch.failed"}, "")
		h.sm.AddVersion(hooksSecret, []byte(geminitest.NewSecret()))
		h.sm.AddVersion(hooksSecret, []byte(geminitest.NewSecret()))
		code, _, stderr := h.run(t, "rotate", "--finish", id, "--secret", hooksSecret)
		if code != exitFailure || !strings.Contains(stderr, "no enabled version of the secret holds the current secret") {
			t.Fatalf("exit %d %q", code, stderr)
		}
	})
	t.Run("other webhook", func(t *testing.T) {
		h := newHooksEnv(t)
		other := h.create(t, "https://hooks.example.test/other")
		id := h.create(t, "https://hooks.example.test/")
		h.mustRun(t, 0, "rotate", id, "--secret", hooksSecret, "--immediately")
		stdout, _ := h.mustRun(t, 0, "rotate", "--finish", id, "--secret", hooksSecret)
		vs := h.versions() // other's, id's old, id's new
		if vs[0].State != secretmanagerpb.SecretVersion_ENABLED || vs[1].State != secretmanagerpb.SecretVersion_DISABLED || vs[2].State != secretmanagerpb.SecretVersion_ENABLED {
			t.Fatalf("states %v\n%s", states(vs), stdout)
		}
		if !strings.Contains(stdout, "another webhook, "+other) {
			t.Errorf("does not say why the other webhook's version is kept:\n%s", stdout)
		}
	})
}

// TestWebhooksStatusAndEnable: status exits 1 while a webhook is disabled
// and prints the command that fixes it; that command works.
func TestWebhooksStatusAndEnable(t *testing.T) {
	h := newHooksEnv(t)
	a := h.create(t, "https://hooks.example.test/a")
	b := h.create(t, "https://hooks.example.test/b")
	stdout, _ := h.mustRun(t, 0, "status")
	if strings.Count(strings.TrimSpace(stdout), "\n") != 1 || !strings.Contains(stdout, a) || !strings.Contains(stdout, "(current)") {
		t.Fatalf("status, all enabled:\n%s", stdout)
	}
	h.fake.SetState(b, gemini.StateDisabledFailed)
	stdout, _ = h.mustRun(t, exitFailure, "status")
	fix := regexp.MustCompile(`(?m)^  geminihook (webhooks enable .*)$`).FindStringSubmatch(stdout)
	if fix == nil || !strings.Contains(fix[1], b) {
		t.Fatalf("status does not print the fix for %s:\n%s", b, stdout)
	}
	args := strings.Fields(fix[1]) // "webhooks enable ID --api-url … --secret-manager-addr …"
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return h.vars[k] }}
	if code := run(context.Background(), args, e); code != exitOK || !strings.Contains(out.String(), "enabled (was "+gemini.StateDisabledFailed+")") {
		t.Fatalf("the printed fix %q: exit %d\n%s%s", args, code, out.String(), errOut.String())
	}
	h.mustRun(t, 0, "status")
	h.fake.SetState(a, gemini.StateDisabled)
	h.mustRun(t, exitFailure, "status")
	stdout, _ = h.mustRun(t, 0, "enable", a)
	if !strings.Contains(stdout, "was disabled") {
		t.Errorf("enable:\n%s", stdout)
	}
	stdout, _ = h.mustRun(t, 0, "enable", a)
	if !strings.Contains(stdout, "already enabled") {
		t.Errorf("enable of an enabled webhook:\n%s", stdout)
	}
}

// TestWebhooksListAcrossPages: list follows next_page_token to the end.
func TestWebhooksListAcrossPages(t *testing.T) {
	h := newHooksEnv(t)
	for i := range 120 {
		h.fake.AddWebhook("https://hooks.example.test/"+string(rune('a'+i%26)), []string{"batch.failed"}, "")
	}
	stdout, _ := h.mustRun(t, 0, "list")
	if n := strings.Count(stdout, "\n"); n != 121 || h.fake.Calls("list") != 3 {
		t.Fatalf("list printed %d lines in %d calls; want a header and 120 webhooks from 3 pages of 50", n, h.fake.Calls("list"))
	}
	stdout, _ = h.mustRun(t, 0, "list", "--json", "--page-size", "7")
	var hooks []gemini.Webhook
	if err := json.Unmarshal([]byte(stdout), &hooks); err != nil || len(hooks) != 120 {
		t.Fatalf("list --json: %d webhooks, %v", len(hooks), err)
	}
	if c := h.fake.Calls("list"); c != 3+18 {
		t.Errorf("%d list calls with --page-size 7, want 18 more", c-3)
	}
}

// TestWebhooksRetries429: a 429 is retried (honouring Retry-After) and the
// command succeeds; each retry is said on stderr.
func TestWebhooksRetries429(t *testing.T) {
	h := newHooksEnv(t)
	h.fake.AddWebhook("https://hooks.example.test/", []string{"batch.failed"}, "")
	h.fake.Fail("list", 2, 429, "1")
	start := time.Now()
	stdout, stderr := h.mustRun(t, 0, "list")
	if h.fake.Calls("list") != 3 || strings.Count(stderr, "retrying in") != 2 || !strings.Contains(stdout, "hooks.example.test") {
		t.Fatalf("%d calls\nstdout:\n%s\nstderr:\n%s", h.fake.Calls("list"), stdout, stderr)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("two 429s with Retry-After 1 took %v; the header was not honoured", took)
	}
}

// TestWebhooksAPIErrors: each class of API error is one line and the exit
// code of the README table.
func TestWebhooksAPIErrors(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://hooks.example.test/")
	check := func(name string, want int, wantText string, sub string, args ...string) {
		t.Helper()
		code, _, stderr := h.run(t, sub, args...)
		if code != want || !strings.Contains(stderr, wantText) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", name, code, stderr, want, wantText)
		}
		h.noSecrets(t, stderr)
	}
	check("404", exitFailure, "NOT_FOUND", "get", "nosuchwebhook")
	check("400", exitUsage, "INVALID_ARGUMENT", "update", id, "--events", "batch.paused")
	h.fake.Fail("get", 1, 403, "")
	check("403", exitFailure, "API key was refused", "get", id)
	h.fake.Fail("delete", 1, 409, "")
	check("409", exitFailure, "conflicts", "delete", id)
	h.fake.Fail("rotate", 1, 500, "")
	check("500 on rotate", exitFailure, "may have happened", "rotate", id, "--secret", hooksSecret)
	h.vars["GEMINI_API_KEY"] = "AIzaWrong"
	check("wrong key", exitFailure, "API key not valid", "list")
	h.vars["GEMINI_API_KEY"] = hooksKey

	// Nothing listens at --api-url: exit 3.
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + lis.Addr().String()
	lis.Close()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return h.vars[k] }}
	if code := run(context.Background(), []string{"webhooks", "list", "--api-url", closed}, e); code != exitUnreachable {
		t.Errorf("closed --api-url: exit %d\n%s", code, errOut.String())
	}
	// 502/503/504 after the retries is unreachable (3); 500 a failure (1).
	for status, want := range map[int]int{503: exitUnreachable, 500: exitFailure} {
		err := apiError(&gemini.APIError{Op: "list webhooks", HTTPStatus: status, Attempts: 5}, &apiFlags{apiURL: gemini.DefaultBaseURL})
		if got := exitCode(&bytes.Buffer{}, "webhooks", err); got != want {
			t.Errorf("HTTP %d after the retries: exit %d, want %d", status, got, want)
		}
	}
}

// TestWebhooksAPIKeySources: the key comes from a file or a Secret Manager
// secret as well as from GEMINI_API_KEY.
func TestWebhooksAPIKeySources(t *testing.T) {
	h := newHooksEnv(t)
	h.fake.AddWebhook("https://hooks.example.test/", []string{"batch.failed"}, "")
	h.vars = map[string]string{}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(hooksKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := h.mustRun(t, 0, "list", "--api-key-file", file)
	h.noSecrets(t, stdout, stderr)
	h.sm.AddVersion("projects/hooks-project/secrets/gemini-api-key", []byte(hooksKey))
	stdout, stderr = h.mustRun(t, 0, "list", "--api-key-secret", "gemini-api-key", "--project", "hooks-project")
	h.noSecrets(t, stdout, stderr)
	code, _, stderr := h.run(t, "list", "--api-key-secret", "projects/hooks-project/secrets/none")
	if code != exitFailure || !strings.Contains(stderr, "not found") {
		t.Errorf("missing key secret: exit %d %q", code, stderr)
	}
}

func TestWebhooksGetUpdateDelete(t *testing.T) {
	h := newHooksEnv(t)
	id := h.create(t, "https://hooks.example.test/")
	stdout, _ := h.mustRun(t, 0, "get", "webhooks/"+id)
	if !strings.Contains(stdout, "id:      "+id) || !strings.Contains(stdout, "(current)") {
		t.Errorf("get:\n%s", stdout)
	}
	stdout, _ = h.mustRun(t, 0, "update", id, "--uri", "https://hooks.example.test/v2", "--events", "video.generated", "--events", "batch.expired")
	w, _ := h.fake.Webhook(id)
	if w.URI != "https://hooks.example.test/v2" || strings.Join(w.SubscribedEvents, ",") != "video.generated,batch.expired" {
		t.Errorf("after update the fake holds %+v\n%s", w, stdout)
	}
	stdout, _ = h.mustRun(t, 0, "get", id, "--json")
	var got gemini.Webhook
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.ID != id {
		t.Errorf("get --json: %v\n%s", err, stdout)
	}
	h.mustRun(t, 0, "delete", id)
	if _, ok := h.fake.Webhook(id); ok {
		t.Error("the webhook is still there")
	}
	h.mustRun(t, exitFailure, "delete", id)
}

// TestWebhooksConfig: the per-request configs carry the route-token URL;
// the token itself only with --print-token.
func TestWebhooksConfig(t *testing.T) {
	const token = "d2ViaG9va3MtY29uZmlnLXRlc3QtdG9rZW4"
	file := filepath.Join(t.TempDir(), "route-token.txt")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHooksEnv(t)
	const fn = "https://europe-west1-p.cloudfunctions.net/geminihook/"
	stdout, _ := h.mustRun(t, 0, "config", "--url", fn, "--route-token-file", file)
	if strings.Contains(stdout, token) {
		t.Fatalf("the token is printed without --print-token:\n%s", stdout)
	}
	hook := strings.TrimSuffix(fn, "/") + "/r/" + RoutePlaceholder
	checkConfigs(t, stdout, hook)
	if !strings.Contains(stdout, "--print-token") || !strings.Contains(stdout, "sed") || !strings.Contains(stdout, "read_text()") {
		t.Errorf("the output does not say how to fill in the token:\n%s", stdout)
	}

	stdout, _ = h.mustRun(t, 0, "config", "--url", fn, "--route-token-file", file, "--print-token", "--metadata", "job=nightly")
	checkConfigs(t, stdout, strings.TrimSuffix(fn, "/")+"/r/"+token)
	if strings.Contains(stdout, RoutePlaceholder) || !strings.Contains(stdout, `"job": "nightly"`) {
		t.Errorf("--print-token output:\n%s", stdout)
	}
	// The token file is checked even when the token is not printed.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("short"), 0o600)
	h.mustRun(t, exitUsage, "config", "--url", fn, "--route-token-file", bad)
}

// checkConfigs parses the three ```json blocks of config's output and
// checks where each puts the webhook URL.
func checkConfigs(t *testing.T, out, hook string) {
	t.Helper()
	blocks := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllStringSubmatch(out, -1)
	if len(blocks) != 3 {
		t.Fatalf("%d JSON blocks, want 3 (batch, interaction, video):\n%s", len(blocks), out)
	}
	var batch struct {
		Batch struct {
			WebhookConfig struct{ URIs []string } `json:"webhookConfig"`
		} `json:"batch"`
	}
	var inter struct {
		Background    bool `json:"background"`
		WebhookConfig struct {
			URIs         []string          `json:"uris"`
			UserMetadata map[string]string `json:"user_metadata"`
		} `json:"webhook_config"`
	}
	var video struct {
		WebhookConfig struct{ URIs []string } `json:"webhookConfig"`
	}
	for i, v := range []any{&batch, &inter, &video} {
		if err := json.Unmarshal([]byte(blocks[i][1]), v); err != nil {
			t.Fatalf("block %d is not JSON: %v\n%s", i, err, blocks[i][1])
		}
	}
	if u := batch.Batch.WebhookConfig.URIs; len(u) != 1 || u[0] != hook {
		t.Errorf("batch.webhookConfig.uris = %q, want [%q]", u, hook)
	}
	if u := inter.WebhookConfig.URIs; len(u) != 1 || u[0] != hook || !inter.Background || len(inter.WebhookConfig.UserMetadata) == 0 {
		t.Errorf("interaction: %+v, want uris [%q], background true and user_metadata", inter, hook)
	}
	if u := video.WebhookConfig.URIs; len(u) != 1 || u[0] != hook {
		t.Errorf("video webhookConfig.uris = %q, want [%q]", u, hook)
	}
	if n := strings.Count(out, "```python"); n != 3 {
		t.Errorf("%d Python blocks, want 3", n)
	}
}

func TestPingMatch(t *testing.T) {
	for _, tt := range []struct {
		typ, want, env string
		ok             bool
	}{
		{"webhook.ping", "", `{"type":"webhook.ping","webhook":"webhooks/abc","data":{}}`, true},
		{"ping", "", `{"type":"ping"}`, true},
		{"webhook.ping", "", `{"type":"webhook.ping","webhook":"webhooks/other"}`, false},
		{"webhook.ping", "", `{"data":{"webhook_id":"other"}}`, false},
		{"batch.succeeded", "", `{}`, false},
		{"webhook.test", "webhook.test", `{}`, true},
		{"webhook.ping", "webhook.test", `{}`, false},
	} {
		if got := isPing(tt.typ, tt.want) && pingOf([]byte(tt.env), "abc"); got != tt.ok {
			t.Errorf("%s %s %s: %v, want %v", tt.typ, tt.want, tt.env, got, tt.ok)
		}
	}
}

// TestPlanFinish covers the matching rules without a network.
func TestPlanFinish(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old, cur := geminitest.NewSecret(), geminitest.NewSecret()
	past, future := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	hook := func(oldExpiry string) gemini.Webhook {
		return gemini.Webhook{ID: "w", SigningSecrets: []gemini.SigningSecret{
			{TruncatedSecret: geminitest.Truncate(old), ExpireTime: oldExpiry},
			{TruncatedSecret: gemini.Truncate(cur)},
		}}
	}
	versions := []storedVersion{{name: "v2", payload: cur}, {name: "v1", payload: old}, {name: "v0", payload: "not a secret"}}
	p, err := planFinish(hook(past), nil, versions, now)
	if err != nil || len(p.disable) != 1 || p.disable[0].version != "v1" || len(p.keep) != 2 {
		t.Fatalf("expired old secret: %+v, %v", p, err)
	}
	p, err = planFinish(hook(future), nil, versions, now)
	if err != nil || len(p.disable) != 0 || !p.wait.Equal(now.Add(time.Hour)) {
		t.Fatalf("valid old secret: %+v, %v", p, err)
	}
	// Newest version holds an expired secret: refused.
	if _, err := planFinish(hook(past), nil, []storedVersion{{name: "v3", payload: old}, {name: "v2", payload: cur}}, now); err == nil || !strings.Contains(err.Error(), "newest") {
		t.Errorf("newest version: %v", err)
	}
	// A form that cannot be matched: refused.
	w := hook(past)
	w.SigningSecrets[0].TruncatedSecret = "whsec_…"
	if _, err := planFinish(w, nil, versions, now); err == nil {
		t.Error("an unmatchable form was accepted")
	}
}

func errNotFoundRPC(name string) error {
	return status.Errorf(codes.NotFound, "Function %s not found", name)
}
