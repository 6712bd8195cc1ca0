package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/geminihook/geminihook/internal/gemini"
	"github.com/geminihook/geminihook/internal/route"
)

// RoutePlaceholder stands for the route token in config's output unless
// --print-token is given.
const RoutePlaceholder = "<ROUTE_TOKEN>"

const configAbout = `
Prints, as Markdown, how to ask Gemini for a per-request webhook: the
webhook_config of a batch job, an interaction and a Veo video job, each as
the REST request body and as Python (google-genai) code.

A per-request delivery is signed with Google's keys, which every Gemini
customer shares, so the function accepts one only at its route-token URL,
<function URL>/r/<route token>, with a token only you know (the
GEMINIHOOK_ROUTE_TOKENS secret; locally 'geminihook keys --out DIR' writes
DIR/route-token.txt). The token is printed only with --print-token;
otherwise the text says <ROUTE_TOKEN> and how to fill it in, and the Python
code reads the token from --route-token-file (or $GEMINIHOOK_ROUTE_TOKEN).

The shapes: an interaction takes a top-level webhook_config and needs
"background": true; a batch takes batch.webhookConfig; a Veo
predictLongRunning request takes a top-level webhookConfig. Each is
{uris: [URL], user_metadata: {…}}; Gemini echoes user_metadata in the event
(the published event's user_metadata), for correlation. No API call is made.`

const configExamples = `  geminihook webhooks config --url https://europe-west1-my-project.cloudfunctions.net/geminihook --route-token-file keys/route-token.txt
  geminihook webhooks config --url http://127.0.0.1:8080 --route-token-file keys/route-token.txt --print-token --metadata job=nightly-42
  geminihook webhooks config --url https://europe-west1-my-project.cloudfunctions.net/geminihook | sed "s|<ROUTE_TOKEN>|$(cat keys/route-token.txt)|g"`

func runWebhooksConfig(_ context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks config", "--url FUNCTION_URL [--route-token-file F [--print-token]] [--metadata K=V]...", configAbout, configExamples, e)
	funcURL := fs.String("url", "", "the function's `URL` (as 'geminihook webhooks create' registers it)")
	tokenFile := fs.String("route-token-file", "", "`file` holding a route token of the function (geminihook keys writes route-token.txt)")
	printToken := fs.Bool("print-token", false, "write the route token itself into the output, instead of "+RoutePlaceholder)
	var metadata stringList
	fs.Var(&metadata, "metadata", "user_metadata `key=value` that Gemini echoes in the event, repeatable (default request_id=my-request-1)")
	if err := noArgs(fs, args, e); err != nil {
		return err
	}
	if *funcURL == "" {
		return badUsage("no --url: give the function's URL")
	}
	u, err := url.Parse(*funcURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return badUsage("--url %q: want the function's absolute https URL", *funcURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return badUsage("--url %q: Gemini delivers over https only", *funcURL)
	}
	base := strings.TrimSuffix(*funcURL, "/")
	token := ""
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return badUsage("--route-token-file: %v (make one with geminihook keys)", err)
		}
		if _, err := route.ParseToken(string(b)); err != nil {
			return badUsage("--route-token-file %s: %v", *tokenFile, err)
		}
		token = strings.TrimSpace(string(b))
	}
	if *printToken && token == "" {
		return badUsage("--print-token needs --route-token-file")
	}
	meta := map[string]string{}
	for _, kv := range metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return badUsage("--metadata %q: want key=value", kv)
		}
		meta[k] = v
	}
	if len(meta) == 0 {
		meta["request_id"] = "my-request-1"
	}
	c := webhookConfigText{base: base, tokenFile: *tokenFile, meta: meta}
	if *printToken {
		c.token = token
	}
	c.write(e.stdout)
	return nil
}

// webhookConfigText writes config's output.
type webhookConfigText struct {
	base      string // function URL without the trailing slash
	token     string // "" for the placeholder
	tokenFile string
	meta      map[string]string
}

func (c webhookConfigText) hookURL() string {
	t := c.token
	if t == "" {
		t = RoutePlaceholder
	}
	return c.base + route.Prefix + t
}

// jsonText is v as indented JSON, with <, > and & as they are.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v) // maps of strings and structs: cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

type configCamel struct {
	URIs         []string          `json:"uris"`
	UserMetadata map[string]string `json:"userMetadata,omitempty"`
}

type configSnake struct {
	URIs         []string          `json:"uris"`
	UserMetadata map[string]string `json:"user_metadata,omitempty"`
}

