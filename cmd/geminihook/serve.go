package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/verify"
)

// jwksPath is where serve hosts --jwks-file, as Google hosts its keys.
const jwksPath = "/.well-known/jwks.json"

// shutdownTimeout bounds the graceful part of serve's shutdown: requests
// in flight finish, the publisher flushes.
const shutdownTimeout = 15 * time.Second

const serveAbout = `
Runs the geminihook webhook receiver locally, composed by the same code as
the Cloud Function (geminihook.NewService): verification (v1 HMAC, v1a
Ed25519, RS256 JWT), the dedup ledger, normalization and the CloudEvents
messages on Pub/Sub. The GEMINIHOOK_* variables of the function's
configuration apply here too; the flags below take precedence.

No other process is needed: Pub/Sub is served in-process on --pubsub-addr
(a loopback port that 'geminihook tail' and any Pub/Sub client can attach
to with PUBSUB_EMULATOR_HOST) and the ledger is kept in memory. When
PUBSUB_EMULATOR_HOST is set, serve publishes to that server instead; when
FIRESTORE_EMULATOR_HOST is set, the ledger is kept in that Firestore
emulator (collection ` + geminihook.DefaultCollection + `). Missing topics are created.

Without --secret, serve makes a whsec_ secret and prints it once; project
(v1) deliveries are accepted at /.

` + secretsRule + ` A
delivery signed with any of them verifies.

Per-request deliveries (v1a and JWT, signed with keys that every Gemini
customer shares) are accepted only at /r/<route token>, as in
production: give a --route-token (or
--route-token-file) and a JWKS: --jwks-url, or --jwks-file (for example
from 'geminihook keys'), which serve then hosts itself at ` + jwksPath + `
and verifies against. JWT deliveries also need --audience.

On start it prints where it listens and the send and tail commands to try.
It stops cleanly on Ctrl-C or SIGTERM: requests in flight finish and
pending messages are published first. Request logs (Cloud Logging JSON, as
in production) go to standard error.`

const serveExamples = `  geminihook serve
  geminihook serve --addr 127.0.0.1:9090 --pubsub-addr 127.0.0.1:0
  geminihook serve --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --secret whsec_…   # rotation: both valid
  geminihook keys --out keys && geminihook serve --secret-file keys/secret.txt --jwks-file keys/jwks.json --route-token-file keys/route-token.txt --audience http://127.0.0.1:8080/
  PUBSUB_EMULATOR_HOST=127.0.0.1:8681 FIRESTORE_EMULATOR_HOST=127.0.0.1:8686 geminihook serve --project demo`

// serveOptions are the parsed flags of serve.
type serveOptions struct {
	addr       string
	secrets    secretFlags
	routes     stringList
	routeFile  string
	jwksURL    string
	jwksFile   string
	audience   string
	project    string
	topic      string
	tolerance  time.Duration
	pubsubAddr string
	logLevel   string
	given      map[string]bool // the flags given on the command line
}

func runServe(ctx context.Context, args []string, e env) error {
	o, err := parseServe(args, e)
	if err != nil {
		return err
	}
	s, err := newServer(ctx, o, e)
	if err != nil {
		return err
	}
	return s.run(ctx, e)
}

// parseServe parses and checks serve's command line (with the
// environment's PUBSUB_EMULATOR_HOST); newServer reads the files it names.
func parseServe(args []string, e env) (serveOptions, error) {
	fs := newFlagSet("serve", "[flags]", serveAbout, serveExamples, e)
	var o serveOptions
	fs.StringVar(&o.addr, "addr", defaultAddr, "HTTP address to listen on, host:port (port 0: any free port)")
	o.secrets.offOK = true
	o.secrets.register(fs, "that verifies v1 deliveries", " (default: a new one, printed once; \"off\": v1 off)")
	fs.Var(&o.routes, "route-token", "route `token` of per-request (v1a, JWT) deliveries, accepted at /r/TOKEN; repeatable (default: none, v1a and JWT off)")
	fs.StringVar(&o.routeFile, "route-token-file", "", "read a route token from this file (geminihook keys writes route-token.txt)")
	fs.StringVar(&o.jwksURL, "jwks-url", "", "JWKS URL with the public keys of v1a and JWT deliveries (https, or http on loopback); default: v1a and JWT off")
	fs.StringVar(&o.jwksFile, "jwks-file", "", "JWKS file to host at "+jwksPath+" on --addr and verify v1a and JWT against")
	fs.StringVar(&o.audience, "audience", "", "required aud claim of JWT deliveries (default: none, JWT off)")
	fs.StringVar(&o.project, "project", defaultProject, "project of the Pub/Sub topics (and the Firestore ledger)")
	fs.StringVar(&o.topic, "topic", geminihook.DefaultTopic, "topic of job events; quarantined bodies go to <topic>-quarantine")
	fs.DurationVar(&o.tolerance, "tolerance", geminihook.DefaultTolerance, "how far webhook-timestamp may be from now")
	fs.StringVar(&o.pubsubAddr, "pubsub-addr", defaultPubSubAddr, "loopback host:port of the in-process Pub/Sub server (port 0: any free port); ignored when PUBSUB_EMULATOR_HOST is set")
	fs.StringVar(&o.logLevel, "log-level", "info", "request log level: debug, info, warn or error")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	o.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	return o, o.check(e)
}

