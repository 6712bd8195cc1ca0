package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/internal/subscription"
	"github.com/geminihook/geminihook/verify"
)

// What the commands share: the defaults that make them find each other, the
// secret and Pub/Sub flags, and the helpers to reach a local server.

// Defaults: where serve listens is where send, load and tail look.
const (
	defaultAddr       = "127.0.0.1:8080"
	defaultURL        = "http://" + defaultAddr + "/"
	defaultPubSubAddr = "127.0.0.1:8085"
	defaultProject    = "geminihook-local"
	// adminTimeout bounds one Pub/Sub or Firestore admin call (create a
	// topic or a subscription, delete one, probe).
	adminTimeout = subscription.AdminTimeout
)

// defaultTopics are the topics serve publishes to unless told otherwise.
func defaultTopics() []string {
	return []string{geminihook.DefaultTopic, geminihook.DefaultTopic + "-quarantine"}
}

// secretsRule is how every command takes its whsec_ secrets; each --help
// says it.
const secretsRule = `--secret may be repeated and may be given together with --secret-file:
every secret given counts, the --secret ones first, then the file's, as
during a rotation when the old and the new secret are both valid.`

// secretForm is the form of a whsec_ secret, for the messages.
var secretForm = fmt.Sprintf("whsec_ followed by the base64 of %d to %d bytes", verify.MinSecretBytes, verify.MaxSecretBytes)

// secretBytes is the length of a generated whsec_ secret: what Gemini
// uses (Standard Webhooks allows 24 to 64).
const secretBytes = 32

// newSecret returns a fresh whsec_ secret.
func newSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// secretFlags are --secret (repeatable) and --secret-file, the same in
// every command that takes secrets (see secretsRule).
type secretFlags struct {
	values stringList
	file   string
	offOK  bool // serve: "--secret off" turns v1 off
}

// register defines the flags on fs; use says what the secrets do, e.g.
// "that signs v1 deliveries", and extra is added to --secret's text.
func (s *secretFlags) register(fs *flag.FlagSet, use, extra string) {
	fs.Var(&s.values, "secret", "`whsec_…` secret "+use+"; repeatable, and every secret counts with --secret-file"+extra)
	fs.StringVar(&s.file, "secret-file", "", "read one more whsec_ secret from this file (geminihook keys writes "+fileSecret+")")
}

// check checks the --secret values; the file is read by read.
func (s *secretFlags) check() error {
	for i, v := range s.values {
		if s.offOK && strings.EqualFold(v, geminihook.Off) {
			continue
		}
		if _, err := verify.ParseSecret(v); err != nil {
			return badFlag("secret", "#%d: want %s, as geminihook serve prints it", i+1, secretForm)
		}
	}
	return nil
}

// given reports whether a secret flag was given.
func (s *secretFlags) given() bool { return len(s.values) > 0 || s.file != "" }

// off reports whether "--secret off" was given (serve).
func (s *secretFlags) off() bool {
	for _, v := range s.values {
		if strings.EqualFold(v, geminihook.Off) {
			return true
		}
	}
	return false
}

// read returns the secrets: the --secret values ("off" left out), then the
// one read from --secret-file.
func (s *secretFlags) read() ([]string, error) {
	var secrets []string
	for _, v := range s.values {
		if !strings.EqualFold(v, geminihook.Off) {
			secrets = append(secrets, strings.TrimSpace(v))
		}
	}
	if s.file != "" {
		v, err := readSecretFile(s.file)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, v)
	}
	return secrets, nil
}

// readSecretFile reads a whsec_ secret from path and checks it.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", badFlag("secret-file", "%s: %v (make one with geminihook keys)", path, err)
	}
	s := strings.TrimSpace(string(b))
	if _, err := verify.ParseSecret(s); err != nil {
		return "", badFlag("secret-file", "%s: want %s, as geminihook keys writes", path, secretForm)
	}
	return s, nil
}

// pubsubFlags name the Pub/Sub server, project and topics of the commands
// that read what serve publishes (tail, load).
type pubsubFlags struct {
	addr    string
	project string
	topics  stringList
	fromEnv bool // addr is $PUBSUB_EMULATOR_HOST
}

// register defines --pubsub-addr, --project and --topic on fs; verb says
// what the command does with a topic ("follow").
func (p *pubsubFlags) register(fs *flag.FlagSet, verb string) {
	fs.StringVar(&p.addr, "pubsub-addr", "", "Pub/Sub server host:port (default $PUBSUB_EMULATOR_HOST, else "+defaultPubSubAddr+", serve's)")
	fs.StringVar(&p.project, "project", defaultProject, "project of the topics (serve --project)")
	fs.Var(&p.topics, "topic", "`TOPIC` id or full name to "+verb+", repeatable (default "+geminihook.DefaultTopic+" and its -quarantine topic)")
}

// resolve checks the flags and fills in the defaults: the address of
// $PUBSUB_EMULATOR_HOST, else serve's; the topics serve publishes to.
func (p *pubsubFlags) resolve(e env) error {
	if p.project == "" {
		return badFlag("project", "must not be empty: want the project of serve's topics (default %s)", defaultProject)
	}
	if p.addr == "" {
		p.addr, p.fromEnv = e.variable("PUBSUB_EMULATOR_HOST"), true
	}
	if p.addr == "" {
		p.addr, p.fromEnv = defaultPubSubAddr, false
	}
	if _, _, err := splitHostPort(p.addr); err != nil {
		if p.fromEnv {
			return badUsage("PUBSUB_EMULATOR_HOST=%q: want host:port, e.g. %s", p.addr, defaultPubSubAddr)
		}
		return badFlag("pubsub-addr", "%q: want host:port, e.g. %s", p.addr, defaultPubSubAddr)
	}
	if len(p.topics) == 0 {
		p.topics = defaultTopics()
	}
	return nil
}

// splitHostPort splits addr into host and a port number (0 to 65535).
func splitHostPort(addr string) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", ps)
	}
	return host, port, nil
}

// probe reports errUnreachable, with hint, when nothing accepts a TCP
// connection at addr: the gRPC clients would otherwise retry for a long
// time before saying so.
func probe(ctx context.Context, addr, what, hint string) error {
	if err := localnet.Probe(ctx, addr); err != nil {
		return fmt.Errorf("%w: no %s server at %s (%v): %s", errUnreachable, what, addr, err, hint)
	}
	return nil
}

// dialPubSub returns a Pub/Sub client for the emulator or pstest server at
// addr (plaintext, no credentials) and a function that closes it.
func dialPubSub(ctx context.Context, addr, project string) (*pubsub.Client, func(), error) {
	c, conn, err := connectPubSub(ctx, addr, project)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close(); conn.Close() }, nil
}

// connectPubSub is dialPubSub, with the connection under the client.
func connectPubSub(ctx context.Context, addr, project string) (*pubsub.Client, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("Pub/Sub address %q: %w", addr, err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("Pub/Sub client: %w", err)
	}
	return c, conn, nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