// pyDict is m as a Python dict literal.
func pyDict(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strconv.Quote(k) + ": " + strconv.Quote(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Models of the examples.
const (
	exampleModel      = "gemini-2.5-flash"
	exampleVideoModel = "veo-3.0-generate-001"
)

func (c webhookConfigText) write(w io.Writer) {
	hook := c.hookURL()
	api := gemini.DefaultBaseURL + "/" + gemini.APIVersion
	fmt.Fprintf(w, "# Per-request webhooks for %s\n\n", c.base)
	fmt.Fprintf(w, "Gemini delivers the job's event to the route-token URL of the function:\n\n    %s\n\n", hook)
	switch {
	case c.token != "":
		fmt.Fprintf(w, "It holds the route token: keep this text private, as the token itself.\n\n")
	case c.tokenFile != "":
		fmt.Fprintf(w, "%s stands for the route token in %s, not printed here. To fill it in:\n\n", RoutePlaceholder, c.tokenFile)
		fmt.Fprintf(w, "    geminihook webhooks config --url %s --route-token-file %s --print-token\n\n", shellQuote(c.base), shellQuote(c.tokenFile))
		fmt.Fprintf(w, "or pipe this text through: sed \"s|%s|$(cat %s)|g\"\n\n", RoutePlaceholder, shellQuote(c.tokenFile))
	default:
		fmt.Fprintf(w, "%s stands for a route token of the function: a version of its GEMINIHOOK_ROUTE_TOKENS secret\n", RoutePlaceholder)
		fmt.Fprintf(w, "(gcloud secrets versions access latest --secret SECRET), or, locally, the route-token.txt that\n")
		fmt.Fprintf(w, "'geminihook keys --out DIR' writes. Put it in a file and fill it in:\n\n")
		fmt.Fprintf(w, "    geminihook webhooks config --url %s --route-token-file FILE --print-token\n\n", shellQuote(c.base))
	}
	fmt.Fprintf(w, "The function accepts per-request deliveries (signed v1a or JWT with Google's keys) only with\n"+
		"GEMINIHOOK_ROUTE_TOKENS and GEMINIHOOK_JWKS_URL set, JWT ones also with GEMINIHOOK_JWT_AUDIENCE.\n\n")

	py := c.pythonPrelude()

	// Batch: batch.webhookConfig.
	batch := map[string]any{"batch": struct {
		DisplayName   string            `json:"displayName"`
		InputConfig   map[string]string `json:"inputConfig"`
		WebhookConfig configCamel       `json:"webhookConfig"`
	}{"my-batch", map[string]string{"fileName": "files/my-batch-input"}, configCamel{[]string{hook}, c.meta}}}
	fmt.Fprintf(w, "## Batch job\n\nREST: POST %s/models/%s:batchGenerateContent\n\n```json\n%s\n```\n\n", api, exampleModel, jsonText(batch))
	fmt.Fprintf(w, "Python (google-genai):\n\n```python\n%sbatch = client.batches.create(\n    model=%q,\n    src=\"files/my-batch-input\",\n"+
		"    config={\n        \"display_name\": \"my-batch\",\n        \"webhook_config\": {\"uris\": [webhook_url], \"user_metadata\": %s},\n    },\n)\n```\n\n",
		py, exampleModel, pyDict(c.meta))

	// Interaction: top-level webhook_config, background: true.
	interaction := struct {
		Model         string      `json:"model"`
		Input         string      `json:"input"`
		Background    bool        `json:"background"`
		WebhookConfig configSnake `json:"webhook_config"`
	}{exampleModel, "Summarize the attached report.", true, configSnake{[]string{hook}, c.meta}}
	fmt.Fprintf(w, "## Interaction\n\nREST: POST %s/interactions\n\n```json\n%s\n```\n\n", api, jsonText(interaction))
	fmt.Fprintf(w, "Python (google-genai):\n\n```python\n%sinteraction = client.interactions.create(\n    model=%q,\n    input=\"Summarize the attached report.\",\n"+
		"    background=True,\n    webhook_config={\"uris\": [webhook_url], \"user_metadata\": %s},\n)\n```\n\n",
		py, exampleModel, pyDict(c.meta))

	// Veo: top-level webhookConfig of predictLongRunning.
	video := struct {
		Instances     []map[string]string `json:"instances"`
		WebhookConfig configCamel         `json:"webhookConfig"`
	}{[]map[string]string{{"prompt": "A lighthouse at dawn, waves rolling in."}}, configCamel{[]string{hook}, c.meta}}
	fmt.Fprintf(w, "## Veo video\n\nREST: POST %s/models/%s:predictLongRunning\n\n```json\n%s\n```\n\n", api, exampleVideoModel, jsonText(video))
	fmt.Fprintf(w, "Python (google-genai):\n\n```python\n%soperation = client.models.generate_videos(\n    model=%q,\n    prompt=\"A lighthouse at dawn, waves rolling in.\",\n"+
		"    config={\"webhook_config\": {\"uris\": [webhook_url], \"user_metadata\": %s}},\n)\n```\n",
		py, exampleVideoModel, pyDict(c.meta))
}

// pythonPrelude makes the client and webhook_url: the token literal only
// when it is printed, else read from the token file or the environment.
func (c webhookConfigText) pythonPrelude() string {
	var b strings.Builder
	switch {
	case c.token != "":
		fmt.Fprintf(&b, "from google import genai\n\nclient = genai.Client()\nwebhook_url = %q\n", c.hookURL())
	case c.tokenFile != "":
		fmt.Fprintf(&b, "import pathlib\n\nfrom google import genai\n\nclient = genai.Client()\nwebhook_url = %q + pathlib.Path(%q).read_text().strip()\n", c.base+route.Prefix, c.tokenFile)
	default:
		fmt.Fprintf(&b, "import os\n\nfrom google import genai\n\nclient = genai.Client()\nwebhook_url = %q + os.environ[\"GEMINIHOOK_ROUTE_TOKEN\"]\n", c.base+route.Prefix)
	}
	return b.String()
}