// check checks what the flags say; the values read from files, and the
// route tokens, are checked by newServer.
func (o *serveOptions) check(e env) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return badFlag("log-level", "%q: want debug, info, warn or error", o.logLevel)
	}
	if _, _, err := splitHostPort(o.addr); err != nil {
		return badFlag("addr", "%q: want host:port, e.g. %s (port 0: any free port)", o.addr, defaultAddr)
	}
	if e.variable("PUBSUB_EMULATOR_HOST") == "" {
		host, _, err := splitHostPort(o.pubsubAddr)
		switch {
		case err != nil:
			return badFlag("pubsub-addr", "%q: want host:port, e.g. %s (port 0: any free port)", o.pubsubAddr, defaultPubSubAddr)
		case !localnet.IsLoopbackHost(host):
			return badFlag("pubsub-addr", "%q: the in-process Pub/Sub server has no authentication; keep it on loopback (127.0.0.1)", o.pubsubAddr)
		}
	}
	switch {
	case o.jwksURL != "" && o.jwksFile != "":
		return badUsage("--jwks-url and --jwks-file both given: pick one")
	case o.jwksURL != "" && !verify.SafeJWKSURL(o.jwksURL):
		return badFlag("jwks-url", "%q: want an https URL (http only for a loopback host)", o.jwksURL)
	case o.tolerance <= 0:
		return badFlag("tolerance", "must be positive: want a duration such as 5m, not %v", o.tolerance)
	case o.project == "":
		return badFlag("project", "must not be empty: want a project id, e.g. %s", defaultProject)
	case o.topic == "":
		return badFlag("topic", "must not be empty: want a topic id, e.g. %s", geminihook.DefaultTopic)
	}
	if err := o.secrets.check(); err != nil {
		return err
	}
	others := len(o.secrets.values) > 1 || o.secrets.file != ""
	asymmetric := (len(o.routes) > 0 || o.routeFile != "") && (o.jwksURL != "" || o.jwksFile != "")
	switch {
	case o.secrets.off() && others:
		return badFlag("secret", "off turns v1 off: drop the other secrets, or drop off")
	case o.secrets.off() && !asymmetric:
		return badUsage("--secret off and no --route-token with --jwks-url or --jwks-file: no delivery could ever verify")
	}
	return nil
}

// routeTokenForm is the form of a route token, for the messages.
var routeTokenForm = fmt.Sprintf("%d to %d characters of A-Z a-z 0-9 - _", route.MinTokenBytes, route.MaxTokenBytes)

// server is a running serve: the HTTP server and what it must release.
type server struct {
	cfg      geminihook.Config // what NewService was given
	http     *http.Server
	listener net.Listener
	url      string
	closers  []func() // run in reverse order after the HTTP server stops
	banner   string
}

