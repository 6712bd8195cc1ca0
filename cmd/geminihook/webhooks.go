package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geminihook/geminihook/internal/gemini"
)

// The webhooks command group manages the project's static webhooks
// through the Gemini API's WebhookService (package internal/gemini), and
// keeps their signing secrets in Secret Manager.

// webhooksCommand is one subcommand of `webhooks`.
type webhooksCommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, e env) error
}

// webhooksCommands is set in init: the subcommands' help refers to it.
var webhooksCommands []webhooksCommand

func init() {
	webhooksCommands = []webhooksCommand{
		{"create", "register the function with Gemini; store the signing secret in Secret Manager", runWebhooksCreate},
		{"list", "list the project's webhooks (every page)", runWebhooksList},
		{"get", "show one webhook", runWebhooksGet},
		{"update", "change a webhook's URI, events or name", runWebhooksUpdate},
		{"delete", "delete a webhook", runWebhooksDelete},
		{"enable", "re-enable a webhook (also one Gemini disabled after failed deliveries)", runWebhooksEnable},
		{"rotate", "rotate the signing secret (store the new one); --finish disables expired versions", runWebhooksRotate},
		{"ping", "send a ping; --wait follows Pub/Sub until it arrives", runWebhooksPing},
		{"status", "one line per webhook; exit 1 when any is disabled", runWebhooksStatus},
		{"config", "print the per-request webhook_config of a batch, an interaction and a Veo job", runWebhooksConfig},
	}
}

// runWebhooks dispatches `geminihook webhooks SUBCOMMAND`.
func runWebhooks(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		webhooksUsage(e.stderr)
		return badUsage("name a subcommand: %s", webhooksNames())
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return runWebhooks(ctx, []string{args[1], "--help"}, e)
		}
		webhooksUsage(e.stdout)
		return flag.ErrHelp
	}
	for _, c := range webhooksCommands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], e)
			if err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, errFailed) {
				return err
			}
			var u *usageErr
			if errors.As(err, &u) {
				return badUsage("%s: %v", c.name, err)
			}
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return badUsage("unknown subcommand %q; the subcommands are %s", args[0], webhooksNames())
}

