package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/internal/emulator"
)

// binary is the geminihook command built once by TestMain for the tests
// that run it as a process; "" under -short, where they skip.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	code, cleanup := 0, func() {}
	if !testing.Short() {
		var err error
		binary, cleanup, err = buildBinary()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code = emulator.Run(m)
	cleanup()
	os.Exit(code)
}

// buildBinary runs `go build` on this package into a temporary directory.
func buildBinary() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "geminihook-cli-test-")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "geminihook")
	goTool, err := exec.LookPath("go")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("the CLI tests build the binary and need the go command on PATH: %w", err)
	}
	out, err := exec.Command(goTool, "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/geminihook: %v\n%s", err, out)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// runInProcess runs the command line in this process, as main would.
func runInProcess(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code = run(context.Background(), args, e)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"publish"}, `unknown command "publish"`},
		{"unknown flag", []string{"send", "--bogus"}, "--bogus is not a flag of geminihook send"},
		{"bad value", []string{"serve", "--tolerance", "soon"}, `--tolerance "soon": want a duration such as 30s or 5m`},
		{"missing value", []string{"tail", "--count"}, "--count needs a value: want a whole number"},
		{"serve bad addr", []string{"serve", "--addr", "nonsense"}, `--addr "nonsense": want host:port, e.g. 127.0.0.1:8080`},
		{"stray argument", []string{"tail", "extra"}, `unexpected argument "extra"`},
		{"send without key", []string{"send"}, "no signing key: pass --secret"},
		{"send bad secret", []string{"send", "--secret", "whsec_"}, "--secret #1"},
		{"send all and type", []string{"send", "--secret", "x", "--all", "--type", "batch.failed"}, "drop --type"},
		{"send all and id", []string{"send", "--secret", "x", "--all", "--id", "msg_1"}, "--id names one delivery"},
		{"send body and all", []string{"send", "--secret", "x", "--all", "--body", "f.json"}, "drop --all"},
		{"send scheme without key", []string{"send", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--scheme", "v1a"}, "--scheme v1a needs --ed25519-seed"},
		{"send unknown scheme", []string{"send", "--secret", "x", "--scheme", "v2"}, `--scheme "v2"`},
		{"send two keys", []string{"send", "--secret", "x", "--rsa-key", "k.pem"}, "pick the scheme with --scheme"},
		{"send repeat 0", []string{"send", "--secret", "x", "--repeat", "0"}, "--repeat 0"},
		{"send concurrency 0", []string{"send", "--secret", "x", "--concurrency", "0"}, "--concurrency 0"},
		{"send bad url", []string{"send", "--secret", "x", "--url", "127.0.0.1:8080"}, "absolute http(s) URL"},
		{"send missing seed file", []string{"send", "--ed25519-seed", filepath.Join(dir, "none")}, "reading the Ed25519 seed"},
		{"send kid with v1", []string{"send", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--kid", "k"}, "--scheme jwt only"},
		{"serve both jwks", []string{"serve", "--jwks-url", "http://x/", "--jwks-file", "f"}, "pick one"},
		{"serve secret off alone", []string{"serve", "--secret", "off"}, "no delivery could ever verify"},
		{"serve bad secret", []string{"serve", "--secret", "not base64!"}, "want whsec_"},
		{"serve bad log level", []string{"serve", "--log-level", "loud"}, "--log-level"},
		{"serve public pubsub", []string{"serve", "--addr", "127.0.0.1:0", "--pubsub-addr", "0.0.0.0:0"}, "keep it on loopback"},
		{"tail negative count", []string{"tail", "--count", "-1"}, "--count must not be negative"},
		{"keys small rsa", []string{"keys", "--out", dir, "--rsa-bits", "1024"}, "--rsa-bits 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runInProcess(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("run(%q) = exit %d, want %d (usage); stderr:\n%s", tt.args, code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", tt.args, stderr, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help", "send"},
		{"serve", "--help"}, {"send", "--help"}, {"tail", "-h"}, {"keys", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, "", args...)
			if code != exitOK {
				t.Fatalf("run(%q) = exit %d, want 0; stderr:\n%s", args, code, stderr)
			}
			for _, want := range []string{"Usage:", "Example", "Exit codes", "geminihook "} {
				if !strings.Contains(stdout, want) {
					t.Errorf("run(%q) stdout lacks %q:\n%s", args, want, stdout)
				}
			}
			if args[0] != "--help" && !strings.Contains(stdout, "--") {
				t.Errorf("run(%q) lists no --flags:\n%s", args, stdout)
			}
		})
	}
}
