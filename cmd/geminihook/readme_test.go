package main

import (
	"bufio"
	"errors"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
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

// installLine is the walkthrough's first line: it puts the binary on PATH,
// so that the commands serve prints paste as they are and exit codes are
// the program's (go run turns every failure into 1).
const installLine = "go install ./cmd/geminihook"

// argsOf turns a README command line into the binary's arguments. The
// lines must be `geminihook ARGS` (the installed binary) or `go run
// ./cmd/geminihook ARGS`, with plain words, so that what the test runs is
// what a reader types; the test runs the binary built from the same source.
func argsOf(t *testing.T, line string) []string {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "geminihook ")
	if !ok {
		rest, ok = strings.CutPrefix(line, "go run ./cmd/geminihook ")
	}
	if !ok || strings.ContainsAny(rest, `'"\$|&;<>*`+"`") {
		t.Fatalf("README command %q: want geminihook followed by plain arguments", line)
	}
	return strings.Fields(rest)
}

// flagValue returns the value of --name in args (also -name, and the
// name=value forms), and whether it is there; the last one counts, as with
// package flag.
func flagValue(args []string, name string) (string, bool) {
	val, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		n, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || n != name {
			continue
		}
		switch {
		case hasValue:
			val, found = v, true
		case i+1 < len(args):
			val, found = args[i+1], true
			i++
		}
	}
	return val, found
}

// withFlag returns args with every --name set to value, or with
// --name value appended when args have none.
func withFlag(args []string, name, value string) []string {
	out := make([]string, 0, len(args)+2)
	set := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		n, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-") || a == "--" || n != name:
			out = append(out, a)
		case hasValue:
			out = append(out, "--"+name+"="+value)
			set = true
		default:
			out = append(out, a, value)
			set = true
			i++ // the old value
		}
	}
	if !set {
		out = append(out, "--"+name, value)
	}
	return out
}

// flagDefault returns the default of --name that `geminihook command
// --help` prints: the address a reader's command uses when it gives none.
func flagDefault(t *testing.T, command, name string) string {
	t.Helper()
	code, help, _ := runInProcess(t, "", command, "--help")
	if code != exitOK {
		t.Fatalf("geminihook %s --help: exit %d", command, code)
	}
	// "  --name TYPE\n    \tusage... (default "value")\n"
	re := regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(name) + `(?: \S+)?\n((?:    \t.*\n)+)`)
	m := re.FindStringSubmatch(help)
	if m == nil {
		t.Fatalf("geminihook %s --help lists no --%s:\n%s", command, name, help)
	}
	d := regexp.MustCompile(`\(default "([^"]*)"\)\n$`).FindStringSubmatch(m[1])
	if d == nil {
		t.Fatalf("geminihook %s --help gives no default for --%s:\n%s", command, name, m[0])
	}
	return d[1]
}

// walkthrough is the README's three-terminal walkthrough, with the
// addresses a reader's commands use and the commands as the test runs them.
type walkthrough struct {
	serve, tail []string   // as run: on free ports
	sends       [][]string // as written; their --url is set once serve listens
	// What the written commands use: serve's HTTP and Pub/Sub addresses.
	httpAddr, pubsubAddr string
}

// readWalkthrough reads the walkthrough and checks that its commands talk
// to each other as written: send posts to serve's address, tail reads
// serve's Pub/Sub address. The commands run on free ports instead of the
// written ones (127.0.0.1:8080 and :8085 by default), so that nothing else
// on the machine can make the test fail, and nothing it starts gets in the
// way of a reader's own serve.
func readWalkthrough(t *testing.T) walkthrough {
	t.Helper()
	cmds := readmeCommands(t, "## Try it: three terminals")
	if len(cmds) == 0 || cmds[0] != installLine {
		t.Fatalf("walkthrough starts with %q, want %q", cmds, installLine)
	}
	cmds = cmds[1:]
	if len(cmds) < 3 {
		t.Fatalf("walkthrough has %d commands, want serve, tail and at least one send: %q", len(cmds), cmds)
	}
	serveArgs, tailArgs := argsOf(t, cmds[0]), argsOf(t, cmds[1])
	if serveArgs[0] != "serve" || tailArgs[0] != "tail" {
		t.Fatalf("walkthrough starts with %q and %q, want serve then tail", cmds[0], cmds[1])
	}
	var w walkthrough
	w.httpAddr = flagDefault(t, "serve", "addr")
	if v, ok := flagValue(serveArgs, "addr"); ok {
		w.httpAddr = v
	}
	w.pubsubAddr = flagDefault(t, "serve", "pubsub-addr")
	if v, ok := flagValue(serveArgs, "pubsub-addr"); ok {
		w.pubsubAddr = v
	}
	w.serve = withFlag(withFlag(serveArgs, "addr", "127.0.0.1:0"), "pubsub-addr", "127.0.0.1:0")

	tailAddr := defaultPubSubAddr // tail's default without PUBSUB_EMULATOR_HOST, which cliEnv removes
	if v, ok := flagValue(tailArgs, "pubsub-addr"); ok {
		tailAddr = v
	}
	if tailAddr != w.pubsubAddr {
		t.Fatalf("README: %q reads Pub/Sub at %s, but %q serves it at %s", cmds[1], tailAddr, cmds[0], w.pubsubAddr)
	}
	w.tail = tailArgs

	for _, line := range cmds[2:] {
		args := argsOf(t, line)
		if args[0] != "send" {
			t.Fatalf("walkthrough command %q: only send may follow serve and tail", line)
		}
		target := flagDefault(t, "send", "url")
		if v, ok := flagValue(args, "url"); ok {
			target = v
		}
		u, err := url.Parse(target)
		if err != nil || u.Host != w.httpAddr {
			t.Fatalf("README: %q posts to %s, but %q listens on %s", line, target, cmds[0], w.httpAddr)
		}
		w.sends = append(w.sends, args)
	}
	return w
}

