package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The secrets, per-request webhooks and the function's preconditions.

// Both secrets are protected from deletion by the provider's
// deletion_protection, on by default.
func TestSecretsHaveDeletionProtection(t *testing.T) {
	m := mustLoad(t)
	n := 0
	for _, addr := range sortedKeys(m.resources) {
		if !strings.HasPrefix(addr, "google_secret_manager_secret.") {
			continue
		}
		n++
		a := m.resources[addr].Body.Attributes["deletion_protection"]
		if a == nil {
			t.Errorf("%s has no deletion_protection", addr)
			continue
		}
		if v := evalWith(t, m, a.Expr, nil, nil); !v.True() {
			t.Errorf("%s: deletion_protection is %#v by default, want true", addr, v)
		}
	}
	if n < 2 {
		t.Errorf("%d secrets, want the signing secret and the route tokens", n)
	}
}

// The route tokens secret exists exactly when per_request_webhooks, holds
// no version, and the function gets on it the very roles it gets on the
// signing secret (read every enabled version), on nothing else.
func TestRouteTokensSecret(t *testing.T) {
	m := mustLoad(t)
	count := func(addr string, overrides map[string]cty.Value) int64 {
		a := mustResource(t, m, addr).Attributes["count"]
		if a == nil {
			t.Fatalf("%s has no count", addr)
		}
		return mustInt(t, evalWith(t, m, a.Expr, overrides, nil))
	}
	on := map[string]cty.Value{"per_request_webhooks": cty.True}
	if count("google_secret_manager_secret.route_tokens", nil) != 0 || count("google_secret_manager_secret.route_tokens", on) != 1 {
		t.Error("google_secret_manager_secret.route_tokens does not follow per_request_webhooks")
	}

	roles := map[string][]string{} // secret resource name -> roles granted to the function
	for _, addr := range sortedKeys(m.resources) {
		if !strings.HasPrefix(addr, "google_secret_manager_secret_iam_member.") || addr == "google_secret_manager_secret_iam_member.watch_api_key" {
			continue // the watcher's grant on the API key: TestWatcherIdentities
		}
		b := m.resources[addr].Body
		role, _ := literalString(b.Attributes["role"])
		if !refersTo(b.Attributes["member"].Expr, "local", "function_member") {
			t.Errorf("%s is not for the function's service account", addr)
		}
		for _, secret := range []string{"signing", "route_tokens"} {
			if refersTo(b.Attributes["secret_id"].Expr, "google_secret_manager_secret", secret) {
				roles[secret] = append(roles[secret], role)
				if secret == "route_tokens" && (count(addr, nil) != 0 || count(addr, on) != 1) {
					t.Errorf("%s does not follow per_request_webhooks", addr)
				}
			}
		}
	}
	slices.Sort(roles["signing"])
	slices.Sort(roles["route_tokens"])
	if want := []string{"roles/secretmanager.secretAccessor", "roles/secretmanager.viewer"}; !slices.Equal(roles["signing"], want) || !slices.Equal(roles["route_tokens"], want) {
		t.Errorf("the function's roles: on the signing secret %q, on the route tokens %q; want %q on each", roles["signing"], roles["route_tokens"], want)
	}

	// The per-request URL template: the function URL, /r/ and the token
	// elided; no URL when per-request webhooks are off.
	out := m.outputs["per_request_webhook_url"]
	if out == nil {
		t.Fatal("no per_request_webhook_url output")
	}
	url := map[string]cty.Value{"google_cloudfunctions2_function": cty.ObjectVal(map[string]cty.Value{
		"webhook": cty.ObjectVal(map[string]cty.Value{"url": cty.StringVal("https://example.invalid/geminihook")}),
	})}
	if v := evalWith(t, m, out.Body.Attributes["value"].Expr, on, url); v.IsNull() || v.AsString() != "https://example.invalid/geminihook/r/<ROUTE_TOKEN>" {
		t.Errorf("per_request_webhook_url = %#v, want https://example.invalid/geminihook/r/<ROUTE_TOKEN>", v)
	}
	if v := evalWith(t, m, out.Body.Attributes["value"].Expr, nil, url); !v.IsNull() {
		t.Errorf("per_request_webhook_url = %#v with per_request_webhooks false, want null", v)
	}
}

// ------------------------------------------------------------ preconditions ---

func TestFunctionPreconditions(t *testing.T) {
	m := mustLoad(t)
	const fn = "google_cloudfunctions2_function.webhook"
	for _, tt := range []struct {
		name      string
		overrides map[string]cty.Value
		fail      bool
	}{
		{"defaults", nil, false},
		{"per-request only", map[string]cty.Value{"hmac_enabled": cty.False, "per_request_webhooks": cty.True}, false},
		{"both schemes", map[string]cty.Value{"per_request_webhooks": cty.True}, false},
		{"nothing could verify", map[string]cty.Value{"hmac_enabled": cty.False}, true},
		{"per-request without JWKS", map[string]cty.Value{"per_request_webhooks": cty.True, "jwks_url": cty.StringVal("off")}, true},
		{"lease within the request", map[string]cty.Value{"lease_seconds": cty.NumberIntVal(8)}, true},
	} {
		failing := failingPreconditions(t, m, fn, tt.overrides)
		if (len(failing) > 0) != tt.fail {
			t.Errorf("%s: failing preconditions %q, want failure: %v", tt.name, failing, tt.fail)
		}
	}
}
