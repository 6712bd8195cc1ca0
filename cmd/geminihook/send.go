package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/localnet"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Limits of send.
const (
	maxRepeat      = 10_000
	maxConcurrency = 256
	// maxAnswerBytes bounds how much of an answer is read and shown.
	maxAnswerBytes = 4 << 10
	// maxBodyFileBytes bounds --body: a little over the receiver's own
	// default limit, so that its 413 can be seen.
	maxBodyFileBytes = 8 << 20
)

// The signature schemes send can sign with (verify.Scheme values).
var schemes = []string{string(verify.SchemeV1), string(verify.SchemeV1a), string(verify.SchemeJWT)}

const sendAbout = `
Builds a realistic Gemini webhook delivery (a thin envelope with a fresh
job id and the current time), signs it like Gemini does and POSTs it to
--url, then prints the HTTP status and the answer of each attempt.

Signing: --secret (or --secret-file) signs v1 (HMAC-SHA256, project
webhooks); --ed25519-seed signs v1a and --rsa-key (with --kid) signs an
RS256 JWT (per-request webhooks). The receiver must know the public keys:
make them with 'geminihook keys' and give serve its jwks.json. --scheme
picks one when several keys are given.

` + secretsRule + ` Each secret adds one v1 token to
webhook-signature.

Each delivery gets a fresh webhook-id (msg_<uuid>) unless --id is given.
--repeat N sends the same delivery (same webhook-id, re-signed with the
current timestamp, as Gemini's retries are) N times, --concurrency at a
time, and prints a histogram of the answers: the receiver publishes it
once and answers the others "duplicate" (or 409 while the first is still
in flight).

A delivery succeeds when one attempt got a 2xx answer and every other one
a 2xx or 409. Exit status 1 when a delivery failed, 3 when nothing
answered at --url.

The documented types are: ` + "%s" + `.`

const sendExamples = `  geminihook send --secret whsec_… --type batch.succeeded
  geminihook send --secret whsec_… --all
  geminihook send --secret-file keys/secret.txt --repeat 10 --concurrency 5
  geminihook send --scheme v1a --ed25519-seed keys/ed25519.seed --type video.generated
  geminihook send --scheme jwt --rsa-key keys/rsa.pem --kid geminihook-local-rsa --all
  geminihook send --secret whsec_… --body my-event.json --id msg_fixed
  geminihook send --secret whsec_… --skew -6m      # stale timestamp: expect 401`

// sendOptions are the parsed flags of send.
type sendOptions struct {
	url         string
	typ         string
	all         bool
	bodyFile    string
	id          string
	scheme      string // the one asked for, else the one whose key is given
	secrets     secretFlags
	seedFile    string
	rsaFile     string
	kid         string
	audience    string
	repeat      int
	concurrency int
	timeout     time.Duration
	skew        time.Duration
	quiet       bool
}

func runSend(ctx context.Context, args []string, e env) error {
	o, err := parseSend(args, e)
	if err != nil {
		return err
	}
	signer, err := o.signer()
	if err != nil {
		return err
	}
	ds, err := o.deliveries(e)
	if err != nil {
		return err
	}
	s := &sender{
		url:    o.url,
		signer: signer,
		scheme: o.scheme,
		skew:   o.skew,
		client: &http.Client{
			Timeout:   o.timeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, Proxy: nil},
		},
		out:   e.stdout,
		quiet: o.quiet,
	}
	defer s.client.CloseIdleConnections()
	return s.run(ctx, ds, o.repeat, o.concurrency)
}

