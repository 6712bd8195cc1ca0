package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/loadtest"
	"github.com/geminihook/geminihook/verify"
)

// These tests parse each command's line apart from running it: valid flags
// give the options, and each bad value a usage error (exit 2) that names
// the flag and the form it wants.

// quiet is an env for parsing: no output, no environment.
var quiet = env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}

// withEnv is quiet with the environment vars.
func withEnv(vars map[string]string) env {
	e := quiet
	e.getenv = func(k string) string { return vars[k] }
	return e
}

// badCase is a command line that must be refused: the flag named (""
// when none in particular) and text the message must hold.
type badCase struct {
	args       []string
	flag, want string
}

// checkBad runs parse on every case and checks the usage error.
func checkBad[O any](t *testing.T, name string, parse func([]string, env) (O, error), cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := parse(c.args, quiet)
			ue, ok := errors.AsType[*usageErr](err)
			if !ok {
				t.Fatalf("parse%s(%q) = %v, want a usage error", name, c.args, err)
			}
			if ue.flag != c.flag {
				t.Errorf("parse%s(%q) = %q: names flag %q, want %q", name, c.args, err, ue.flag, c.flag)
			}
			msg := err.Error()
			if c.flag != "" && !strings.HasPrefix(msg, "--"+c.flag+" ") {
				t.Errorf("parse%s(%q) = %q: does not start with --%s", name, c.args, msg, c.flag)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("parse%s(%q) = %q, want it to say %q", name, c.args, msg, c.want)
			}
			for _, internal := range []string{"parse error", "loadtest", "pstest", "verify:", "route:", "flag provided"} {
				if strings.Contains(msg, internal) {
					t.Errorf("parse%s(%q) = %q: says %q", name, c.args, msg, internal)
				}
			}
			if code := exitCode(io.Discard, name, fmt.Errorf("wrapped: %w", err)); code != exitUsage {
				t.Errorf("exit code of %q = %d, want %d", msg, code, exitUsage)
			}
		})
	}
}

// secretFile writes secret into a file and returns its path.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const otherSecret = "whsec_Z2VtaW5paG9vay10ZXN0LXNlY3JldC0wMDAwMDAwMDI="