func webhooksNames() string {
	names := make([]string, len(webhooksCommands))
	for i, c := range webhooksCommands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func webhooksUsage(w io.Writer) {
	fmt.Fprint(w, `geminihook webhooks manages the project's Gemini webhooks (WebhookService, v1beta)
and keeps their signing secrets in Secret Manager.

Usage:
  geminihook webhooks SUBCOMMAND [ID] [flags]

Subcommands:
`)
	for _, c := range webhooksCommands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:
  export GEMINI_API_KEY=…   # or --api-key-file FILE, or --api-key-secret SECRET
  geminihook webhooks create --function projects/P/locations/europe-west1/functions/geminihook \
      --events batch.succeeded,batch.failed,video.generated --secret projects/P/secrets/geminihook-signing-secret
  geminihook webhooks ping ID --wait --project P
  geminihook webhooks status
  geminihook webhooks rotate ID --secret projects/P/secrets/geminihook-signing-secret
  geminihook webhooks rotate --finish ID --secret projects/P/secrets/geminihook-signing-secret   # a day later

Run 'geminihook webhooks SUBCOMMAND --help' for the flags and examples of each.

Authentication: the API key comes from --api-key-file, --api-key-secret (a Secret
Manager secret, read with your application default credentials) or GEMINI_API_KEY;
it is never printed. Secret Manager and Cloud Functions are reached with the
application default credentials (gcloud auth application-default login).

Exit codes:
  0  success
  1  failure: the API refused (401/403 key, 404 no such webhook, 409, 429 after
     the retries), a webhook is disabled (status), ping --wait timed out, ...
  2  usage error, or the API found a value invalid (400)
  3  unreachable: no answer from the API (or 502/503/504 after the retries),
     Secret Manager, Cloud Functions or Pub/Sub
`)
}

// apiFlags are the flags of every subcommand that calls the API.
type apiFlags struct {
	keyFile   string
	keySecret string
	apiURL    string
	project   string
	smAddr    string
	timeout   time.Duration
}

func (a *apiFlags) register(fs *flag.FlagSet, timeout time.Duration) {
	fs.StringVar(&a.keyFile, "api-key-file", "", "read the Gemini API key from this `file` (default $GEMINI_API_KEY)")
	fs.StringVar(&a.keySecret, "api-key-secret", "", "read the Gemini API key from the latest version of this Secret Manager `secret` (id with --project, or projects/P/secrets/S)")
	fs.StringVar(&a.apiURL, "api-url", gemini.DefaultBaseURL, "base `URL` of the Gemini API (https; http only on loopback), for tests and proxies")
	fs.StringVar(&a.project, "project", "", "Google Cloud `project` of secret ids and topics (default $GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&a.smAddr, "secret-manager-addr", "", "`host:port` of a loopback Secret Manager without TLS or credentials (tests); default Google's, with your application default credentials")
	fs.DurationVar(&a.timeout, "timeout", timeout, "give up after this long")
}

// projectOr returns --project, else $GOOGLE_CLOUD_PROJECT.
func (a *apiFlags) projectOr(e env) string {
	if a.project != "" {
		return a.project
	}
	return e.variable("GOOGLE_CLOUD_PROJECT")
}

// echo returns the connection flags the user gave, to repeat them in the
// commands printed for the next step.
func (a *apiFlags) echo() string {
	var b strings.Builder
	if a.apiURL != gemini.DefaultBaseURL {
		b.WriteString(" --api-url " + shellQuote(a.apiURL))
	}
	if a.keyFile != "" {
		b.WriteString(" --api-key-file " + shellQuote(a.keyFile))
	}
	if a.keySecret != "" {
		b.WriteString(" --api-key-secret " + shellQuote(a.keySecret))
	}
	if a.project != "" {
		b.WriteString(" --project " + shellQuote(a.project))
	}
	if a.smAddr != "" {
		b.WriteString(" --secret-manager-addr " + shellQuote(a.smAddr))
	}
	return b.String()
}

// check validates the flags that need no network.
func (a *apiFlags) check() error {
	if a.timeout <= 0 {
		return badUsage("--timeout must be positive")
	}
	if a.keyFile != "" && a.keySecret != "" {
		return badUsage("--api-key-file and --api-key-secret both given: pick one")
	}
	u, err := url.Parse(a.apiURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.User != nil {
		return badUsage("--api-url %q: want an absolute https URL such as %s", a.apiURL, gemini.DefaultBaseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return badUsage("--api-url %q: the API key would travel in clear text; use https (http only on loopback)", a.apiURL)
	}
	if a.smAddr != "" {
		return checkLoopbackAddr("--secret-manager-addr", a.smAddr)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiKey returns the key of --api-key-file, --api-key-secret or
// GEMINI_API_KEY. It is never printed or put in an error.
func (a *apiFlags) apiKey(ctx context.Context, e env, sm *smClient) (string, error) {
	switch {
	case a.keyFile != "":
		b, err := os.ReadFile(a.keyFile)
		if err != nil {
			return "", badUsage("--api-key-file: %v", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", badUsage("--api-key-file %s is empty", a.keyFile)
		}
		return k, nil
	case a.keySecret != "":
		name, err := secretName("--api-key-secret", a.keySecret, a.projectOr(e))
		if err != nil {
			return "", err
		}
		if sm == nil {
			return "", errors.New("internal: no Secret Manager client for --api-key-secret")
		}
		k, err := sm.latest(ctx, name)
		if err != nil {
			return "", err
		}
		if k = strings.TrimSpace(k); k == "" {
			return "", fmt.Errorf("the latest version of %s is empty: add the API key as a new version", name)
		}
		return k, nil
	}
	if k := strings.TrimSpace(e.variable("GEMINI_API_KEY")); k != "" {
		return k, nil
	}
	return "", badUsage("no Gemini API key: set GEMINI_API_KEY, or pass --api-key-file FILE or --api-key-secret SECRET")
}

// session is what a subcommand that calls the API holds.
type session struct {
	flags  *apiFlags
	client *gemini.Client
	sm     *smClient // nil unless needed
	close  func()
}

// open checks the flags, connects to Secret Manager when needSM or
// --api-key-secret asks for it, and builds the API client.
// startOne parses a subcommand's single ID argument, then starts its
// session as start does.
func (a *apiFlags) startOne(ctx context.Context, fs *flag.FlagSet, args []string, e env, needSM bool) (context.Context, *session, string, func(), error) {
	id, err := oneID(fs, args, e)
	if err != nil {
		return nil, nil, "", nil, err
	}
	ctx, s, done, err := a.start(ctx, e, needSM)
	return ctx, s, id, done, err
}

// start opens a subcommand's API session under its --timeout; done closes
// the session and ends the timeout.
func (a *apiFlags) start(ctx context.Context, e env, needSM bool) (context.Context, *session, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	s, err := a.open(ctx, e, needSM)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, s, func() { s.close(); cancel() }, nil
}

func (a *apiFlags) open(ctx context.Context, e env, needSM bool) (*session, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	s := &session{flags: a, close: func() {}}
	if needSM || a.keySecret != "" {
		sm, err := newSMClient(ctx, a.smAddr)
		if err != nil {
			return nil, err
		}
		s.sm, s.close = sm, sm.close
	}
	key, err := a.apiKey(ctx, e, s.sm)
	if err != nil {
		s.close()
		return nil, err
	}
	c, err := gemini.New(key, gemini.Options{BaseURL: a.apiURL, UserAgent: "geminihook-cli/" + cliVersion()})
	if err != nil {
		s.close()
		return nil, badUsage("%v", err)
	}
	c.OnRetry(func(op string, attempt int, wait time.Duration, err error) {
		fmt.Fprintf(e.stderr, "geminihook webhooks: %v; retrying in %v\n", err, wait.Round(time.Millisecond))
	})
	s.client = c
	return s, nil
}

// cliVersion is the module version of this binary, for the User-Agent.
func cliVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// apiError turns an error of the gemini client into one line with what
// to do, and the exit code of the README table.
func apiError(err error, a *apiFlags) error {
	var ae *gemini.APIError
	errors.As(err, &ae)
	hint := ""
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %v (--timeout %v)", errUnreachable, err, a.timeout)
	case errors.Is(err, gemini.ErrInvalidID):
		return badUsage("%v", err)
	case errors.Is(err, gemini.ErrUnreachable):
		return fmt.Errorf("%w: %v: is --api-url %s right, and the network up?", errUnreachable, err, a.apiURL)
	case errors.Is(err, gemini.ErrInvalidArgument) && ae != nil && strings.Contains(ae.Message, "API key"):
		return fmt.Errorf("%v: check GEMINI_API_KEY, --api-key-file or --api-key-secret", err)
	case errors.Is(err, gemini.ErrInvalidArgument):
		return badUsage("%v", err)
	case errors.Is(err, gemini.ErrPermission):
		hint = "the API key was refused: check GEMINI_API_KEY, --api-key-file or --api-key-secret, and that the Generative Language API is enabled in the key's project"
	case errors.Is(err, gemini.ErrNotFound):
		hint = "no such webhook: 'geminihook webhooks list" + a.echo() + "' shows the ids"
	case errors.Is(err, gemini.ErrConflict):
		hint = "it conflicts with the webhook's current state: look at it with 'geminihook webhooks list" + a.echo() + "' and try again"
	case errors.Is(err, gemini.ErrRateLimited):
		hint = "rate limited after the retries"
		if ae != nil && ae.RetryAfter > 0 {
			hint += fmt.Sprintf("; Gemini asks to retry after %v", ae.RetryAfter)
		}
	case errors.Is(err, gemini.ErrServer) && ae != nil && ae.HTTPStatus != 500:
		return fmt.Errorf("%w: %v: Gemini is unavailable; try again later", errUnreachable, err)
	case errors.Is(err, gemini.ErrServer):
		hint = "Gemini failed; try again later"
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%v: %s", err, hint)
}

// parseArgs parses flags that may come before and after the positional
// arguments, and returns those. --help prints the usage on stdout.
func parseArgs(fs *flag.FlagSet, args []string, e env) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
	}
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(e.stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, badUsage("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return append(pos, tail...), nil
}

// oneID parses args with exactly one positional argument, the webhook id.
func oneID(fs *flag.FlagSet, args []string, e env) (string, error) {
	pos, err := parseArgs(fs, args, e)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", badUsage("name the webhook: its id, as 'geminihook webhooks list' prints it")
	case 1:
		id, err := gemini.CleanID(pos[0])
		if err != nil {
			return "", badUsage("%v", err)
		}
		return id, nil
	}
	return "", badUsage("one webhook id at a time; got %q", pos)
}

func noArgs(fs *flag.FlagSet, args []string, e env) error {
	pos, err := parseArgs(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badUsage("unexpected argument %q: every option is a --flag", pos[0])
	}
	return nil
}

// eventList is the --events flag: comma-separated, repeatable.
type eventList []string

func (l *eventList) String() string { return strings.Join(*l, ",") }

func (l *eventList) Set(v string) error {
	for _, ev := range strings.Split(v, ",") {
		ev = strings.TrimSpace(ev)
		if ev == "" {
			continue
		}
		if !validEventName(ev) {
			return fmt.Errorf("event %q: want a type such as %s", ev, strings.Join(gemini.Events, ", "))
		}
		if !slices.Contains(*l, ev) {
			*l = append(*l, ev)
		}
	}
	return nil
}

// validEventName accepts the shape of Gemini's types (family.name); the
// API checks the names themselves, so that a type it adds works at once.
func validEventName(s string) bool {
	fam, name, ok := strings.Cut(s, ".")
	if !ok || fam == "" || name == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

const eventsHelp = "comma-separated event `types`, repeatable: batch.succeeded, batch.failed, batch.expired, interaction.requires_action, interaction.completed, interaction.failed, video.generated"

// --- list, get, update, delete, enable, status ---

const listAbout = `
Lists every webhook of the API key's project, following next_page_token to
the last page: id, state, subscribed events, URI and name. --json prints the
resources as the API returns them (a JSON array).`

func runWebhooksList(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks list", "[--json] [--page-size N]", listAbout, `  geminihook webhooks list
  geminihook webhooks list --json | jq -r '.[].id'
  geminihook webhooks list --api-key-secret gemini-api-key --project my-project`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	asJSON := fs.Bool("json", false, "print the webhooks as a JSON array")
	pageSize := fs.Int("page-size", 0, fmt.Sprintf("webhooks per page, at most %d (default: the API's, %d)", gemini.MaxPageSize, gemini.DefaultPageSize))
	if err := noArgs(fs, args, e); err != nil {
		return err
	}
	if *pageSize < 0 || *pageSize > gemini.MaxPageSize {
		return badUsage("--page-size %d: want 1 to %d", *pageSize, gemini.MaxPageSize)
	}
	ctx, s, done, err := a.start(ctx, e, false)
	if err != nil {
		return err
	}
	defer done()
	hooks, err := s.client.List(ctx, *pageSize)
	if err != nil {
		return apiError(err, &a)
	}
	if *asJSON {
		return printJSON(e.stdout, hooks)
	}
	if len(hooks) == 0 {
		fmt.Fprintln(e.stderr, "geminihook webhooks list: no webhooks; register the function with 'geminihook webhooks create'")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tEVENTS\tURI\tNAME")
	for _, w := range hooks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.State, strings.Join(w.SubscribedEvents, ","), w.URI, orDash(w.Name))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// describe writes a webhook as "key: value" lines; secrets appear only in
// Gemini's truncated display form, with their expiry.
func describe(w io.Writer, h *gemini.Webhook, now time.Time) {
	fmt.Fprintf(w, "id:      %s\n", h.ID)
	if h.Name != "" {
		fmt.Fprintf(w, "name:    %s\n", h.Name)
	}
	fmt.Fprintf(w, "state:   %s\n", h.State)
	fmt.Fprintf(w, "uri:     %s\n", h.URI)
	fmt.Fprintf(w, "events:  %s\n", strings.Join(h.SubscribedEvents, ", "))
	newest := h.NewestSecret()
	for i, s := range h.SigningSecrets {
		fmt.Fprintf(w, "secret:  %s %s\n", s.TruncatedSecret, secretState(s, i == newest, now))
	}
	if h.CreateTime != "" {
		fmt.Fprintf(w, "created: %s\n", h.CreateTime)
	}
	if h.UpdateTime != "" {
		fmt.Fprintf(w, "updated: %s\n", h.UpdateTime)
	}
}

// secretState says when a signing secret stops working.
func secretState(s gemini.SigningSecret, newest bool, now time.Time) string {
	t, ok := s.Expires()
	switch {
	case !ok && newest:
		return "(current)"
	case !ok:
		return "(no expiry)"
	case !t.After(now):
		return "(expired " + t.UTC().Format(time.RFC3339) + ")"
	case newest:
		return "(current, expires " + t.UTC().Format(time.RFC3339) + ")"
	}
	return fmt.Sprintf("(expires %s, in %v)", t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Minute))
}

func runWebhooksGet(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks get", "ID [--json]", `
Shows one webhook: state, URI, events, and its signing secrets in Gemini's
truncated display form with their expiry.`, `  geminihook webhooks get 8f1c2d3e4b5a6978
  geminihook webhooks get 8f1c2d3e4b5a6978 --json`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	asJSON := fs.Bool("json", false, "print the resource as JSON")
	ctx, s, id, done, err := a.startOne(ctx, fs, args, e, false)
	if err != nil {
		return err
	}
	defer done()
	h, err := s.client.Get(ctx, id)
	if err != nil {
		return apiError(err, &a)
	}
	if *asJSON {
		return printJSON(e.stdout, h)
	}
	describe(e.stdout, h, s.client.Now())
	return nil
}

func runWebhooksUpdate(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks update", "ID [--uri URL] [--events TYPES] [--name NAME]", `
Changes what is given of a webhook's URI, subscribed events (the list
replaces the old one) and display name, and prints the webhook as it is now.
The signing secret does not change (see 'geminihook webhooks rotate').`, `  geminihook webhooks update 8f1c2d3e4b5a6978 --uri https://europe-west1-my-project.cloudfunctions.net/geminihook
  geminihook webhooks update 8f1c2d3e4b5a6978 --events batch.succeeded,batch.failed,batch.expired`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	uri := fs.String("uri", "", "new `URL` Gemini delivers to")
	var events eventList
	fs.Var(&events, "events", eventsHelp)
	name := fs.String("name", "", "new display `name`")
	id, err := oneID(fs, args, e)
	if err != nil {
		return err
	}
	var mask []string
	if *uri != "" {
		if err := checkWebhookURI(*uri); err != nil {
			return err
		}
		mask = append(mask, "uri")
	}
	if len(events) > 0 {
		mask = append(mask, "subscribed_events")
	}
	if *name != "" {
		mask = append(mask, "name")
	}
	if len(mask) == 0 {
		return badUsage("nothing to update: give --uri, --events or --name")
	}
	ctx, s, done, err := a.start(ctx, e, false)
	if err != nil {
		return err
	}
	defer done()
	h, err := s.client.Update(ctx, id, gemini.Webhook{URI: *uri, SubscribedEvents: events, Name: *name}, mask)
	if err != nil {
		return apiError(err, &a)
	}
	fmt.Fprintf(e.stdout, "updated webhook %s (%s)\n", h.ID, strings.Join(mask, ", "))
	describe(e.stdout, h, s.client.Now())
	return nil
}

func runWebhooksDelete(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks delete", "ID", `
Deletes a webhook: Gemini stops delivering to it. Its signing secret stays
in Secret Manager (disable or destroy the versions there when no other
webhook uses the secret).`, `  geminihook webhooks delete 8f1c2d3e4b5a6978`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	ctx, s, id, done, err := a.startOne(ctx, fs, args, e, false)
	if err != nil {
		return err
	}
	defer done()
	if err := s.client.Delete(ctx, id); err != nil {
		return apiError(err, &a)
	}
	fmt.Fprintf(e.stdout, "deleted webhook %s\n", id)
	return nil
}

func runWebhooksEnable(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks enable", "ID", `
Sets a webhook's state to enabled. Gemini disables a webhook whose
deliveries keep failing (state disabled_due_to_failed_deliveries) and
delivers nothing to it until it is enabled again: fix the cause first (the
function's logs say why it answered what it did), then enable it.`, `  geminihook webhooks enable 8f1c2d3e4b5a6978
  geminihook webhooks status || geminihook webhooks enable 8f1c2d3e4b5a6978`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	ctx, s, id, done, err := a.startOne(ctx, fs, args, e, false)
	if err != nil {
		return err
	}
	defer done()
	before, err := s.client.Get(ctx, id)
	if err != nil {
		return apiError(err, &a)
	}
	if before.State == gemini.StateEnabled {
		fmt.Fprintf(e.stdout, "webhook %s is already enabled\n", id)
		return nil
	}
	h, err := s.client.Enable(ctx, id)
	if err != nil {
		return apiError(err, &a)
	}
	fmt.Fprintf(e.stdout, "webhook %s: %s (was %s)\n", h.ID, h.State, before.State)
	if h.State != gemini.StateEnabled {
		return fmt.Errorf("webhook %s is still %s after the update", h.ID, h.State)
	}
	fmt.Fprintf(e.stdout, "check a delivery: geminihook webhooks ping %s --wait%s\n", h.ID, a.echo())
	return nil
}

const statusAbout = `
Prints one line per webhook: id, state, URI, subscribed events and when its
signing secrets expire. Exits 1 when any webhook is disabled (by its owner,
or by Gemini after failed deliveries: disabled_due_to_failed_deliveries),
printing the command that enables it again; 0 when all are enabled. Suited
to a cron job or a CI check.`

func runWebhooksStatus(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks status", "", statusAbout, `  geminihook webhooks status
  geminihook webhooks status --api-key-secret gemini-api-key --project my-project || page-oncall`, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	if err := noArgs(fs, args, e); err != nil {
		return err
	}
	ctx, s, done, err := a.start(ctx, e, false)
	if err != nil {
		return err
	}
	defer done()
	hooks, err := s.client.List(ctx, gemini.MaxPageSize)
	if err != nil {
		return apiError(err, &a)
	}
	now := s.client.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	var disabled []gemini.Webhook
	for _, h := range hooks {
		var secrets []string
		newest := h.NewestSecret()
		for i, sec := range h.SigningSecrets {
			secrets = append(secrets, sec.TruncatedSecret+" "+secretState(sec, i == newest, now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.ID, h.State, h.URI, strings.Join(h.SubscribedEvents, ","), strings.Join(secrets, "; "))
		if h.Disabled() {
			disabled = append(disabled, h)
		}
	}
	tw.Flush()
	if len(hooks) == 0 {
		fmt.Fprintln(e.stderr, "geminihook webhooks status: no webhooks; register the function with 'geminihook webhooks create'")
	}
	if len(disabled) == 0 {
		return nil
	}
	for _, h := range disabled {
		why := "disabled by its owner"
		if h.State == gemini.StateDisabledFailed {
			why = "disabled by Gemini after failed deliveries: look at the function's logs for what it answered, fix that, then"
		}
		fmt.Fprintf(e.stdout, "webhook %s is %s (%s) enable it with:\n  geminihook webhooks enable %s%s\n", h.ID, h.State, why, h.ID, a.echo())
	}
	return errFailed
}
