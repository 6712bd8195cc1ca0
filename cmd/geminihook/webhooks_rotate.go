package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/geminihook/geminihook/internal/gemini"
)

const rotateAbout = `
Rotates a webhook's signing secret without refusing a delivery:

 1. rotate ID --secret S: Gemini issues a new secret (:rotateSigningSecret)
    and it is added as a new version of S before the command returns. The
    function verifies with every enabled version and reloads them on a
    verification miss, so it accepts deliveries signed with the new secret
    from then on. Gemini signs with both secrets until the old one expires,
    24 hours later (printed), or, with --immediately, with the new one only
    at once: use that when the old secret leaked. (Then a delivery that
    comes within the function's reload cooldown, 30 s after its last
    reload, may be refused once; Gemini retries it.)

 2. rotate --finish ID --secret S, after the old secret expired: disables
    the versions of S whose secret no webhook signs with any more. A
    version is matched to Gemini's secrets through their truncated display
    form (signing_secrets[].truncated_secret: the visible characters must
    match the version's secret). It disables nothing while an old secret is
    still valid, when no version holds the webhook's current secret, or
    when that would disable the newest version; a version still in use by
    another webhook is kept. --dry-run shows what it would do.

The new secret is never printed unless --print-secret is given.`

const rotateExamples = `  geminihook webhooks rotate 8f1c2d3e4b5a6978 --secret projects/my-project/secrets/geminihook-signing-secret
  geminihook webhooks rotate --finish 8f1c2d3e4b5a6978 --secret projects/my-project/secrets/geminihook-signing-secret   # 24 h later
  geminihook webhooks rotate 8f1c2d3e4b5a6978 --secret geminihook-signing-secret --project my-project --immediately   # the old one leaked
  geminihook webhooks rotate --finish 8f1c2d3e4b5a6978 --secret geminihook-signing-secret --project my-project --dry-run`

func runWebhooksRotate(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("webhooks rotate", "ID --secret SECRET [--immediately] | --finish ID --secret SECRET [--dry-run]", rotateAbout, rotateExamples, e)
	var a apiFlags
	a.register(fs, 2*time.Minute)
	secret := fs.String("secret", "", "Secret Manager `secret` the function verifies with (id with --project, or projects/P/secrets/S)")
	immediately := fs.Bool("immediately", false, "revoke the previous secrets now (revoke_previous_secrets_immediately) instead of after 24 h")
	finish := fs.Bool("finish", false, "disable the versions of --secret whose Gemini secret has expired")
	dryRun := fs.Bool("dry-run", false, "with --finish: print what would be disabled, disable nothing")
	printSecret := fs.Bool("print-secret", false, "also print the new signing secret")
	id, err := oneID(fs, args, e)
	if err != nil {
		return err
	}
	switch {
	case *secret == "":
		return badUsage("no --secret: name the Secret Manager secret the function verifies with (GEMINIHOOK_SECRET)")
	case *finish && (*immediately || *printSecret):
		return badUsage("--finish rotates nothing: drop --immediately and --print-secret")
	case *dryRun && !*finish:
		return badUsage("--dry-run goes with --finish")
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
	if *finish {
		return finishRotation(ctx, s, id, secretFull, *dryRun, e)
	}

	if err := s.sm.check(ctx, secretFull); err != nil {
		return err
	}
	if _, err := s.client.Get(ctx, id); err != nil {
		return apiError(err, &a)
	}
	behavior := gemini.RevokeAfter24h
	if *immediately {
		behavior = gemini.RevokeImmediately
	}
	sec, err := s.client.RotateSigningSecret(ctx, id, behavior)
	if err != nil {
		err = apiError(err, &a)
		if errors.Is(err, errUnreachable) || strings.Contains(err.Error(), "HTTP 5") {
			err = fmt.Errorf("%w; the rotation may have happened: 'geminihook webhooks get %s%s' shows the webhook's secrets", err, id, a.echo())
		}
		return err
	}
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	version, addErr := s.sm.add(actx, secretFull, sec.Reveal())
	acancel()
	if *printSecret {
		fmt.Fprintf(e.stdout, "new signing secret: %s\n", sec.Reveal())
	}
	if addErr != nil {
		consequence := "the previous secret keeps working for 24 hours"
		if *immediately {
			consequence = "the previous secret no longer works, so the function refuses the webhook's deliveries (Gemini retries them)"
		}
		return fmt.Errorf("the new signing secret that Gemini issued for webhook %s could not be stored: %v; %s: fix the access and run this command again (it issues another secret and stores it)",
			id, addErr, consequence)
	}
	fmt.Fprintf(e.stdout, "rotated the signing secret of webhook %s (%s)\n", id, behavior)
	fmt.Fprintf(e.stdout, "  new secret stored as %s: the function accepts it from its next verification miss\n", version)

	h, err := s.client.Get(ctx, id)
	if err != nil {
		fmt.Fprintf(e.stderr, "geminihook webhooks rotate: the rotation is done, but reading the webhook back failed: %v\n", apiError(err, &a))
		return nil
	}
	now := s.client.Now()
	newest := h.NewestSecret()
	last := time.Time{}
	for i, sec := range h.SigningSecrets {
		if i == newest {
			continue
		}
		t, ok := sec.Expires()
		switch {
		case !ok:
			fmt.Fprintf(e.stdout, "  old secret %s: no expire time given\n", sec.TruncatedSecret)
		case !t.After(now):
			fmt.Fprintf(e.stdout, "  old secret %s expired at %s\n", sec.TruncatedSecret, t.UTC().Format(time.RFC3339))
		default:
			fmt.Fprintf(e.stdout, "  old secret %s expires at %s (in %v); Gemini signs with both until then\n",
				sec.TruncatedSecret, t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Minute))
			if t.After(last) {
				last = t
			}
		}
	}
	finishCmd := fmt.Sprintf("geminihook webhooks rotate --finish %s --secret %s%s", id, shellQuote(*secret), a.echo())
	if last.IsZero() {
		fmt.Fprintf(e.stdout, "Disable the old versions now:\n  %s\n", finishCmd)
	} else {
		fmt.Fprintf(e.stdout, "After %s, disable the old versions:\n  %s\n", last.UTC().Format(time.RFC3339), finishCmd)
	}
	return nil
}