// newServer reads the files the flags name, starts the parts, creates the
// topics and only then listens; nothing is served until run.
func newServer(ctx context.Context, o serveOptions, e env) (s *server, err error) {
	secrets, generated, err := o.resolveSecrets()
	if err != nil {
		return nil, err
	}
	tokens, err := o.resolveRouteTokens()
	if err != nil {
		return nil, err
	}
	var jwksDoc []byte
	if o.jwksFile != "" {
		if jwksDoc, err = os.ReadFile(o.jwksFile); err != nil {
			return nil, badFlag("jwks-file", "%v (make one with geminihook keys)", err)
		}
		if _, err := verify.ParseJWKS(jwksDoc); err != nil {
			return nil, badFlag("jwks-file", "%s: want a JWK Set with RS256 or Ed25519 public keys, as geminihook keys writes", o.jwksFile)
		}
		// Hosted on --addr: the URL names the port, known once serve
		// listens. Until then --addr stands for it, so that the
		// configuration checks see a JWKS.
		o.jwksURL = "http://" + o.addr + jwksPath
	}

	s = &server{}
	started := s // s is nil on the error returns
	defer func() {
		if err != nil {
			started.close()
		}
	}()

	// Pub/Sub: the emulator named by the environment, else pstest in-process.
	var b banner
	psAddr := e.getenv("PUBSUB_EMULATOR_HOST")
	if psAddr != "" {
		if err := probe(ctx, psAddr, "Pub/Sub", "start the emulator PUBSUB_EMULATOR_HOST names, or unset it to use the in-process one"); err != nil {
			return nil, err
		}
		b.pubsub = fmt.Sprintf("the emulator at %s (PUBSUB_EMULATOR_HOST)", psAddr)
	} else {
		srv, err := startPstest(o.pubsubAddr)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { srv.Close() })
		psAddr = srv.Addr
		b.pubsub = fmt.Sprintf("in-process at %s", psAddr)
	}
	b.pubsubAddr = psAddr
	client, closeClient, err := dialPubSub(ctx, psAddr, o.project)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closeClient)
	parts := geminihook.Parts{Clients: geminihook.Clients{PubSub: client}}

	// Ledger: the Firestore emulator named by the environment, else memory.
	if fsAddr := e.getenv("FIRESTORE_EMULATOR_HOST"); fsAddr != "" {
		fs, err := firestoreClient(ctx, fsAddr, o.project)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { fs.Close() })
		parts.Firestore = fs
		b.ledger = fmt.Sprintf("Firestore emulator at %s (FIRESTORE_EMULATOR_HOST), collection %s", fsAddr, geminihook.DefaultCollection)
	} else {
		b.ledger = "in memory (forgotten on exit)"
	}
	if len(secrets) > 0 {
		parts.Secrets = verify.StaticSecrets(secrets...)
	}
	if len(tokens) > 0 {
		if parts.RouteTokens, err = route.Static(tokens...); err != nil {
			return nil, badFlag("route-token", "want %s (make one with geminihook keys)", routeTokenForm)
		}
	}
	cfg, err := o.config(e, len(secrets) > 0, len(tokens) > 0)
	if err != nil {
		return nil, badUsage("%v", err)
	}
	if parts.Firestore == nil {
		parts.Ledger = ledger.NewMemory(ledger.Options{Lease: cfg.Lease, Retention: cfg.Retention})
	}
	parts.Logger = geminihook.NewLogger(e.stderr, cfg)

	// The topics exist before serve listens: a delivery can be published
	// as soon as a connection is accepted.
	actx, cancel := context.WithTimeout(ctx, adminTimeout)
	err = publish.EnsureTopics(actx, client, cfg.Topics()...)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: creating the topics on %s: %v", errUnreachable, psAddr, err)
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, listenError("addr", o.addr, err)
	}
	s.listener = ln
	s.closers = append(s.closers, func() { ln.Close() })
	s.url = "http://" + ln.Addr().String() + "/"
	if jwksDoc != nil {
		// Hosted on the port just taken; no key is fetched before a
		// delivery comes, and nothing is served before run.
		cfg.JWKSURL = strings.TrimSuffix(s.url, "/") + jwksPath
	}
	svc, err := geminihook.NewService(cfg, parts)
	if err != nil {
		return nil, badUsage("%v", err)
	}
	s.closers = append(s.closers, func() { svc.Close() })
	b.topics = svc.Topics
	s.cfg = cfg

	mux := http.NewServeMux()
	if jwksDoc != nil {
		mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Write(jwksDoc)
		})
	}
	mux.Handle("/", svc) // every other path and method, as the Cloud Function answers
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(parts.Logger.Handler(), slog.LevelWarn),
	}

	b.listen = s.url
	b.project = o.project
	b.secrets = secrets
	b.generated = generated
	b.secretFile = o.secrets.file
	b.tokens = tokens
	b.routeFile = o.routeFile
	b.audience = cfg.Audience
	b.jwksURL = cfg.JWKSURL
	b.jwksFile = o.jwksFile
	b.topic = cfg.Topic
	s.banner = b.String()
	return s, nil
}

// listenError says why serve cannot listen on addr, given with --flag:
// another program holds the address (a failure, with the way out), or it
// is no address of this machine (a usage error).
func listenError(flag, addr string, err error) error {
	_, isDNS := errors.AsType[*net.DNSError](err)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot listen on %s: the address is in use (is another serve running? pick a free address with --%s, e.g. 127.0.0.1:0)", addr, flag)
	case isDNS, errors.Is(err, syscall.EADDRNOTAVAIL):
		return badFlag(flag, "%q: not an address of this machine (%v): want host:port, e.g. 127.0.0.1:0", addr, err)
	}
	return fmt.Errorf("cannot listen on %s (--%s): %w", addr, flag, err)
}