// TestREADMEWalkthrough runs the three-terminal walkthrough of the README
// as written, on free ports: serve, tail, then every send. tail must print
// one event per delivery: each documented type once from `send --all`, and
// the repeated delivery exactly once.
func TestREADMEWalkthrough(t *testing.T) {
	needBinary(t)
	runWalkthrough(t, readWalkthrough(t))
}

// TestREADMEWalkthroughWithDefaultPortsTaken holds the walkthrough's
// written addresses (127.0.0.1:8080 and 127.0.0.1:8085 by default) while it
// runs, as a reader's own serve or another program would: the test must
// pass all the same.
func TestREADMEWalkthroughWithDefaultPortsTaken(t *testing.T) {
	needBinary(t)
	w := readWalkthrough(t)
	for _, addr := range []string{w.httpAddr, w.pubsubAddr} {
		l, err := net.Listen("tcp", addr)
		switch {
		case err == nil:
			t.Cleanup(func() { l.Close() })
		case errors.Is(err, syscall.EADDRINUSE):
			t.Logf("%s is already taken by another program: the test runs beside it", addr)
		default:
			t.Fatalf("holding %s: %v", addr, err)
		}
	}
	runWalkthrough(t, w)
}

func runWalkthrough(t *testing.T, w walkthrough) {
	t.Helper()
	env := cliEnv()
	serve := start(t, env, w.serve...)
	banner := serve.waitOutput(t, false, "start banner", func(s string) bool { return strings.Contains(s, "Stop with Ctrl-C.") })
	listen, inProc := reListen.FindStringSubmatch(banner), reInProc.FindStringSubmatch(banner)
	if listen == nil || inProc == nil {
		t.Fatalf("serve banner lacks its address or its in-process Pub/Sub address:\n%s", banner)
	}
	served, err := url.Parse(listen[1])
	if err != nil {
		t.Fatalf("serve listens on %q: %v", listen[1], err)
	}
	tail := start(t, env, withFlag(w.tail, "pubsub-addr", inProc[1])...)
	tail.waitOutput(t, true, "tail ready", func(s string) bool { return strings.Contains(s, "waiting for events") })

	want := 0
	for _, written := range w.sends {
		target := flagDefault(t, "send", "url")
		if v, ok := flagValue(written, "url"); ok {
			target = v
		}
		u, _ := url.Parse(target) // checked by readWalkthrough
		u.Host = served.Host
		args := withFlag(written, "url", u.String())
		code, stdout, stderr := runCLI(t, env, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d\n%s%s", args, code, stdout, stderr)
		}
		// One event per delivery.
		switch {
		case slices.Contains(written, "--all"):
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

// TestWalkthroughFlags: the rewriting of addresses handles every spelling
// package flag accepts.
func TestWalkthroughFlags(t *testing.T) {
	tests := []struct {
		args      []string
		value     string // of --addr; "" when absent
		rewritten []string
	}{
		{[]string{"serve", "--secret", "s"}, "", []string{"serve", "--secret", "s", "--addr", "X"}},
		{[]string{"serve", "--addr", "127.0.0.1:9000", "--secret", "s"}, "127.0.0.1:9000", []string{"serve", "--addr", "X", "--secret", "s"}},
		{[]string{"serve", "-addr=127.0.0.1:9000"}, "127.0.0.1:9000", []string{"serve", "--addr=X"}},
		{[]string{"serve", "--addr=a", "--addr", "b"}, "b", []string{"serve", "--addr=X", "--addr", "X"}},
		{[]string{"serve", "--address", "a"}, "", []string{"serve", "--address", "a", "--addr", "X"}},
	}
	for _, tt := range tests {
		v, ok := flagValue(tt.args, "addr")
		if v != tt.value || ok != (tt.value != "") {
			t.Errorf("flagValue(%q, addr) = %q, %v; want %q", tt.args, v, ok, tt.value)
		}
		if got := withFlag(tt.args, "addr", "X"); !slices.Equal(got, tt.rewritten) {
			t.Errorf("withFlag(%q, addr, X) = %q, want %q", tt.args, got, tt.rewritten)
		}
	}
	// The defaults a reader's commands rely on, as --help prints them.
	if got := flagDefault(t, "serve", "pubsub-addr"); got != defaultPubSubAddr {
		t.Errorf("serve --pubsub-addr default = %q, want tail's %q", got, defaultPubSubAddr)
	}
	addr, target := flagDefault(t, "serve", "addr"), flagDefault(t, "send", "url")
	if u, err := url.Parse(target); err != nil || u.Host != addr || addr == "" {
		t.Errorf("send --url default %q does not post to serve --addr default %q", target, addr)
	}
}