// parseSend parses and checks send's command line, and picks the scheme;
// signer and deliveries read the files it names.
func parseSend(args []string, e env) (sendOptions, error) {
	about := fmt.Sprintf(sendAbout, strings.Join(events.DocumentedTypes(), ", "))
	fs := newFlagSet("send", "[--type TYPE | --all | --body FILE] [key flags] [--url URL]", about, sendExamples, e)
	var o sendOptions
	fs.StringVar(&o.url, "url", defaultURL, "receiver to POST to (serve's address)")
	fs.StringVar(&o.typ, "type", events.TypeBatchSucceeded, "Gemini event type of the delivery; any string, undocumented ones are sent as a minimal envelope")
	fs.BoolVar(&o.all, "all", false, "send one delivery of every documented type")
	fs.StringVar(&o.bodyFile, "body", "", "send this file's bytes as the body (\"-\": standard input) instead of a built one")
	fs.StringVar(&o.id, "id", "", "webhook-id to use (default: a fresh msg_<uuid> per delivery)")
	fs.StringVar(&o.scheme, "scheme", "", "signature scheme: v1, v1a or jwt (default: the one whose key is given)")
	o.secrets.register(fs, "that signs v1 (one v1 token per secret)", "")
	fs.StringVar(&o.seedFile, "ed25519-seed", "", "file with the base64 Ed25519 seed for v1a (keys writes "+fileEd25519+")")
	fs.StringVar(&o.rsaFile, "rsa-key", "", "PEM RSA private key file for jwt (keys writes "+fileRSA+")")
	fs.StringVar(&o.kid, "kid", defaultRSAKeyID, "JWT header kid: the RSA key's id in the receiver's JWKS")
	fs.StringVar(&o.audience, "audience", "", "JWT aud claim (serve --audience); empty: none")
	fs.IntVar(&o.repeat, "repeat", 1, "send each delivery this many times with the same webhook-id")
	fs.IntVar(&o.concurrency, "concurrency", 1, "attempts in flight at once")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on each HTTP attempt")
	fs.DurationVar(&o.skew, "skew", 0, "shift webhook-timestamp by this much, e.g. -6m to see the replay window refuse it")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the summary, not each attempt")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	target, err := url.Parse(o.url)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return o, badFlag("url", "%q: want an absolute http(s) URL such as %s", o.url, defaultURL)
	}
	o.url = target.String()
	switch {
	case o.all && set["type"]:
		return o, badFlag("all", "sends every documented type: drop --type")
	case o.bodyFile != "" && (o.all || set["type"]):
		return o, badFlag("body", "sends your own body: drop --all and --type")
	case o.id != "" && o.all:
		return o, badFlag("id", "names one delivery and --all sends %d: use --id with --type or --body", len(events.DocumentedTypes()))
	case o.repeat < 1 || o.repeat > maxRepeat:
		return o, badFlag("repeat", "%d: want 1 to %d", o.repeat, maxRepeat)
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return o, badFlag("concurrency", "%d: want 1 to %d", o.concurrency, maxConcurrency)
	case o.timeout <= 0:
		return o, badFlag("timeout", "must be positive: want a duration such as 10s, not %v", o.timeout)
	case len(o.id) > verify.MaxIDBytes:
		return o, badFlag("id", "is over %d bytes: the receiver would answer 400", verify.MaxIDBytes)
	}
	if err := o.pickScheme(); err != nil {
		return o, err
	}
	for _, name := range []string{"kid", "audience"} {
		if set[name] && o.scheme != "jwt" {
			return o, badFlag(name, "applies to --scheme jwt only")
		}
	}
	return o, o.secrets.check()
}

// pickScheme checks --scheme against the key flags given, or picks the
// scheme of the one key given.
func (o *sendOptions) pickScheme() error {
	var have []string
	if o.secrets.given() {
		have = append(have, "v1")
	}
	if o.seedFile != "" {
		have = append(have, "v1a")
	}
	if o.rsaFile != "" {
		have = append(have, "jwt")
	}
	switch {
	case o.scheme != "" && !slices.Contains(schemes, o.scheme):
		return badFlag("scheme", "%q: want v1, v1a or jwt", o.scheme)
	case o.scheme == "" && len(have) == 0:
		return badUsage("no signing key: pass --secret with the whsec_ secret that geminihook serve printed " +
			"(or --ed25519-seed / --rsa-key made by geminihook keys)")
	case o.scheme == "" && len(have) > 1:
		return badUsage("keys for %s given: pick the scheme with --scheme", strings.Join(have, " and "))
	case o.scheme == "":
		o.scheme = have[0]
	case !slices.Contains(have, o.scheme):
		need := map[string]string{"v1": "--secret or --secret-file", "v1a": "--ed25519-seed", "jwt": "--rsa-key"}[o.scheme]
		return badFlag("scheme", "%s needs %s (make keys with geminihook keys)", o.scheme, need)
	}
	return nil
}

// signer builds the verifytest.Signer of the scheme from the key flags,
// reading the key files.
func (o *sendOptions) signer() (*verifytest.Signer, error) {
	sg := &verifytest.Signer{RSAKeyID: o.kid, Audience: o.audience, Ed25519KeyID: defaultEd25519KeyID}
	switch o.scheme {
	case "v1":
		secrets, err := o.secrets.read()
		if err != nil {
			return nil, err
		}
		sg.Secrets = secrets
	case "v1a":
		k, err := readEd25519Seed(o.seedFile)
		if err != nil {
			return nil, err
		}
		sg.Ed25519 = k
	case "jwt":
		k, err := readRSAKey(o.rsaFile)
		if err != nil {
			return nil, err
		}
		if k.N.BitLen() < verify.MinRSABits {
			return nil, badFlag("rsa-key", "%s: a %d-bit key; receivers accept %d bits and more", o.rsaFile, k.N.BitLen(), verify.MinRSABits)
		}
		sg.RSA = k
	}
	return sg, nil
}

