package main

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// readmeCommands returns the shell lines of the README section titled
// heading, in order: the lines of its ```sh blocks.
func readmeCommands(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in, block := false, false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == heading
		case !in:
		case line == "```sh":
			block = true
		case line == "```":
			block = false
		case block && strings.TrimSpace(line) != "":
			cmds = append(cmds, line)
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("README has no ```sh block under %q", heading)
	}
	return cmds
}

// argsOf turns a README command line into the binary's arguments. The
// lines must be `go run ./cmd/geminihook ARGS` with plain words, so that
// what the test runs is what a reader types; the test runs the binary built
// from the same source instead of `go run`.
func argsOf(t *testing.T, line string) []string {
	t.Helper()
	const prefix = "go run ./cmd/geminihook "
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok || strings.ContainsAny(rest, `'"\$|&;<>*`+"`") {
		t.Fatalf("README command %q: want %q followed by plain arguments", line, prefix)
	}
	return strings.Fields(rest)
}

// TestREADMEWalkthrough runs the three-terminal walkthrough of the README
// as written, on serve's default ports: serve, tail, then every send. tail
// must print one event per delivery: each documented type once from
// `send --all`, and the repeated delivery exactly once.
func TestREADMEWalkthrough(t *testing.T) {
	needBinary(t)
	cmds := readmeCommands(t, "## Try it: three terminals")
	if len(cmds) < 3 {
		t.Fatalf("walkthrough has %d commands, want serve, tail and at least one send: %q", len(cmds), cmds)
	}
	env := cliEnv()
	serveArgs, tailArgs := argsOf(t, cmds[0]), argsOf(t, cmds[1])
	if serveArgs[0] != "serve" || tailArgs[0] != "tail" {
		t.Fatalf("walkthrough starts with %q and %q, want serve then tail", cmds[0], cmds[1])
	}

	serve := start(t, env, serveArgs...)
	serve.waitOutput(t, false, "start banner", func(s string) bool { return strings.Contains(s, "Stop with Ctrl-C.") })
	tail := start(t, env, tailArgs...)
	tail.waitOutput(t, true, "tail ready", func(s string) bool { return strings.Contains(s, "waiting for events") })

	want := 0
	for _, line := range cmds[2:] {
		args := argsOf(t, line)
		if args[0] != "send" {
			t.Fatalf("walkthrough command %q: only send may follow serve and tail", line)
		}
		code, stdout, stderr := runCLI(t, env, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", line, code, stdout, stderr)
		}
		// One event per delivery: the summary names how many.
		switch {
		case slices.Contains(args, "--all"):
			want += 9
		default:
			want++
		}
	}

	events := func(s string) []string {
		var lines []string
		for l := range strings.Lines(s) {
			if f := strings.Fields(l); len(f) >= 2 {
				lines = append(lines, f[1])
			}
		}
		return lines
	}
	tail.waitOutput(t, false, "every event", func(s string) bool { return len(events(s)) >= want })
	tail.interrupt(t)
	serve.interrupt(t)
	out := tail.stdout.String()

	got := map[string]int{}
	for _, typ := range events(out) {
		got[typ]++
	}
	if n := len(events(out)); n != want {
		t.Errorf("tail printed %d events, want %d:\n%s", n, want, out)
	}
	for _, typ := range []string{
		"batch.succeeded", "batch.failed", "batch.expired", "batch.cancelled",
		"interaction.requires_action", "interaction.completed", "interaction.failed",
		"interaction.cancelled", "video.generated",
	} {
		if got[typ] == 0 {
			t.Errorf("tail printed no %s event:\n%s", typ, out)
		}
	}
}
