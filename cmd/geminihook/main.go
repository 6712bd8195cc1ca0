// Command geminihook runs and exercises the geminihook webhook receiver on
// one machine, with no Google Cloud project and no other process needed.
//
// Usage:
//
//	geminihook serve [flags]   run the receiver locally (in-process Pub/Sub, in-memory ledger)
//	geminihook send  [flags]   sign a realistic Gemini delivery and POST it
//	geminihook tail  [flags]   print the events published on the Pub/Sub topics
//	geminihook keys  [flags]   make a whsec_ secret, an Ed25519 and an RSA key with their JWKS
//	geminihook load  [flags]   send many deliveries (duplicates, forgeries, retries) and check
//	                           that each authentic one was published exactly once
//
// A first session, in three terminals:
//
//	geminihook serve                      # prints its secret and the next two commands
//	geminihook tail
//	geminihook send --secret whsec_… --all
//
// serve runs the receiver composed by the same code as the Cloud Function
// (geminihook.NewService) and reads the same GEMINIHOOK_* settings: the same
// verification, ledger protocol, event normalization and Pub/Sub messages. It differs only in where its parts live: Pub/Sub is served
// in-process on a loopback port (127.0.0.1:8085) that tail and other
// processes attach to, and the ledger is in memory. When
// PUBSUB_EMULATOR_HOST or FIRESTORE_EMULATOR_HOST is set, serve uses those
// servers instead (the Firestore ledger then), creating missing topics.
//
// Run "geminihook COMMAND --help" for the flags and examples of each command.
//
// # Exit codes
//
//	0  success
//	1  failure: a send got an answer other than 2xx, tail saw fewer messages
//	   than --count before --timeout, a key file could not be written, load
//	   found an event lost, doubled, or forged and accepted or published, ...
//	2  usage error: unknown command or flag, bad flag value
//	3  server unreachable: nothing answers at the --url of send or load, or at
//	   the Pub/Sub (tail, serve, load) or Firestore (serve) address
//
// Every error message names what to do next.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes; see the package documentation.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
)

// Errors that choose the exit code; run wraps them with the details. A
// wrong command line is a *usageErr (exit 2).
var (
	// errUnreachable: a server the command needs does not answer (exit 3).
	errUnreachable = errors.New("server unreachable")
	// errFailed: the command ran but its outcome is a failure that it has
	// already reported on its output (exit 1, no further message).
	errFailed = errors.New("failed")
)

// usageErr is a wrong command line (exit 2): the flag at fault and what is
// wrong with it, in the form "--flag VALUE: want FORM" (or "--flag must
// be ...").
type usageErr struct {
	flag string // the flag at fault, without dashes; "" when no single flag is
	msg  string // what is wrong, after "--flag " when flag is set
}

func (e *usageErr) Error() string {
	if e.flag == "" {
		return e.msg
	}
	return "--" + e.flag + " " + e.msg
}

// badFlag returns the usage error of --flag; the message follows the
// flag's name, e.g. badFlag("repeat", "%d: want 1 to %d", 0, maxRepeat).
func badFlag(flag, format string, args ...any) error {
	return &usageErr{flag: flag, msg: fmt.Sprintf(format, args...)}
}

// badUsage returns a usage error of no single flag: a combination of
// flags, a stray argument.
func badUsage(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// env is what a command may touch of its process: passed in so that tests
// run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// variable returns the environment variable name; "" when e has no
// environment.
func (e env) variable(name string) string {
	if e.getenv == nil {
		return ""
	}
	return e.getenv(name)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, e env) error
}

var commands = []command{
	{"serve", "run the receiver locally (in-process Pub/Sub, in-memory ledger)", runServe},
	{"send", "sign a realistic Gemini delivery and POST it", runSend},
	{"tail", "print the events published on the Pub/Sub topics", runTail},
	{"keys", "make a whsec_ secret, Ed25519 and RSA keys and their JWKS", runKeys},
	{"load", "load a local receiver like Gemini; check nothing is lost, doubled or forged", runLoad},
	{"version", "print the version, VCS revision and Go version of this binary", runVersion},
	{"webhooks", "manage the Gemini webhooks of the project and their signing secrets", runWebhooks},
	{"replay", "republish recorded deliveries from the Firestore ledger (keeps ce-id, marks the run)", runReplay},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal kills the process the default way.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}))
}

// run executes the command line args (without the program name) and
// returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		topUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run(ctx, []string{args[1], "--help"}, e)
		}
		topUsage(e.stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return exitCode(e.stderr, name, c.run(ctx, args[1:], e))
		}
	}
	fmt.Fprintf(e.stderr, "geminihook: unknown command %q; the commands are %s (see geminihook --help)\n", name, commandNames())
	return exitUsage
}