// delivery is one webhook delivery: what every attempt of it sends.
type delivery struct {
	typ  string // for display: the envelope type, "" when unknown
	id   string // webhook-id
	body []byte
}

// deliveries builds what o asks to send.
func (o *sendOptions) deliveries(e env) ([]delivery, error) {
	id := func() string {
		if o.id != "" {
			return o.id
		}
		return verifytest.NewWebhookID()
	}
	now := time.Now().Add(o.skew)
	if o.bodyFile != "" {
		var r io.Reader = e.stdin
		if o.bodyFile != "-" {
			f, err := os.Open(o.bodyFile)
			if err != nil {
				return nil, badFlag("body", "%v", err)
			}
			defer f.Close()
			r = f
		}
		body, err := io.ReadAll(io.LimitReader(r, maxBodyFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading --body: %w", err)
		}
		if len(body) > maxBodyFileBytes {
			return nil, badFlag("body", "is over %d bytes", maxBodyFileBytes)
		}
		typ := "(body)"
		if ev, err := events.Parse(body); err == nil && ev.Type != "" {
			typ = ev.Type
		}
		return []delivery{{typ: typ, id: id(), body: body}}, nil
	}
	types := []string{o.typ}
	if o.all {
		types = events.DocumentedTypes()
	}
	ds := make([]delivery, len(types))
	for i, t := range types {
		ds[i] = delivery{typ: t, id: id(), body: sampleBody(t, now)}
	}
	return ds, nil
}

// sender posts signed attempts and tallies the answers.
type sender struct {
	url    string
	signer *verifytest.Signer
	scheme string
	skew   time.Duration
	client *http.Client
	quiet  bool

	mu  sync.Mutex // guards out and the tallies
	out io.Writer
}

// attempt is the outcome of one POST.
type attempt struct {
	d      *delivery
	status int    // 0 when no answer came
	answer string // "published" / "duplicate" for a 200, else the answer text
	err    error  // transport error
}

// label is the histogram key of a.
func (a attempt) label() string {
	switch {
	case a.err != nil && localnet.IsRefused(a.err):
		return "unreachable"
	case a.err != nil:
		return "error"
	case a.status == http.StatusOK && (a.answer == "published" || a.answer == "duplicate"):
		return "200 " + a.answer
	case a.status == http.StatusConflict:
		return "409 in flight"
	}
	return fmt.Sprint(a.status, " ", http.StatusText(a.status))
}

func (s *sender) run(ctx context.Context, ds []delivery, repeat, concurrency int) error {
	jobs := make(chan *delivery)
	results := make([][]attempt, len(ds))
	index := map[*delivery]int{}
	for i := range ds {
		index[&ds[i]] = i
	}
	var wg sync.WaitGroup
	for range min(concurrency, len(ds)*repeat) {
		wg.Go(func() {
			for d := range jobs {
				a := s.post(ctx, d)
				s.mu.Lock()
				results[index[d]] = append(results[index[d]], a)
				if !s.quiet {
					s.printAttempt(a)
				}
				s.mu.Unlock()
			}
		})
	}
feed:
	for i := range ds {
		for range repeat {
			select {
			case jobs <- &ds[i]:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	return s.summarize(ctx, ds, results)
}

// post signs d with the current time and POSTs it once.
func (s *sender) post(ctx context.Context, d *delivery) attempt {
	a := attempt{d: d}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(d.body))
	if err != nil {
		a.err = err
		return a
	}
	for k, v := range s.signer.Header(s.scheme, d.id, time.Now().Add(s.skew), d.body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "geminihook-send")
	resp, err := s.client.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	a.status = resp.StatusCode
	a.answer = strings.TrimSpace(string(b))
	if resp.StatusCode == http.StatusOK {
		var ans struct{ Status string }
		if json.Unmarshal(b, &ans) == nil && ans.Status != "" {
			a.answer = ans.Status
		}
	}
	return a
}

func (s *sender) printAttempt(a attempt) {
	what := ""
	switch {
	case a.err != nil:
		what = "error: " + a.err.Error()
	default:
		what = fmt.Sprintf("%d %s", a.status, a.answer)
	}
	fmt.Fprintf(s.out, "%-28s %s %-4s → %s\n", a.d.typ, a.d.id, s.scheme, what)
}

// summarize prints the histogram (when there was more than one attempt)
// and decides the outcome.
func (s *sender) summarize(ctx context.Context, ds []delivery, results [][]attempt) error {
	total := 0
	hist := map[string]int{}
	var failed []string
	unreachable := false
	for i, as := range results {
		total += len(as)
		ok, bad := 0, 0
		for _, a := range as {
			hist[a.label()]++
			switch {
			case a.err != nil:
				bad++
				unreachable = unreachable || localnet.IsRefused(a.err)
			case a.status >= 200 && a.status < 300:
				ok++
			case a.status != http.StatusConflict:
				bad++
			}
		}
		if ok == 0 || bad > 0 {
			failed = append(failed, ds[i].id)
		}
	}
	if total > 1 {
		labels := make([]string, 0, len(hist))
		for l := range hist {
			labels = append(labels, l)
		}
		slices.Sort(labels)
		parts := make([]string, len(labels))
		for i, l := range labels {
			parts[i] = fmt.Sprintf("%d × %s", hist[l], l)
		}
		fmt.Fprintf(s.out, "summary: %s, %s: %s\n", plural(len(ds), "delivery", "deliveries"), plural(total, "attempt", "attempts"), strings.Join(parts, ", "))
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted after %d attempts", total)
	case unreachable:
		return fmt.Errorf("%w: nothing answers at %s: start 'geminihook serve' (or pass the receiver's address with --url)", errUnreachable, s.url)
	case len(failed) > 0:
		fmt.Fprintf(s.out, "failed: %d of %s got no 2xx answer, or an answer other than 2xx and 409 (see above; the receiver's log says why)\n", len(failed), plural(len(ds), "delivery", "deliveries"))
		return errFailed
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// samples are the data builders of the nine documented types (the event
// catalog of Gemini's webhooks guide), in its order: the one list of them
// in this command. job is a fresh random suffix.
var samples = []struct {
	typ  string
	data func(job string) map[string]any
}{
	{events.TypeBatchSucceeded, func(j string) map[string]any {
		return map[string]any{"id": "batches/" + j, "output_file_uri": "gs://geminihook-local/batches/" + j + "/results.jsonl"}
	}},
	{events.TypeBatchFailed, func(j string) map[string]any {
		return map[string]any{"id": "batches/" + j, "error_code": "RESOURCE_EXHAUSTED", "error_message": "Quota exceeded for batch jobs"}
	}},
	{events.TypeBatchExpired, func(j string) map[string]any { return map[string]any{"id": "batches/" + j} }},
	{events.TypeBatchCancelled, func(j string) map[string]any { return map[string]any{"id": "batches/" + j} }},
	{events.TypeInteractionRequiresAction, func(j string) map[string]any { return map[string]any{"id": "v1_" + j} }},
	{events.TypeInteractionCompleted, func(j string) map[string]any { return map[string]any{"id": "v1_" + j} }},
	{events.TypeInteractionFailed, func(j string) map[string]any {
		return map[string]any{"id": "v1_" + j, "error_code": 13, "error_message": "Internal error while running the interaction"}
	}},
	{events.TypeInteractionCancelled, func(j string) map[string]any { return map[string]any{"id": "v1_" + j} }},
	{events.TypeVideoGenerated, func(j string) map[string]any {
		return map[string]any{
			"id":              "models/veo-3.0-generate-001/operations/" + j,
			"output_file_uri": "https://generativelanguage.googleapis.com/v1beta/files/" + j + ":download?alt=media",
			"file_name":       "files/" + j,
		}
	}},
}

// envelope is Gemini's thin webhook body, fields in Gemini's order.
type envelope struct {
	Type      string         `json:"type"`
	Version   string         `json:"version"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// sampleBody returns a realistic body of type typ at time now, with a
// fresh job id and user_metadata naming the sender. An undocumented type
// gets data with an id only.
func sampleBody(typ string, now time.Time) []byte {
	job := rand.Text()
	data := map[string]any{"id": "jobs/" + job}
	for _, s := range samples {
		if s.typ == typ {
			data = s.data(job)
		}
	}
	data["user_metadata"] = map[string]any{"sent_by": "geminihook send"}
	b, err := json.Marshal(envelope{Type: typ, Version: "v1", Timestamp: now.UTC().Format(time.RFC3339), Data: data})
	if err != nil {
		panic("geminihook send: " + err.Error()) // strings and maps of strings and ints cannot fail
	}
	return b
}