// config is the receiver's configuration: the function's variables from
// the environment (so that every setting of the Cloud Function applies
// here as well, with no code in serve), under the flags, which take
// precedence, and local defaults. The secrets and route tokens come from
// the flags (Parts), never from Secret Manager.
func (o serveOptions) config(e env, v1, routes bool) (geminihook.Config, error) {
	set := map[string]string{
		// The project names only local resources: always serve's own.
		"GOOGLE_CLOUD_PROJECT": o.project,
		"GEMINIHOOK_SECRET":    geminihook.Off,
		// serve's Parts supply the secrets and tokens; these names only
		// say whether there are any.
		"GEMINIHOOK_ROUTE_TOKENS": "",
		"GEMINIHOOK_JWKS_URL":     cmp.Or(o.jwksURL, geminihook.Off),
	}
	if v1 {
		set["GEMINIHOOK_SECRET"] = "serve-flags"
	}
	if routes {
		set["GEMINIHOOK_ROUTE_TOKENS"] = "serve-flags"
	}
	if o.audience != "" {
		set["GEMINIHOOK_JWT_AUDIENCE"] = o.audience
	}
	// A flag given on the command line wins over the environment; a flag's
	// default applies only where the environment is silent.
	for flagName, kv := range map[string][2]string{
		"topic":     {"GEMINIHOOK_TOPIC", o.topic},
		"tolerance": {"GEMINIHOOK_TOLERANCE", o.tolerance.String()},
		"log-level": {"GEMINIHOOK_LOG_LEVEL", o.logLevel},
	} {
		if o.given[flagName] || e.getenv(kv[0]) == "" {
			set[kv[0]] = kv[1]
		}
	}
	if e.getenv("GEMINIHOOK_FIRESTORE_DATABASE") == "" {
		set["GEMINIHOOK_FIRESTORE_DATABASE"] = "(default)" // the emulator's
	}
	return geminihook.LoadConfig(func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return e.getenv(k)
	})
}

// resolveRouteTokens returns the route tokens of --route-token and
// --route-token-file.
func (o serveOptions) resolveRouteTokens() ([]string, error) {
	var tokens []string
	for i, t := range o.routes {
		if _, err := route.ParseToken(t); err != nil {
			return nil, badFlag("route-token", "#%d: want %s (make one with geminihook keys)", i+1, routeTokenForm)
		}
		tokens = append(tokens, strings.TrimSpace(t))
	}
	if o.routeFile != "" {
		b, err := os.ReadFile(o.routeFile)
		if err != nil {
			return nil, badFlag("route-token-file", "%v (make one with geminihook keys)", err)
		}
		if _, err := route.ParseToken(string(b)); err != nil {
			return nil, badFlag("route-token-file", "%s: want %s, as geminihook keys writes", o.routeFile, routeTokenForm)
		}
		tokens = append(tokens, strings.TrimSpace(string(b)))
	}
	return tokens, nil
}

// resolveSecrets returns the v1 secrets of o, making one when none is
// given (generated is then true); none with --secret off.
func (o serveOptions) resolveSecrets() (secrets []string, generated bool, err error) {
	if secrets, err = o.secrets.read(); err != nil {
		return nil, false, err
	}
	if len(secrets) == 0 && !o.secrets.off() {
		return []string{newSecret()}, true, nil
	}
	return secrets, false, nil
}

// startPstest starts the in-process Pub/Sub server on addr (checked by
// parseServe).
func startPstest(addr string) (srv *pstest.Server, err error) {
	// pstest panics, in its own words, when it cannot listen: try first.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenError("pubsub-addr", addr, err)
	}
	l.Close()
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("cannot start the in-process Pub/Sub server on %s "+
				"(is another serve running? pick a free address with --pubsub-addr, e.g. 127.0.0.1:0)", addr)
		}
	}()
	return pstest.NewServerWithAddress(addr), nil
}

