package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/geminihook/geminihook/internal/gemini"
)

const createAbout = `
Registers a webhook with Gemini (POST /v1beta/webhooks) and stores the
signing secret that Gemini returns, once, as a new version of the Secret
Manager secret --secret: the function verifies with every enabled version,
so it accepts the webhook's deliveries from the next verification miss on,
with no redeploy.

Before asking Gemini, it checks that --secret exists and can be listed, so
that a secret is never issued with nowhere to keep it. The secret is not
printed (--print-secret prints it, for a receiver outside this project);
the output is the webhook's id and state, and the Secret Manager version.

--uri is the function's URL (project deliveries are accepted at its root).
With --function instead, the URL is read from the Cloud Functions API
(ServiceConfig.Uri of the deployed 2nd gen function).`

const createExamples = `  geminihook webhooks create --uri https://europe-west1-my-project.cloudfunctions.net/geminihook \
      --events batch.succeeded,batch.failed,batch.expired,video.generated \
      --secret projects/my-project/secrets/geminihook-signing-secret
  geminihook webhooks create --function geminihook --region europe-west1 --project my-project \
      --events interaction.completed,interaction.failed,interaction.requires_action \
      --secret geminihook-signing-secret --name interactions`

func runWebhooksCreate(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks create", "(--uri URL | --function NAME) --events TYPES --secret SECRET [--name NAME]", createAbout, createExamples, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	uri := fs.String("uri", "", "`URL` Gemini delivers to: the function's URL (or give --function)")
	function := fs.String("function", "", "deployed Cloud Function (2nd gen) whose URL is the --uri: projects/P/locations/REGION/functions/NAME, or `NAME` with --project and --region")
	region := fs.String("region", "", "`region` of --function NAME")
	functionsAddr := fs.String("functions-addr", "", "`host:port` of a loopback Cloud Functions server without TLS or credentials (tests)")
	var events eventList
	fs.Var(&events, "events", eventsHelp)
	name := fs.String("name", "", "display `name` of the webhook")
	secret := fs.String("secret", "", "Secret Manager `secret` that the function verifies with (id with --project, or projects/P/secrets/S); the signing secret is added to it as a new version")
	printSecret := fs.Bool("print-secret", false, "also print the signing secret (Gemini shows it only once)")
	if err := noArgs(fs, args, e); err != nil {
		return err
	}
	switch {
	case *uri != "" && *function != "":
		return badUsage("--uri and --function both given: pick one")
	case *uri == "" && *function == "":
		return badUsage("no --uri: give the function's URL, or --function to read it from Cloud Functions")
	case len(events) == 0:
		return badUsage("no --events: name the event types to subscribe to, e.g. --events batch.succeeded,batch.failed")
	case *secret == "":
		return badUsage("no --secret: name the Secret Manager secret the function verifies with (GEMINIHOOK_SECRET), e.g. --secret geminihook-signing-secret")
	}
	if *functionsAddr != "" {
		if err := checkLoopbackAddr("--functions-addr", *functionsAddr); err != nil {
			return err
		}
	}
	if *uri != "" {
		if err := checkWebhookURI(*uri); err != nil {
			return err
		}
	}
	secretFull, err := secretName("--secret", *secret, a.projectOr(e))
	if err != nil {
		return err
	}
	ctx, s, done, err := a.start(ctx, e, true)
	if err != nil {
		return err
	}
	defer done()
	if *function != "" {
		if *uri, err = functionURI(ctx, *function, a.projectOr(e), *region, *functionsAddr); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "geminihook webhooks create: --function %s is at %s\n", *function, *uri)
	}
	if err := s.sm.check(ctx, secretFull); err != nil {
		return err
	}

	h, err := s.client.Create(ctx, gemini.Webhook{Name: *name, URI: *uri, SubscribedEvents: events})
	if err != nil {
		return apiError(err, &a)
	}
	sec := h.NewSigningSecret
	if sec == "" {
		return fmt.Errorf("created webhook %s, but Gemini's answer has no new_signing_secret: run 'geminihook webhooks rotate %s --secret %s --immediately%s' to issue one and store it",
			h.ID, h.ID, shellQuote(*secret), a.echo())
	}
	// The secret is stored before anything else can fail: Gemini will not
	// show it again. Its own deadline, in case the command's is spent.
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	version, addErr := s.sm.add(actx, secretFull, sec.Reveal())
	acancel()
	if *printSecret {
		fmt.Fprintf(e.stdout, "signing secret (Gemini shows it only once): %s\n", sec.Reveal())
	}
	if addErr != nil {
		return fmt.Errorf("created webhook %s, but storing its signing secret failed: %v. "+
			"The function cannot verify its deliveries: fix the access, then run 'geminihook webhooks rotate %s --secret %s --immediately%s' (a new secret, stored), or delete the webhook",
			h.ID, addErr, h.ID, shellQuote(*secret), a.echo())
	}
	fmt.Fprintf(e.stdout, "created webhook %s (state %s)\n", h.ID, h.State)
	fmt.Fprintf(e.stdout, "  uri:     %s\n", h.URI)
	fmt.Fprintf(e.stdout, "  events:  %s\n", strings.Join(h.SubscribedEvents, ", "))
	fmt.Fprintf(e.stdout, "  secret:  stored as %s (every enabled version verifies at the function)\n", version)
	fmt.Fprintf(e.stdout, "Check a delivery end to end:\n  geminihook webhooks ping %s --wait%s\n", h.ID, a.echo())
	return nil
}

// checkWebhookURI accepts an absolute https URL (http for loopback, where
// only a local fake can deliver).
func checkWebhookURI(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return badUsage("--uri %q: want the function's absolute https URL", v)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return badUsage("--uri %q: Gemini delivers over https only", v)
	}
	return nil
}

func checkLoopbackAddr(flagName, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopback(host) {
		return badUsage("%s %q: want a loopback host:port (it is reached without TLS)", flagName, addr)
	}
	return nil
}