func TestParseSend(t *testing.T) {
	file := secretFile(t, otherSecret)
	o, err := parseSend([]string{"--url", "http://127.0.0.1:9090/x", "--secret", testSecret, "--secret-file", file,
		"--type", "batch.failed", "--repeat", "3", "--concurrency", "2", "--timeout", "2s", "--skew", "-6m", "--quiet"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if o.url != "http://127.0.0.1:9090/x" || o.typ != "batch.failed" || o.repeat != 3 || o.concurrency != 2 ||
		o.timeout != 2*time.Second || o.skew != -6*time.Minute || !o.quiet || o.scheme != "v1" {
		t.Errorf("parseSend = %+v", o)
	}
	sg, err := o.signer()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sg.Secrets, []string{testSecret, otherSecret}) {
		t.Errorf("send signs with %d secrets, want --secret then --secret-file's", len(sg.Secrets))
	}
	if o, err := parseSend([]string{"--ed25519-seed", "k.seed"}, quiet); err != nil || o.scheme != "v1a" || o.url != defaultURL {
		t.Errorf("parseSend(--ed25519-seed) = scheme %q url %q, %v; want v1a at %s", o.scheme, o.url, err, defaultURL)
	}

	key := []string{"--secret", testSecret}
	checkBad(t, "Send", parseSend, []badCase{
		{append(key, "--repeat", "x"), "repeat", `"x": want a whole number such as 10`},
		{append(key, "--timeout", "soon"), "timeout", `"soon": want a duration such as 30s or 5m`},
		{append(key, "--skew", "-6"), "skew", `"-6": want a duration`},
		{append(key, "--all=maybe"), "all", `"maybe": want true or false`},
		{append(key, "--repeat", "0"), "repeat", "0: want 1 to 10000"},
		{append(key, "--concurrency", "999"), "concurrency", "999: want 1 to 256"},
		{append(key, "--timeout", "0s"), "timeout", "must be positive: want a duration such as 10s"},
		{append(key, "--url", "127.0.0.1:8080"), "url", `"127.0.0.1:8080": want an absolute http(s) URL such as http://127.0.0.1:8080/`},
		{append(key, "--id", strings.Repeat("x", verify.MaxIDBytes+1)), "id", "is over"},
		{append(key, "--all", "--type", "batch.failed"), "all", "drop --type"},
		{append(key, "--scheme", "v2"), "scheme", `"v2": want v1, v1a or jwt`},
		{append(key, "--scheme", "jwt"), "scheme", "jwt needs --rsa-key"},
		{append(key, "--kid", "k"), "kid", "applies to --scheme jwt only"},
		{[]string{"--secret", "whsec_***"}, "secret", "#1: want whsec_ followed by the base64 of 16 to 512 bytes"},
		{[]string{"--secret"}, "secret", "needs a value"},
		{append(key, "--bogus"), "bogus", "is not a flag of geminihook send"},
		{[]string{}, "", "no signing key"},
		{append(key, "extra"), "", `unexpected argument "extra"`},
	})
}

func TestParseTail(t *testing.T) {
	o, err := parseTail([]string{"--json", "--count", "9", "--timeout", "30s", "--topic", "a", "--topic", "projects/p/topics/b", "--project", "p"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !o.json || o.count != 9 || o.timeout != 30*time.Second || o.project != "p" ||
		!slices.Equal(o.topics, []string{"a", "projects/p/topics/b"}) || o.addr != defaultPubSubAddr {
		t.Errorf("parseTail = %+v", o)
	}
	o, err = parseTail(nil, withEnv(map[string]string{"PUBSUB_EMULATOR_HOST": "127.0.0.1:8681"}))
	if err != nil || o.addr != "127.0.0.1:8681" || !slices.Equal(o.topics, defaultTopics()) || o.project != defaultProject {
		t.Errorf("parseTail with PUBSUB_EMULATOR_HOST = %+v, %v; want its address, the default topics and project", o, err)
	}
	if o, err := parseTail([]string{"--pubsub-addr", "127.0.0.1:1"}, withEnv(map[string]string{"PUBSUB_EMULATOR_HOST": "127.0.0.1:8681"})); err != nil || o.addr != "127.0.0.1:1" {
		t.Errorf("--pubsub-addr with PUBSUB_EMULATOR_HOST: address %q, %v; want the flag's", o.addr, err)
	}

	checkBad(t, "Tail", parseTail, []badCase{
		{[]string{"--count", "-1"}, "count", "must not be negative"},
		{[]string{"--count", "many"}, "count", `"many": want a whole number such as 10`},
		{[]string{"--timeout", "-1s"}, "timeout", "must not be negative: want a duration such as 30s"},
		{[]string{"--timeout", "1"}, "timeout", `"1": want a duration such as 30s or 5m`},
		{[]string{"--json=yes"}, "json", `"yes": want true or false`},
		{[]string{"--pubsub-addr", "nonsense"}, "pubsub-addr", `"nonsense": want host:port, e.g. 127.0.0.1:8085`},
		{[]string{"--pubsub-addr", "127.0.0.1:99999"}, "pubsub-addr", "want host:port"},
		{[]string{"--project", ""}, "project", "must not be empty"},
		{[]string{"--topic"}, "topic", "needs a value"},
	})
}

func TestParseKeys(t *testing.T) {
	o, err := parseKeys([]string{"--out", "k", "--force", "--rsa-bits", "3072", "--kid", "mine"}, quiet)
	if err != nil || o != (keysOptions{out: "k", force: true, rsaBits: 3072, kid: "mine"}) {
		t.Errorf("parseKeys = %+v, %v", o, err)
	}
	if o, err := parseKeys(nil, quiet); err != nil || o != (keysOptions{out: "geminihook-keys", rsaBits: 2048, kid: defaultRSAKeyID}) {
		t.Errorf("parseKeys(nil) = %+v, %v; want the defaults", o, err)
	}
	checkBad(t, "Keys", parseKeys, []badCase{
		{[]string{"--rsa-bits", "1024"}, "rsa-bits", "1024: want 2048 to 4096"},
		{[]string{"--rsa-bits", "big"}, "rsa-bits", `"big": want a whole number`},
		{[]string{"--force=please"}, "force", `"please": want true or false`},
		{[]string{"--kid", ""}, "kid", "must not be empty"},
		{[]string{"--out", ""}, "out", "must not be empty: want a directory"},
	})
}

func TestParseLoad(t *testing.T) {
	file := secretFile(t, otherSecret)
	o, err := parseLoad([]string{"--secret", testSecret, "--secret-file", file, "--url", "http://localhost:9090/",
		"--n", "500", "--concurrency", "5", "--duplicates", "0.1", "--forged", "0", "--rate", "50", "--max-attempts", "3",
		"--timeout", "1s", "--deadline", "10s", "--min-backoff", "10ms", "--max-backoff", "1s", "--pubsub-addr", "[::1]:8085",
		"--project", "p", "--topic", "t", "--settle", "5s", "--grace", "0s", "--json", "--quiet", "--progress", "2s"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	lo := o.lo
	if lo.URL != "http://localhost:9090/" || lo.N != 500 || lo.Concurrency != 5 || lo.Duplicates != 0.1 || lo.Forged != 0 ||
		lo.Rate != 50 || lo.MaxAttempts != 3 || lo.AttemptTimeout != time.Second || lo.Deadline != 10*time.Second ||
		lo.MinBackoff != 10*time.Millisecond || lo.MaxBackoff != time.Second || lo.ProgressEvery != 2*time.Second ||
		o.pubsub.addr != "[::1]:8085" || o.pubsub.project != "p" || !slices.Equal(o.pubsub.topics, []string{"t"}) ||
		o.settle != 5*time.Second || o.grace != 0 || !o.json || !o.quiet || len(lo.Types) != 9 || lo.Body == nil {
		t.Errorf("parseLoad = %+v", o)
	}
	if secrets, err := o.secrets.read(); err != nil || !slices.Equal(secrets, []string{testSecret, otherSecret}) {
		t.Errorf("load's secrets: %d, %v; want --secret then --secret-file's", len(secrets), err)
	}
	if o, err := parseLoad([]string{"--secret-file", file, "--no-verify-delivery"}, quiet); err != nil || !o.noVerify || o.lo.N != loadtest.DefaultN {
		t.Errorf("parseLoad(--secret-file, --no-verify-delivery) = %+v, %v", o, err)
	}

	key := []string{"--secret", testSecret}
	checkBad(t, "Load", parseLoad, []badCase{
		{append(key, "--n", "0"), "n", "0: want 1 to 100000"},
		{append(key, "--n", "100001"), "n", "100001: want 1 to 100000"},
		{append(key, "--n", "1e3"), "n", `"1e3": want a whole number`},
		{append(key, "--concurrency", "1000"), "concurrency", "1000: want 1 to 256"},
		{append(key, "--duplicates", "2"), "duplicates", "2: want a share from 0 to 0.9"},
		{append(key, "--duplicates", "lots"), "duplicates", `"lots": want a number such as 0.5`},
		{append(key, "--forged", "0.7"), "forged", "0.7: want a share from 0 to 0.5"},
		{append(key, "--n", "2", "--duplicates", "0.5", "--forged", "0.5"), "duplicates", "leaves no authentic delivery"},
		{append(key, "--rate", "-1"), "rate", "-1: want 0 (no pacing) to 1e6 per second"},
		{append(key, "--max-attempts", "101"), "max-attempts", "101: want 1 to 100"},
		{append(key, "--timeout", "0s"), "timeout", "must be positive"},
		{append(key, "--timeout", "2m"), "timeout", "2m0s: want up to 1m0s"},
		{append(key, "--deadline", "1h"), "deadline", "1h0m0s: want up to 30m0s"},
		{append(key, "--min-backoff", "2s", "--max-backoff", "1s"), "max-backoff", "1s: want from the minimum backoff (2s) to 1m0s"},
		{append(key, "--settle", "1h"), "settle", "1h0m0s: want more than 0 and at most 10m0s"},
		{append(key, "--grace", "-1s"), "grace", "-1s: want 0 to 1m0s"},
		{append(key, "--progress", "0s"), "progress", "must be positive"},
		{append(key, "--url", "http://example.com/"), "url", "example.com is not a loopback host"},
		{append(key, "--url", "127.0.0.1:8080"), "url", "want an absolute http URL"},
		{append(key, "--pubsub-addr", "10.1.2.3:8085"), "pubsub-addr", "not on loopback"},
		{append(key, "--pubsub-addr", "nonsense"), "pubsub-addr", `"nonsense": want host:port`},
		{append(key, "--no-verify-delivery", "--topic", "t"), "no-verify-delivery", "drop --pubsub-addr"},
		{[]string{"--secret", "whsec_***"}, "secret", "#1: want whsec_"},
		{[]string{}, "", "no signing key"},
	})
}

func TestParseServeChecks(t *testing.T) {
	file := secretFile(t, otherSecret)
	o, err := parseServe([]string{"--addr", "127.0.0.1:0", "--secret", testSecret, "--secret-file", file}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	secrets, generated, err := o.resolveSecrets()
	if err != nil || generated || !slices.Equal(secrets, []string{testSecret, otherSecret}) {
		t.Errorf("serve's secrets: %d (generated %v), %v; want --secret then --secret-file's", len(secrets), generated, err)
	}
	if o, err := parseServe(nil, quiet); err != nil || o.addr != defaultAddr || o.pubsubAddr != defaultPubSubAddr {
		t.Errorf("parseServe(nil) = %+v, %v", o, err)
	} else if secrets, generated, err := o.resolveSecrets(); err != nil || !generated || len(secrets) != 1 {
		t.Errorf("serve without secrets: %d, generated %v, %v; want one made for the run", len(secrets), generated, err)
	}
	// With PUBSUB_EMULATOR_HOST, --pubsub-addr is not used and not checked.
	if _, err := parseServe([]string{"--pubsub-addr", "0.0.0.0:1"}, withEnv(map[string]string{"PUBSUB_EMULATOR_HOST": "127.0.0.1:8681"})); err != nil {
		t.Errorf("parseServe(--pubsub-addr 0.0.0.0:1) with PUBSUB_EMULATOR_HOST = %v", err)
	}

	checkBad(t, "Serve", parseServe, []badCase{
		{[]string{"--addr", "nonsense"}, "addr", `"nonsense": want host:port, e.g. 127.0.0.1:8080`},
		{[]string{"--addr", "127.0.0.1:http"}, "addr", "want host:port"},
		{[]string{"--tolerance", "soon"}, "tolerance", `"soon": want a duration such as 30s or 5m`},
		{[]string{"--tolerance", "0s"}, "tolerance", "must be positive: want a duration such as 5m"},
		{[]string{"--log-level", "loud"}, "log-level", `"loud": want debug, info, warn or error`},
		{[]string{"--pubsub-addr", "0.0.0.0:0"}, "pubsub-addr", "keep it on loopback"},
		{[]string{"--pubsub-addr", "8085"}, "pubsub-addr", `"8085": want host:port`},
		{[]string{"--jwks-url", "http://example.com/jwks.json"}, "jwks-url", "want an https URL"},
		{[]string{"--secret", "off", "--secret", testSecret}, "secret", "off turns v1 off"},
		{[]string{"--secret", "nope"}, "secret", "#1: want whsec_"},
		{[]string{"--project", ""}, "project", "must not be empty"},
		{[]string{"--topic", ""}, "topic", "must not be empty: want a topic id, e.g. " + geminihook.DefaultTopic},
		{[]string{"--jwks-url", "https://x/", "--jwks-file", "f"}, "", "pick one"},
		{[]string{"--secret", "off"}, "", "no delivery could ever verify"},
	})
}

// TestSecretRule: every command that takes secrets takes them the same
// way, and says so in its --help.
func TestSecretRule(t *testing.T) {
	rule := strings.Join(strings.Fields(secretsRule), " ")
	for _, cmd := range []string{"serve", "send", "load"} {
		code, stdout, _ := runInProcess(t, "", cmd, "--help")
		if code != exitOK || !strings.Contains(strings.Join(strings.Fields(stdout), " "), rule) {
			t.Errorf("%s --help does not state the secret rule %q:\n%s", cmd, secretsRule, stdout)
		}
		for _, flag := range []string{"--secret whsec_…", "--secret-file string"} {
			if !strings.Contains(stdout, "  "+flag+"\n") {
				t.Errorf("%s --help lacks %s", cmd, flag)
			}
		}
	}
}

// TestHelpDefaults: numbers are shown as numbers, text quoted.
func TestHelpDefaults(t *testing.T) {
	_, stdout, _ := runInProcess(t, "", "load", "--help")
	for _, want := range []string{"(default 1000)", "(default 0.2)", "(default 10s)", `(default "http://127.0.0.1:8080/")`, `(default "geminihook-local")`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("load --help lacks %s:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, `(default "1000")`) {
		t.Errorf("load --help quotes a number:\n%s", stdout)
	}
	_, stdout, _ = runInProcess(t, "", "keys", "--help")
	if !strings.Contains(stdout, "(default 2048)") {
		t.Errorf("keys --help does not show --rsa-bits' default as a number:\n%s", stdout)
	}
}