// finishStep is one version and what becomes of it.
type finishStep struct {
	version string
	reason  string
}

// finishPlan is what --finish does to the enabled versions of a secret.
type finishPlan struct {
	disable, keep []finishStep
	// wait is the latest expiry of an old secret of the webhook that is
	// still valid: --finish again after it (zero when none).
	wait time.Time
}

type knownSecret struct {
	webhook string
	form    string
	t       gemini.Truncated
	expires time.Time // zero: none
	newest  bool
}

// planFinish decides which enabled versions (newest first) of the secret
// of webhook target can be disabled: those that hold no secret any
// webhook (all) still signs with. It refuses (error) when the forms
// cannot be matched, when no version holds target's current secret, or
// when the newest version would be disabled.
func planFinish(target gemini.Webhook, all []gemini.Webhook, versions []storedVersion, now time.Time) (finishPlan, error) {
	var p finishPlan
	hooks := []gemini.Webhook{target}
	for _, w := range all {
		if w.ID != target.ID {
			hooks = append(hooks, w)
		}
	}
	var valid, expired []knownSecret
	for _, w := range hooks {
		newest := w.NewestSecret()
		for i, s := range w.SigningSecrets {
			t, err := gemini.ParseTruncated(s.TruncatedSecret)
			if err != nil {
				return p, fmt.Errorf("webhook %s: secret %q: %v: cannot tell the versions apart, disabling nothing", w.ID, s.TruncatedSecret, err)
			}
			exp, _ := s.Expires()
			k := knownSecret{webhook: w.ID, form: s.TruncatedSecret, t: t, expires: exp, newest: i == newest}
			if s.Expired(now) {
				expired = append(expired, k)
			} else {
				valid = append(valid, k)
			}
		}
	}
	tn := target.NewestSecret()
	switch {
	case tn < 0:
		return p, fmt.Errorf("webhook %s lists no signing secret: disabling nothing", target.ID)
	case target.SigningSecrets[tn].Expired(now):
		return p, fmt.Errorf("the newest secret of webhook %s expired too: rotate it first ('geminihook webhooks rotate %s')", target.ID, target.ID)
	}
	for _, k := range valid {
		if k.webhook == target.ID && !k.newest && !k.expires.IsZero() && k.expires.After(p.wait) {
			p.wait = k.expires
		}
	}
	current := false
	var newestGoes *finishStep
	for i, v := range versions {
		if !strings.HasPrefix(v.payload, "whsec_") {
			p.keep = append(p.keep, finishStep{v.name, "not a whsec_ signing secret: left alone"})
			continue
		}
		var keep string
		for _, k := range valid {
			if !k.t.Match(v.payload) {
				continue
			}
			switch {
			case k.webhook == target.ID && k.newest:
				keep, current = "holds the current secret "+k.form+" of webhook "+k.webhook, true
			case keep != "":
			case k.webhook == target.ID && !k.expires.IsZero():
				keep = fmt.Sprintf("holds the old secret %s of webhook %s, valid until %s", k.form, k.webhook, k.expires.UTC().Format(time.RFC3339))
			case k.webhook == target.ID:
				keep = "holds the secret " + k.form + " of webhook " + k.webhook + " (no expire time)"
			default:
				keep = "holds the secret " + k.form + " of another webhook, " + k.webhook
			}
		}
		if keep != "" {
			p.keep = append(p.keep, finishStep{v.name, keep})
			continue
		}
		reason := "no webhook signs with its secret"
		for _, k := range expired {
			if k.t.Match(v.payload) {
				reason = fmt.Sprintf("its secret %s of webhook %s expired at %s", k.form, k.webhook, k.expires.UTC().Format(time.RFC3339))
				break
			}
		}
		if i == 0 {
			newestGoes = &finishStep{v.name, reason}
		}
		p.disable = append(p.disable, finishStep{v.name, reason})
	}
	switch {
	case !current:
		return finishPlan{}, fmt.Errorf("no enabled version of the secret holds the current secret %s of webhook %s, so the function could not verify its deliveries: disabling nothing. Store a new one with 'geminihook webhooks rotate %s --immediately'",
			target.SigningSecrets[tn].TruncatedSecret, target.ID, target.ID)
	case newestGoes != nil:
		return finishPlan{}, fmt.Errorf("refusing to disable %s, the newest version (%s): disabling nothing. Was it added by hand? Disable it yourself if it is not needed",
			newestGoes.version, newestGoes.reason)
	}
	return p, nil
}

