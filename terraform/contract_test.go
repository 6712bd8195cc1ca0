package terraform_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
)

// The function's settings in Terraform against the Go code that reads them.

func TestEntryPoint(t *testing.T) {
	m := mustLoad(t)
	build := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "build_config")
	if got, _ := literalString(build.Attributes["entry_point"]); got != geminihook.EntryPoint {
		t.Errorf("entry_point = %q, want geminihook.EntryPoint %q", got, geminihook.EntryPoint)
	}
}

// environmentKeys lists every key the function's environment_variables can
// hold, from the syntax: local.environment merges object constructors
// (always set) and for expressions that filter an object constructor by a
// condition (set only when it holds; the values are {set, value} objects).
func environmentKeys(t *testing.T, m *module) (always, optional map[string]hclsyntax.Expression) {
	t.Helper()
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	if sc == nil || sc.Attributes["environment_variables"] == nil {
		t.Fatal("the function sets no service_config.environment_variables")
	}
	expr := m.resolveLocal(sc.Attributes["environment_variables"].Expr)
	parts := []hclsyntax.Expression{expr}
	if call, ok := expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "merge" {
		parts = call.Args
	}
	always, optional = map[string]hclsyntax.Expression{}, map[string]hclsyntax.Expression{}
	for _, part := range parts {
		into := always
		part = m.resolveLocal(part)
		if f, ok := part.(*hclsyntax.ForExpr); ok {
			if f.CondExpr == nil {
				t.Fatalf("%s: a for expression without if: read it as always set, or add a condition", f.Range())
			}
			into, part = optional, m.resolveLocal(f.CollExpr)
		}
		keys, err := objectKeys(part)
		if err != nil {
			t.Fatalf("environment_variables: %v", err)
		}
		for k, v := range keys {
			if always[k] != nil || optional[k] != nil {
				t.Errorf("environment variable %s is set twice", k)
			}
			into[k] = v
		}
	}
	return always, optional
}

// renderEnvironment evaluates the function's environment_variables with the
// variables' defaults and overrides; resource attributes are stubs.
func renderEnvironment(t *testing.T, m *module, overrides map[string]cty.Value) map[string]string {
	t.Helper()
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	expr := sc.Attributes["environment_variables"].Expr
	ctx, err := m.evalContext(withProject(overrides), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.stubResources(expr, ctx)
	v, err := m.evalWithLocals(expr, ctx)
	if err != nil {
		t.Fatalf("environment_variables: %v", err)
	}
	env := map[string]string{}
	for k, val := range v.AsValueMap() {
		env[k] = val.AsString()
	}
	return env
}

// readsResource reports whether expr, or a local it uses, reads a resource
// attribute.
func (m *module) readsResource(expr hclsyntax.Expression) bool {
	if expr == nil {
		return false
	}
	for _, tr := range expr.Variables() {
		switch root := tr.RootName(); {
		case root == "local" && len(tr) > 1:
			if a := m.locals[tr[1].(hcl.TraverseAttr).Name]; a != nil && m.readsResource(a.Expr) {
				return true
			}
		case m.resourcesOfType(root) > 0:
			return true
		}
	}
	return false
}

// withProject adds the one variable without a default.
func withProject(overrides map[string]cty.Value) map[string]cty.Value {
	all := map[string]cty.Value{"project_id": cty.StringVal("example-project")}
	for k, v := range overrides {
		all[k] = v
	}
	return all
}

func TestEnvironmentEqualsVariables(t *testing.T) {
	m := mustLoad(t)
	always, optional := environmentKeys(t, m)
	var want, got []string
	for _, v := range geminihook.Variables() {
		want = append(want, v.Name)
		// Unset, a variable takes the function's default: for one that
		// Terraform may leave unset, that default must be "" (off), or
		// leaving it out would turn something on.
		if optional[v.Name] != nil && v.Default != "" {
			t.Errorf("%s is set only sometimes, but the function's default %q is not off", v.Name, v.Default)
		}
	}
	for k := range always {
		got = append(got, k)
	}
	for k := range optional {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("environment_variables = %v\nwant geminihook.Variables() = %v", got, want)
	}
}

// With every Terraform variable at its default, each setting the function
// reads must come out as the function's own default, so that a deployment
// behaves like the documentation says.
func TestDefaultsMatchTheFunction(t *testing.T) {
	m := mustLoad(t)
	always, optional := environmentKeys(t, m)
	env := renderEnvironment(t, m, nil)
	// Values that come from resources: the resource is named by a local
	// (derived from the name), whose value with the defaults is compared
	// instead.
	viaResource := map[string]string{
		"GEMINIHOOK_SECRET":             "signing_secret_id",
		"GEMINIHOOK_TOPIC":              "topic",
		"GEMINIHOOK_FIRESTORE_DATABASE": "ledger_database",
	}
	for _, v := range geminihook.Variables() {
		if v.Required {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			got, set := env[v.Name]
			switch name, ok := viaResource[v.Name]; {
			case !set && optional[v.Name] != nil:
				return // unset: the function's default, checked by TestEnvironmentEqualsVariables
			case !set:
				t.Fatal("not set (TestEnvironmentEqualsVariables reports it)")
			case ok:
				got = evalWith(t, m, m.locals[name].Expr, nil, nil).AsString()
			case m.readsResource(always[v.Name]):
				t.Skipf("built from a resource attribute: %s", got)
			}
			if !sameSetting(got, v.Default) {
				t.Errorf("Terraform default %q, function default %q", got, v.Default)
			}
		})
	}
}