// exitCode reports err on w and maps it to an exit code.
func exitCode(w io.Writer, name string, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errFailed):
		return exitFailure
	}
	fmt.Fprintf(w, "geminihook %s: %v\n", name, err)
	var usage *usageErr
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(w, "Run 'geminihook %s --help' for its flags and examples.\n", name)
		return exitUsage
	case errors.Is(err, errUnreachable):
		return exitUnreachable
	}
	return exitFailure
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func topUsage(w io.Writer) {
	fmt.Fprint(w, `geminihook runs and exercises the geminihook Gemini webhook receiver locally.

Usage:
  geminihook COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples (three terminals):
  geminihook serve                         # prints its secret and the commands below
  geminihook tail                          # prints every published event
  geminihook send --secret whsec_… --all   # one delivery of every documented type
  geminihook load --secret whsec_… --n 5000 --concurrency 50   # nothing lost, doubled or forged?

Run 'geminihook COMMAND --help' for the flags and examples of a command.

Exit codes:
  0  success
  1  failure (a send got a non-2xx answer, tail missed --count, load found
     an event lost, doubled or forged, ...)
  2  usage error (unknown command or flag, bad value)
  3  server unreachable (the --url of send or load, the Pub/Sub or Firestore address)

Environment:
  PUBSUB_EMULATOR_HOST     serve and tail use this Pub/Sub server instead of the in-process one
  FIRESTORE_EMULATOR_HOST  serve keeps its ledger in this Firestore emulator instead of memory
`)
}

// newFlagSet returns a FlagSet for a subcommand whose --help prints
// synopsis, the flags and examples.
func newFlagSet(name, synopsis, about, examples string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("geminihook "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: geminihook %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		printFlags(w, fs)
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		fmt.Fprint(w, "\nExit codes: 0 success, 1 failure, 2 usage error, 3 server unreachable.\n")
	}
	return fs
}

// printFlags is flag.PrintDefaults with the --name spelling used
// everywhere else in the help texts; numeric defaults are shown as
// numbers, text ones quoted.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case f.DefValue == "" || f.DefValue == "0" || f.DefValue == "false" || f.DefValue == "0s":
		case valueForm(f.Value) != "":
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		default:
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// valueForm is the form that a flag's value must have, for the flags
// whose type is more than text: "" for a string flag.
func valueForm(v flag.Value) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a duration such as 30s or 5m"
	case int, int64, uint, uint64:
		return "a whole number such as 10"
	case float64:
		return "a number such as 0.5"
	case bool:
		return "true or false"
	}
	return ""
}

// parseFlags parses args into fs. --help prints the usage on stdout and
// returns flag.ErrHelp; a bad flag or a stray argument is a usage error
// naming the flag and the form it wants.
func parseFlags(fs *flag.FlagSet, args []string, e env) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	// Package flag reports a value it cannot parse as text ("invalid value
	// ... parse error"); each value reports it here instead, typed.
	var bad error
	fs.VisitAll(func(f *flag.Flag) { f.Value = &checkedValue{Value: f.Value, name: f.Name, bad: &bad} })
	fs.SetOutput(io.Discard) // the error is reported once, by exitCode
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	fs.VisitAll(func(f *flag.Flag) { f.Value = f.Value.(*checkedValue).Value })
	switch {
	case bad != nil:
		return bad
	case err != nil:
		return syntaxError(fs, args, err)
	case fs.NArg() > 0:
		return badUsage("unexpected argument %q: every option is a --flag", fs.Arg(0))
	}
	return nil
}

// checkedValue is a flag.Value that records, as a usage error naming its
// flag and the form wanted, the first value it fails to parse.
type checkedValue struct {
	flag.Value
	name string
	bad  *error
}

func (v *checkedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil && *v.bad == nil {
		if form := valueForm(v.Value); form != "" {
			*v.bad = badFlag(v.name, "%q: want %s", s, form)
		} else {
			*v.bad = badFlag(v.name, "%q: %v", s, err)
		}
	}
	return err
}

// IsBoolFlag keeps a boolean flag usable without a value.
func (v *checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// syntaxError names the flag of a command line that package flag refused
// for another reason than a value: a flag that does not exist, or one
// whose value is missing. err is package flag's own account, the fallback.
func syntaxError(fs *flag.FlagSet, args []string, err error) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break // package flag stops at the first argument that is not a flag
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			break // bad syntax: err says so
		}
		f := fs.Lookup(name)
		switch {
		case f == nil:
			return badFlag(name, "is not a flag of %s", fs.Name())
		case hasValue || (&checkedValue{Value: f.Value}).IsBoolFlag():
		case i+1 == len(args):
			if form := valueForm(f.Value); form != "" {
				return badFlag(name, "needs a value: want %s", form)
			}
			return badFlag(name, "needs a value")
		default:
			i++ // the value
		}
	}
	return badUsage("%v", err)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