// finishRotation applies planFinish.
func finishRotation(ctx context.Context, s *session, id, secret string, dryRun bool, e env) error {
	target, err := s.client.Get(ctx, id)
	if err != nil {
		return apiError(err, s.flags)
	}
	all, err := s.client.List(ctx, gemini.MaxPageSize)
	if err != nil {
		return apiError(err, s.flags)
	}
	versions, err := s.sm.enabled(ctx, secret)
	if err != nil {
		return err
	}
	p, err := planFinish(*target, all, versions, s.client.Now())
	if err != nil {
		return err
	}
	for _, st := range p.keep {
		fmt.Fprintf(e.stdout, "keep %s: %s\n", st.version, st.reason)
	}
	verb := "disable"
	if dryRun {
		verb = "would disable"
	}
	for _, st := range p.disable {
		if !dryRun {
			if err := s.sm.disable(ctx, st.version); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "%s %s: %s\n", verb, st.version, st.reason)
	}
	switch {
	case len(p.disable) == 0 && !p.wait.IsZero():
		fmt.Fprintf(e.stdout, "nothing to disable yet: an old secret is valid until %s; run --finish again after that\n", p.wait.UTC().Format(time.RFC3339))
	case len(p.disable) == 0:
		fmt.Fprintln(e.stdout, "nothing to disable: every enabled version holds a secret in use")
	case !p.wait.IsZero():
		fmt.Fprintf(e.stdout, "an old secret is valid until %s; run --finish again after that\n", p.wait.UTC().Format(time.RFC3339))
	}
	return nil
}