// Per-request webhooks: GEMINIHOOK_ROUTE_TOKENS is unset unless
// per_request_webhooks (so v1a/JWT are off), and then names the route
// tokens secret; the JWT settings are set only when given.
func TestEnvironmentOfPerRequestWebhooks(t *testing.T) {
	m := mustLoad(t)
	off := renderEnvironment(t, m, nil)
	for _, name := range []string{"GEMINIHOOK_ROUTE_TOKENS", "GEMINIHOOK_JWT_AUDIENCE", "GEMINIHOOK_JWT_ISSUER"} {
		if v, set := off[name]; set {
			t.Errorf("by default %s = %q, want it unset", name, v)
		}
	}
	on := renderEnvironment(t, m, map[string]cty.Value{
		"per_request_webhooks": cty.True,
		"jwt_audience":         cty.StringVal("https://example.invalid/aud"),
		"jwt_issuer":           cty.StringVal("https://example.invalid/iss"),
	})
	for name, want := range map[string]string{
		// The stub of google_secret_manager_secret.route_tokens[0].id.
		"GEMINIHOOK_ROUTE_TOKENS": "route_tokens-0-id",
		"GEMINIHOOK_JWT_AUDIENCE": "https://example.invalid/aud",
		"GEMINIHOOK_JWT_ISSUER":   "https://example.invalid/iss",
		"GEMINIHOOK_SECRET":       "signing-0-id",
	} {
		if got := on[name]; got != want {
			t.Errorf("with per_request_webhooks and the JWT settings, %s = %q, want %q", name, got, want)
		}
	}
	noHMAC := renderEnvironment(t, m, map[string]cty.Value{"per_request_webhooks": cty.True, "hmac_enabled": cty.False})
	if noHMAC["GEMINIHOOK_SECRET"] != geminihook.Off || noHMAC["GEMINIHOOK_ROUTE_TOKENS"] == "" {
		t.Errorf("per-request only: GEMINIHOOK_SECRET = %q, GEMINIHOOK_ROUTE_TOKENS = %q", noHMAC["GEMINIHOOK_SECRET"], noHMAC["GEMINIHOOK_ROUTE_TOKENS"])
	}
}

// metadata_attributes: Terraform accepts exactly the key lists the function
// accepts (events.CheckMetadataKeys), and passes them joined with commas.
func TestMetadataAttributesMatchTheFunction(t *testing.T) {
	m := mustLoad(t)
	many := func(n int) []string {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "key" + strconv.Itoa(i)
		}
		return keys
	}
	for _, keys := range [][]string{
		nil, {"tenant"}, {"tenant", "job_group", "Team-2"}, many(events.MaxMetadataAttributes), many(events.MaxMetadataAttributes + 1),
		{strings.Repeat("k", events.MaxMetadataKeyBytes)}, {strings.Repeat("k", events.MaxMetadataKeyBytes+1)},
		{""}, {"a b"}, {"a.b"}, {"tenant", "tenant"},
	} {
		list := cty.ListValEmpty(cty.String)
		if len(keys) > 0 {
			var vals []cty.Value
			for _, k := range keys {
				vals = append(vals, cty.StringVal(k))
			}
			list = cty.ListVal(vals)
		}
		want := events.CheckMetadataKeys(keys) == nil
		if got := validationAccepts(t, m, "metadata_attributes", list); got != want {
			t.Errorf("metadata_attributes = %q: Terraform accepts: %v, the function: %v", keys, got, want)
		}
	}
	env := renderEnvironment(t, m, map[string]cty.Value{"metadata_attributes": cty.ListVal([]cty.Value{cty.StringVal("tenant"), cty.StringVal("job_group")})})
	if got := env["GEMINIHOOK_METADATA_ATTRIBUTES"]; got != "tenant,job_group" {
		t.Errorf("GEMINIHOOK_METADATA_ATTRIBUTES = %q, want tenant,job_group", got)
	}
	if got, set := renderEnvironment(t, m, nil)["GEMINIHOOK_METADATA_ATTRIBUTES"]; set {
		t.Errorf("by default GEMINIHOOK_METADATA_ATTRIBUTES = %q, want it unset", got)
	}
}