// firestoreClient connects to the Firestore emulator (the client reads
// FIRESTORE_EMULATOR_HOST itself) and checks that it answers.
func firestoreClient(ctx context.Context, addr, project string) (*firestore.Client, error) {
	hint := "start the emulator FIRESTORE_EMULATOR_HOST names, or unset it to keep the ledger in memory"
	if err := probe(ctx, addr, "Firestore", hint); err != nil {
		return nil, err
	}
	c, err := firestore.NewClient(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("the Firestore client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	_, err = c.Collection(geminihook.DefaultCollection).Doc("geminihook-serve-probe").Get(pctx)
	if err != nil && status.Code(err) != codes.NotFound {
		c.Close()
		return nil, fmt.Errorf("%w: the Firestore emulator at %s does not answer: %v; %s", errUnreachable, addr, err, hint)
	}
	return c, nil
}

// run serves until ctx ends (Ctrl-C, SIGTERM), then shuts down: no new
// connections, requests in flight finish, the publisher flushes, the
// clients and the in-process Pub/Sub server close.
func (s *server) run(ctx context.Context, e env) error {
	fmt.Fprint(e.stdout, s.banner)
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.listener) }()

	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "geminihook serve: shutting down (requests in flight finish, pending messages are published)")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if serr := s.http.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("shutdown: %w", serr))
	}
	s.close()
	if err == nil {
		fmt.Fprintln(e.stderr, "geminihook serve: stopped")
	}
	return err
}

// close releases the parts in reverse order of their start.
func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// banner is what serve prints on start.
type banner struct {
	listen, pubsub, pubsubAddr, ledger, project, topic string
	topics                                             []string
	secrets                                            []string
	generated                                          bool
	secretFile                                         string
	tokens                                             []string
	routeFile, audience                                string
	jwksURL, jwksFile                                  string
}

func (b banner) String() string {
	var w strings.Builder
	fmt.Fprintf(&w, "geminihook serve: listening on %s\n", b.listen)
	fmt.Fprintf(&w, "  pubsub:   %s, topics %s\n", b.pubsub, strings.Join(b.topics, ", "))
	fmt.Fprintf(&w, "  ledger:   %s\n", b.ledger)
	switch {
	case len(b.secrets) == 0:
		fmt.Fprintf(&w, "  v1:       off\n")
	case b.generated:
		fmt.Fprintf(&w, "  v1:       secret %s (made for this run, printed only here)\n", b.secrets[0])
	default:
		fmt.Fprintf(&w, "  v1:       %d secret(s) from the command line\n", len(b.secrets))
	}
	perRequest := ""
	switch {
	case len(b.tokens) == 0:
		fmt.Fprintf(&w, "  v1a, jwt: off (per-request deliveries need --route-token and --jwks-file, from geminihook keys)\n")
	case b.jwksFile == "" && b.jwksURL == "":
		fmt.Fprintf(&w, "  v1a, jwt: off (give --jwks-file from geminihook keys to try them)\n")
	default:
		keys := b.jwksURL
		if b.jwksFile != "" {
			keys = b.jwksFile + ", hosted at " + b.jwksURL
		}
		jwt := "jwt off (no --audience)"
		if b.audience != "" {
			jwt = "jwt for audience " + b.audience
		}
		perRequest = b.listen + "r/" + b.tokens[0]
		fmt.Fprintf(&w, "  v1a, jwt: keys of %s; %s; only at %s\n", keys, jwt, perRequest)
	}

	tail := "geminihook tail --pubsub-addr " + b.pubsubAddr
	if b.project != defaultProject {
		tail += " --project " + shellQuote(b.project)
	}
	if b.topic != geminihook.DefaultTopic {
		tail += " --topic " + shellQuote(b.topic) + " --topic " + shellQuote(b.topic+"-quarantine")
	}
	send := "geminihook send --url " + b.listen
	var sends []string
	switch {
	case b.secretFile != "" && len(b.secrets) == 1:
		sends = append(sends, send+" --secret-file "+shellQuote(b.secretFile)+" --all")
	case len(b.secrets) > 0:
		sends = append(sends, send+" --secret "+shellQuote(b.secrets[0])+" --all",
			send+" --secret "+shellQuote(b.secrets[0])+" --type batch.failed --repeat 10 --concurrency 5")
	}
	if b.jwksFile != "" && perRequest != "" {
		// Keys made by `geminihook keys` lie next to their jwks.json.
		dir := filepath.Dir(b.jwksFile)
		sendR := "geminihook send --url " + shellQuote(perRequest)
		if p := filepath.Join(dir, fileEd25519); fileExists(p) {
			sends = append(sends, sendR+" --scheme v1a --ed25519-seed "+shellQuote(p)+" --all")
		}
		if p := filepath.Join(dir, fileRSA); fileExists(p) && b.audience != "" {
			sends = append(sends, sendR+" --scheme jwt --rsa-key "+shellQuote(p)+" --audience "+shellQuote(b.audience)+" --all")
		}
	}
	fmt.Fprintf(&w, "\nFollow the published events, in another terminal:\n  %s\n", tail)
	if len(sends) > 0 {
		fmt.Fprintf(&w, "Send signed deliveries:\n  %s\n", strings.Join(sends, "\n  "))
	}
	fmt.Fprintf(&w, "Stop with Ctrl-C.\n")
	return w.String()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