// sameSetting compares two settings as durations or numbers when both
// parse as such ("300s" equals "5m0s"), else as strings.
func sameSetting(a, b string) bool {
	if da, err := time.ParseDuration(a); err == nil {
		if db, err := time.ParseDuration(b); err == nil {
			return da == db
		}
	}
	if na, err := strconv.ParseFloat(a, 64); err == nil {
		if nb, err := strconv.ParseFloat(b, 64); err == nil {
			return na == nb
		}
	}
	return strings.EqualFold(a, b)
}

func TestLedgerCollectionIsTheFunctionsDefault(t *testing.T) {
	m := mustLoad(t)
	got, _ := literalString(m.variables["ledger_collection"].Body.Attributes["default"])
	if got != geminihook.DefaultCollection {
		t.Errorf("ledger_collection default = %q, want geminihook.DefaultCollection %q", got, geminihook.DefaultCollection)
	}
}

// The archive uploaded for the build must hold every file the function's
// package and its in-module dependencies compile from (Go files and
// embedded files), and nothing from terraform/ (state, tfvars, plans).
func TestSourceArchiveHoldsWhatTheBuildNeeds(t *testing.T) {
	m := mustLoad(t)
	excludes := archiveExcludes(t, m)
	for _, rel := range []string{"terraform/terraform.tfstate", "terraform/.terraform/x", ".git/config", "cmd/geminihook/main.go", "config_test.go", "test/e2e_test.go"} {
		if !archiveExcluded(rel, excludes) {
			t.Errorf("%s would be uploaded", rel)
		}
	}

	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, ".")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, f[0])
		if err != nil || strings.HasPrefix(dir, "..") {
			continue // a dependency outside the module
		}
		for _, file := range f[1:] {
			rel := filepath.ToSlash(filepath.Join(dir, file))
			n++
			if archiveExcluded(rel, excludes) {
				t.Errorf("the function needs %s, but the source archive excludes it", rel)
			}
		}
	}
	if n == 0 {
		t.Error("go list found no file of the module")
	}
}

// message_ordering: the function gets "true" or "false", which it reads
// back as the same setting, and the example subscriptions order messages
// exactly when the function sets ordering keys.
func TestMessageOrdering(t *testing.T) {
	m := mustLoad(t)
	sub := mustResource(t, m, "google_pubsub_subscription.example")
	for _, on := range []bool{false, true} {
		overrides := map[string]cty.Value{"message_ordering": cty.BoolVal(on)}
		env := renderEnvironment(t, m, overrides)
		cfg, err := geminihook.LoadConfig(func(k string) string {
			switch k {
			case "GOOGLE_CLOUD_PROJECT":
				return "example-project"
			case "GEMINIHOOK_ORDERING":
				return env[k]
			}
			return ""
		})
		if err != nil || cfg.Ordering != on {
			t.Errorf("message_ordering = %v: the function reads GEMINIHOOK_ORDERING=%q as %v, %v", on, env["GEMINIHOOK_ORDERING"], cfg.Ordering, err)
		}
		a := sub.Attributes["enable_message_ordering"]
		if a == nil {
			t.Fatal("the example subscriptions do not set enable_message_ordering")
		}
		if got := evalWith(t, m, a.Expr, overrides, nil); !got.RawEquals(cty.BoolVal(on)) {
			t.Errorf("message_ordering = %v: example subscriptions enable_message_ordering = %#v", on, got)
		}
	}
}
