package terraform_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
)

func TestFilesParseAndAreFormatted(t *testing.T) {
	m := mustLoad(t)
	files := m.src
	// The tflint configuration is HCL too.
	if b, err := os.ReadFile(".tflint.hcl"); err == nil {
		files[".tflint.hcl"] = b
	} else {
		t.Errorf("reading .tflint.hcl: %v", err)
	}
	for _, want := range []string{"versions.tf", "variables.tf", "main.tf", "outputs.tf"} {
		if files[want] == nil {
			t.Errorf("%s is missing", want)
		}
	}
	if bad := unformatted(files); len(bad) > 0 {
		t.Errorf("not canonically formatted (run terraform fmt): %v", bad)
	}
}

func TestReferencesResolve(t *testing.T) {
	for _, p := range referenceProblems(mustLoad(t)) {
		t.Error(p)
	}
}

func TestVariablesAreDocumentedAndTyped(t *testing.T) {
	for _, p := range variableProblems(mustLoad(t)) {
		t.Error(p)
	}
}

func TestLeastPrivilege(t *testing.T) {
	for _, p := range iamProblems(mustLoad(t)) {
		t.Error(p)
	}
}

func TestNoSecretValue(t *testing.T) {
	for _, p := range secretProblems(mustLoad(t)) {
		t.Error(p)
	}
	// Example variable files must not carry one either.
	examples, _ := filepath.Glob("*.tfvars*")
	for _, name := range examples {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "whsec_") {
			t.Errorf("%s holds a whsec_ literal", name)
		}
	}
}

// The checkers above must be able to fail: each bad module here breaks one
// rule, and the matching checker has to say so.
func TestCheckersCatchMistakes(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(*module) []string
		want  string
	}{
		{"undeclared variable", `output "x" {
  value = var.missing
}
`, referenceProblems, "undeclared var.missing"},
		{"unused variable", `variable "lonely" {
  type = string
}
`, referenceProblems, "variable lonely is declared but never used"},
		{"unused local", `locals {
  spare = 1
}
`, referenceProblems, "local.spare is declared but never used"},
		{"undeclared resource", `output "x" {
  value = google_pubsub_topic.nowhere.name
}
`, referenceProblems, "undeclared resource google_pubsub_topic.nowhere"},
		{"undeclared data", `output "x" {
  value = data.google_project.nope.number
}
`, referenceProblems, "undeclared data.google_project.nope"},
		{"undeclared local in dynamic block", `resource "google_project_iam_member" "x" {
  role = "roles/datastore.user"
  dynamic "condition" {
    for_each = [1]
    content {
      title = condition.value
      expression = local.nothing
    }
  }
}
`, referenceProblems, "undeclared local.nothing"},
		{"variable without description", `variable "v" {
  type    = string
  default = ""
}
`, variableProblems, "variable v has no description"},
		{"variable without default or validation", `variable "v" {
  description = "d"
  type        = string
}
`, variableProblems, "neither a default nor a validation"},
		{"basic role", `resource "google_project_iam_member" "x" {
  role   = "roles/editor"
  member = "user:a@example.com"
}
`, iamProblems, "basic role roles/editor"},
		{"project admin role", `resource "google_project_iam_member" "x" {
  role   = "roles/pubsub.admin"
  member = "user:a@example.com"
}
`, iamProblems, "admin role roles/pubsub.admin on a whole project"},
		{"role through a variable", `resource "google_pubsub_topic_iam_member" "x" {
  role   = var.role
  member = "user:a@example.com"
}
`, iamProblems, "role must be a literal string"},
		{"authoritative binding", `resource "google_pubsub_topic_iam_binding" "x" {
  role    = "roles/pubsub.publisher"
  members = ["user:a@example.com"]
}
`, iamProblems, "authoritative IAM"},
		{"public publisher", `resource "google_pubsub_topic_iam_member" "x" {
  role   = "roles/pubsub.publisher"
  member = "allUsers"
}
`, iamProblems, "allUsers may only be a Cloud Run invoker"},
		{"basic role in a local", `locals {
  roles = ["roles/owner"]
}
`, iamProblems, `basic role "roles/owner" in the text`},
		{"unconditioned project storage role", `resource "google_project_iam_member" "x" {
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:b@example.iam.gserviceaccount.com"
}
`, iamProblems, "storage role roles/storage.objectViewer on a whole project without an IAM condition"},
		{"admin role for the deployer beyond its list", `resource "google_project_iam_member" "x" {
  role   = "roles/compute.admin"
  member = local.ci_deploy_member
}
`, iamProblems, "admin role roles/compute.admin on a whole project"},
		{"deployer admin role for another identity", `resource "google_project_iam_member" "x" {
  role   = "roles/pubsub.admin"
  member = local.function_member
}
`, iamProblems, "admin role roles/pubsub.admin on a whole project"},
		{"project IAM admin without a grants condition", `resource "google_project_iam_member" "x" {
  role   = "roles/resourcemanager.projectIamAdmin"
  member = local.ci_deploy_member
  condition {
    title      = "t"
    expression = "request.time < timestamp('2030-01-01T00:00:00Z')"
  }
}
`, iamProblems, "without a condition on iam.googleapis.com/modifiedGrantsByRole"},
		{"basic role through for_each", `locals {
  roles = toset(["roles/logging.logWriter", "roles/editor"])
}

resource "google_project_iam_member" "x" {
  for_each = local.roles
  role     = each.value
  member   = "user:a@example.com"
}
`, iamProblems, "basic role roles/editor"},
		{"role through for_each over a variable", `resource "google_project_iam_member" "x" {
  for_each = var.roles
  role     = each.value
  member   = "user:a@example.com"
}
`, iamProblems, "role must be a literal string"},
		{"role built in for_each", `resource "google_project_iam_member" "x" {
  for_each = toset(["roles/logging.logWriter", "roles/${var.r}"])
  role     = each.key
  member   = "user:a@example.com"
}
`, iamProblems, "role must be a literal string"},
		{"service account key", `resource "google_service_account_key" "k" {
  service_account_id = "x"
}
`, iamProblems, "service account keys are not allowed"},
		{"secret version", `resource "google_secret_manager_secret_version" "v" {
  secret      = "s"
  secret_data = "x"
}
`, secretProblems, "secret versions hold values"},
		{"whsec literal", `locals {
  s = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
}
`, secretProblems, "whsec_ literal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseModule(map[string]string{"bad.tf": tt.src})
			if err != nil {
				t.Fatal(err)
			}
			got := tt.check(m)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems = %q, want one containing %q", got, tt.want)
			}
		})
	}
	t.Run("unformatted", func(t *testing.T) {
		bad := unformatted(map[string][]byte{"bad.tf": []byte("locals {\n  a=1\n}\n")})
		if len(bad) != 1 {
			t.Errorf("unformatted = %v, want [bad.tf]", bad)
		}
	})
	t.Run("clean module", func(t *testing.T) {
		m, err := parseModule(map[string]string{"ok.tf": `variable "v" {
  description = "d"
  type        = list(string)
  default     = []
}

resource "google_pubsub_topic" "t" {
  name = "t"
  dynamic "x" {
    for_each = var.v
    content {
      y = x.value
    }
  }
}

resource "google_pubsub_topic_iam_member" "m" {
  topic  = google_pubsub_topic.t.name
  role   = "roles/pubsub.publisher"
  member = "user:a@example.com"
}
`})
		if err != nil {
			t.Fatal(err)
		}
		for _, check := range []func(*module) []string{referenceProblems, variableProblems, iamProblems, secretProblems} {
			if p := check(m); len(p) > 0 {
				t.Errorf("problems in a clean module: %q", p)
			}
		}
	})
}

func TestVersions(t *testing.T) {
	m := mustLoad(t)
	var tf *hclsyntax.Body
	for _, body := range m.bodies {
		if b := block(body, "terraform"); b != nil {
			tf = b
		}
	}
	if tf == nil {
		t.Fatal("no terraform block")
	}
	if v, _ := literalString(tf.Attributes["required_version"]); v != ">= 1.5" {
		t.Errorf("required_version = %q, want \">= 1.5\"", v)
	}
	rp := block(tf, "required_providers")
	if rp == nil {
		t.Fatal("no required_providers block")
	}
	want := map[string][2]string{
		"google":  {"hashicorp/google", "~> 7.0"},
		"archive": {"hashicorp/archive", "~> 2.5"},
	}
	for name, w := range want {
		a := rp.Attributes[name]
		if a == nil {
			t.Errorf("provider %s is not required", name)
			continue
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Errorf("provider %s: %v", name, diags)
			continue
		}
		if got := [2]string{v.GetAttr("source").AsString(), v.GetAttr("version").AsString()}; got != w {
			t.Errorf("provider %s = %q, want %q", name, got, w)
		}
	}
	// No backend here: local applies keep local state; cloudbuild.yaml adds
	// a gcs backend with partial configuration.
	if block(tf, "backend") != nil {
		t.Error("versions.tf has a backend block; the build writes backend.tf instead")
	}
}

func TestRequiredAPIs(t *testing.T) {
	m := mustLoad(t)
	body := mustResource(t, m, "google_project_service.required")
	v := evalWith(t, m, body.Attributes["for_each"].Expr, nil, nil)
	var got []string
	for it := v.ElementIterator(); it.Next(); {
		_, s := it.Element()
		got = append(got, s.AsString())
	}
	for _, api := range []string{
		"cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
		"artifactregistry.googleapis.com", "firestore.googleapis.com", "pubsub.googleapis.com",
		"secretmanager.googleapis.com", "logging.googleapis.com", "monitoring.googleapis.com",
		"iam.googleapis.com", "storage.googleapis.com",
	} {
		if !slices.Contains(got, api) {
			t.Errorf("API %s is not enabled", api)
		}
	}
	if v, diags := body.Attributes["disable_on_destroy"].Expr.Value(nil); diags.HasErrors() || !v.RawEquals(cty.False) {
		t.Errorf("disable_on_destroy = %#v, want false", v)
	}
}

func TestFirestoreTTLPolicy(t *testing.T) {
	m := mustLoad(t)
	body := mustResource(t, m, "google_firestore_field.ledger_expire_at")
	if f, _ := literalString(body.Attributes["field"]); f != "expire_at" {
		t.Errorf("field = %q, want expire_at", f)
	}
	if tr := body.Attributes["collection"].Expr.Variables(); len(tr) != 1 || tr[0].RootName() != "var" || tr[0][1].(hcl.TraverseAttr).Name != "ledger_collection" {
		t.Error("collection is not var.ledger_collection")
	}
	if block(body, "ttl_config") == nil {
		t.Error("no ttl_config block")
	}
	ic := block(body, "index_config")
	if ic == nil {
		t.Fatal("no index_config block: the field keeps its single-field indexes")
	}
	if len(ic.Attributes)+len(ic.Blocks) != 0 {
		t.Error("index_config is not empty: it must turn single-field indexing off")
	}
}

func TestSecretsAreEmptyAndReadableByTheFunction(t *testing.T) {
	m := mustLoad(t)
	for secret, grants := range map[string]map[string]string{
		"signing": {
			"google_secret_manager_secret_iam_member.function_accessor": "roles/secretmanager.secretAccessor",
			"google_secret_manager_secret_iam_member.function_viewer":   "roles/secretmanager.viewer",
		},
		"route_tokens": {
			"google_secret_manager_secret_iam_member.function_route_tokens_accessor": "roles/secretmanager.secretAccessor",
			"google_secret_manager_secret_iam_member.function_route_tokens_viewer":   "roles/secretmanager.viewer",
		},
	} {
		mustResource(t, m, "google_secret_manager_secret."+secret)
		for addr, role := range grants {
			body := mustResource(t, m, addr)
			if got, _ := literalString(body.Attributes["role"]); got != role {
				t.Errorf("%s: role = %q, want %q", addr, got, role)
			}
			if !refersTo(body.Attributes["secret_id"].Expr, "google_secret_manager_secret", secret) {
				t.Errorf("%s is not on google_secret_manager_secret.%s", addr, secret)
			}
			if !refersTo(body.Attributes["member"].Expr, "local", "function_member") {
				t.Errorf("%s is not for the function's service account", addr)
			}
		}
	}
	// No version, no secret data: secretProblems (TestNoSecretValue).
}

// deploy_as = "function": the function's Cloud Run service is public
// through one roles/run.invoker grant to allUsers, ingress from everywhere.
// deploy_as = "cloud_run": no allUsers grant at all (what domain-restricted
// sharing forbids), the function internal only, and the Cloud Run service
// public through invoker_iam_disabled.
func TestPublicOnlyThroughTheChosenDoor(t *testing.T) {
	m := mustLoad(t)
	invoker := mustResource(t, m, "google_cloud_run_v2_service_iam_member.public_invoker")
	if !refersTo(invoker.Attributes["name"].Expr, "google_cloudfunctions2_function", "webhook") {
		t.Error("the invoker grant is not on the function's Cloud Run service")
	}
	fn := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	run := mustResource(t, m, "google_cloud_run_v2_service.webhook")
	for _, tt := range []struct {
		deployAs            string
		invokers, services  int64
		ingress, runIngress string
	}{
		{"function", 1, 0, "ALLOW_ALL", ""},
		{"cloud_run", 0, 1, "ALLOW_INTERNAL_ONLY", "INGRESS_TRAFFIC_ALL"},
	} {
		o := map[string]cty.Value{"deploy_as": cty.StringVal(tt.deployAs)}
		// Every grant to allUsers or allAuthenticatedUsers, counted.
		public := int64(0)
		for _, addr := range sortedKeys(m.resources) {
			b := m.resources[addr].Body
			if member, ok := literalString(b.Attributes["member"]); ok && publicMembers[member] {
				n := int64(1)
				if c := b.Attributes["count"]; c != nil {
					n = mustInt(t, evalWith(t, m, c.Expr, o, nil))
				}
				public += n
			}
		}
		if public != tt.invokers {
			t.Errorf("deploy_as = %s: %d public grants, want %d", tt.deployAs, public, tt.invokers)
		}
		if got := evalWith(t, m, fn.Attributes["ingress_settings"].Expr, o, nil).AsString(); got != tt.ingress {
			t.Errorf("deploy_as = %s: the function's ingress_settings = %q, want %q", tt.deployAs, got, tt.ingress)
		}
		if got := mustInt(t, evalWith(t, m, run.Attributes["count"].Expr, o, nil)); got != tt.services {
			t.Errorf("deploy_as = %s: %d Cloud Run services, want %d", tt.deployAs, got, tt.services)
		}
	}
	if v, _ := run.Attributes["invoker_iam_disabled"].Expr.Value(nil); !v.True() {
		t.Error("the Cloud Run service does not set invoker_iam_disabled = true")
	}
	if got, _ := literalString(run.Attributes["ingress"]); got != "INGRESS_TRAFFIC_ALL" {
		t.Errorf("the Cloud Run service's ingress = %q, want INGRESS_TRAFFIC_ALL", got)
	}
	if !validationAccepts(t, m, "deploy_as", cty.StringVal("cloud_run")) || validationAccepts(t, m, "deploy_as", cty.StringVal("gke")) {
		t.Error("deploy_as accepts the wrong values")
	}
}

func TestLogMetricLabelsMatchExtractors(t *testing.T) {
	m := mustLoad(t)
	// Entry labels the function writes, plus the httpRequest fields.
	known := map[string]bool{
		"labels.result": true, "labels.event_type": true, "labels.job_kind": true,
		"labels.outcome": true, "labels.scheme": true, "labels.webhook_id": true,
		"httpRequest.status": true,
		// The watcher's lines (watch.go).
		"labels." + geminihook.WatchLabelState: true,
	}
	known["labels."+geminihook.WatchLabelID] = true
	extract := regexp.MustCompile(`^EXTRACT\(([A-Za-z_.]+)\)$`)
	n := 0
	for _, addr := range sortedKeys(m.resources) {
		if !strings.HasPrefix(addr, "google_logging_metric.") {
			continue
		}
		n++
		body := m.resources[addr].Body
		declared := map[string]bool{}
		for _, b := range block(body, "metric_descriptor").Blocks {
			if b.Type == "labels" {
				k, _ := literalString(b.Body.Attributes["key"])
				declared[k] = true
			}
		}
		extractors := map[string]hclsyntax.Expression{}
		if a := body.Attributes["label_extractors"]; a != nil {
			var err error
			if extractors, err = objectKeys(a.Expr); err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
		}
		for k, expr := range extractors {
			if !declared[k] {
				t.Errorf("%s: extractor %s has no label in metric_descriptor", addr, k)
			}
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Errorf("%s: extractor %s: %v", addr, k, diags)
				continue
			}
			if sm := extract.FindStringSubmatch(v.AsString()); sm == nil || !known[sm[1]] {
				t.Errorf("%s: extractor %s = %s reads no field the function writes", addr, k, v.AsString())
			}
		}
		for k := range declared {
			if extractors[k] == nil {
				t.Errorf("%s: label %s has no extractor", addr, k)
			}
		}
	}
	if n < 4 {
		t.Errorf("%d log-based metrics, want deliveries, verification failures, quarantined and latency", n)
	}
	latency := mustResource(t, m, "google_logging_metric.latency")
	if v, _ := literalString(latency.Attributes["value_extractor"]); v != "EXTRACT(jsonPayload.latency_ms)" {
		t.Errorf("latency value_extractor = %q", v)
	}
}

// renderNextSteps evaluates the next_steps output with the variables'
// defaults and overrides, and the receiver's URL.
func renderNextSteps(t *testing.T, m *module, overrides map[string]cty.Value, url string) string {
	t.Helper()
	out := m.outputs["next_steps"]
	if out == nil {
		t.Fatal("no next_steps output")
	}
	ctx, err := m.evalContext(withProject(overrides), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Variables["google_cloudfunctions2_function"] = cty.ObjectVal(map[string]cty.Value{
		"webhook": cty.ObjectVal(map[string]cty.Value{"url": cty.StringVal(url)}),
	})
	v, err := m.evalWithLocals(out.Body.Attributes["value"].Expr, ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsString()
}

func TestNextStepsRender(t *testing.T) {
	m := mustLoad(t)
	for _, tt := range []struct {
		name      string
		overrides map[string]cty.Value
		want      []string
		notWant   []string
	}{
		{"hmac", map[string]cty.Value{"hmac_enabled": cty.True}, []string{
			"\ngcloud auth application-default login\n",
			"https://aistudio.google.com/apikey",
			"\nprintf %s \"$GEMINI_API_KEY\" | gcloud secrets create gemini-api-key --project=example-project --data-file=-\n",
			"\ngo install ./cmd/geminihook\n",
			"\ngeminihook webhooks create --uri https://example.invalid/geminihook --project example-project --secret geminihook-signing-secret --api-key-secret gemini-api-key --events batch.succeeded,batch.failed,batch.expired,interaction.requires_action,interaction.completed,interaction.failed,video.generated\n",
			"\ngeminihook webhooks ping WEBHOOK_ID --wait --topic gemini-job-events --project example-project --api-key-secret gemini-api-key\n",
			"\ngeminihook webhooks status --project example-project --api-key-secret gemini-api-key\n",
			"-w '%{http_code}\\n' https://example.invalid/geminihook\n",
			"gcloud pubsub subscriptions pull gemini-job-events-example",
			"Per-request webhooks (v1a/JWT) are off",
		}, []string{"/r/", "route-token", "geminihook-route-tokens", "x-goog-api-key", "curl -sS"}},
		{"hmac and per-request", map[string]cty.Value{"per_request_webhooks": cty.True}, []string{
			"--secret geminihook-signing-secret --api-key-secret gemini-api-key",
			"\ngeminihook keys --out geminihook-keys\n",
			"\ngcloud secrets versions add geminihook-route-tokens --project=example-project --data-file=geminihook-keys/route-token.txt\n",
			"webhook_config.uris = [\"https://example.invalid/geminihook/r/<ROUTE_TOKEN>\"]",
			"\ngcloud secrets versions access latest --secret=geminihook-route-tokens --project=example-project\n",
			"wait 300s",
		}, []string{"are off"}},
		{"per-request only, no example subscriptions", map[string]cty.Value{"hmac_enabled": cty.False, "per_request_webhooks": cty.True, "create_example_subscriptions": cty.False}, []string{
			"no project-level webhook",
			"--data-file=geminihook-keys/route-token.txt",
			"gcloud pubsub subscriptions create my-consumer --topic=gemini-job-events",
		}, []string{"geminihook-signing-secret", "-example", "webhooks create"}},
		{"another name", map[string]cty.Value{"name": cty.StringVal("hooks-staging")}, []string{
			"--secret hooks-staging-signing-secret",
			"--topic hooks-staging-job-events",
			`resource.labels.service_name="hooks-staging"`,
			"gcloud pubsub subscriptions pull hooks-staging-job-events-example",
		}, []string{"gemini-job-events", "geminihook-signing-secret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := renderNextSteps(t, m, tt.overrides, "https://example.invalid/geminihook")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("next_steps lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("next_steps holds %q:\n%s", w, got)
				}
			}
			for i, line := range strings.Split(got, "\n") {
				if strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "    #") {
					if prev := strings.Split(got, "\n")[i-1]; !strings.HasSuffix(prev, "\\") {
						t.Errorf("line %d is indented but continues nothing: %q", i+1, line)
					}
				}
			}
		})
	}
}

// shellCommands lists the command lines of a shell text: comments and
// blank lines dropped, continued lines joined, runs of blanks made one.
func shellCommands(text string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		out = append(out, strings.Join(strings.Fields(cur+line), " "))
		cur = ""
	}
	return out
}

// The README and next_steps tell the same story: every command next_steps
// prints (rendered for the README's project, my-project, with the URL as
// $URL), for each combination of the schemes, is in one of the README's
// code blocks, word for word; and the README's geminihook webhooks
// commands are next_steps' (none of them a command next_steps does not
// print).
func TestNextStepsAreTheReadmes(t *testing.T) {
	m := mustLoad(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	inReadme := map[string]bool{}
	for _, b := range fencedBlocks(string(readme)) {
		for _, c := range shellCommands(strings.TrimPrefix(strings.TrimSuffix(b, "```"), "```")) {
			inReadme[c] = true
		}
	}
	printed := map[string]bool{}
	for _, o := range []map[string]cty.Value{
		{"project_id": cty.StringVal("my-project")},
		{"project_id": cty.StringVal("my-project"), "per_request_webhooks": cty.True},
		{"project_id": cty.StringVal("my-project"), "hmac_enabled": cty.False, "per_request_webhooks": cty.True, "create_example_subscriptions": cty.False},
	} {
		for _, c := range shellCommands(renderNextSteps(t, m, o, "$URL")) {
			printed[c] = true
			if !inReadme[c] {
				t.Errorf("next_steps prints a command the README does not show:\n  %s", c)
			}
		}
	}
	n := 0
	for c := range inReadme {
		if strings.HasPrefix(c, "geminihook webhooks create") || strings.HasPrefix(c, "geminihook webhooks ping") {
			n++
			if !printed[c] {
				t.Errorf("the README shows a command next_steps does not print:\n  %s", c)
			}
		}
	}
	if n < 2 {
		t.Errorf("the README shows %d geminihook webhooks create/ping commands, want both", n)
	}
}

// refersTo reports whether expr references root.name (a resource, or
// local.name).
func refersTo(expr hclsyntax.Expression, root, name string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == root && len(tr) > 1 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
				return true
			}
		}
	}
	return false
}

func TestRuntimeMatchesGoMod(t *testing.T) {
	m := mustLoad(t)
	build := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "build_config")
	if build == nil {
		t.Fatal("no build_config")
	}
	want := "go" + strings.ReplaceAll(goModVersion(t), ".", "")
	if got, _ := literalString(build.Attributes["runtime"]); got != want {
		t.Errorf("runtime = %q, want %q (go.mod's go line)", got, want)
	}
}

func TestSourceArchiveLeavesOutWhatTheFunctionDoesNotNeed(t *testing.T) {
	m := mustLoad(t)
	b := m.data["archive_file.source"]
	if b == nil {
		t.Fatal("no data.archive_file.source")
	}
	v, diags := b.Body.Attributes["excludes"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var excludes []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		excludes = append(excludes, e.AsString())
	}
	// terraform/ above all: it holds state files, tfvars and plans.
	for _, dir := range []string{"cmd", "test", "terraform", ".git"} {
		if !slices.Contains(excludes, dir) {
			t.Errorf("excludes lacks %q", dir)
		}
	}
	if src := b.Body.Attributes["source_dir"]; src == nil {
		t.Error("no source_dir")
	} else if tmpl, ok := src.Expr.(*hclsyntax.TemplateExpr); !ok || !strings.HasSuffix(string(m.src["function.tf"][tmpl.SrcRange.Start.Byte:tmpl.SrcRange.End.Byte]), `/.."`) {
		t.Errorf("source_dir is not the module root (path.module/..)")
	}
}

func TestReadmeNamesEveryVariableAndOutput(t *testing.T) {
	m := mustLoad(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]string{sortedKeys(m.variables), sortedKeys(m.outputs)} {
		for _, name := range names {
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not mention `%s`", name)
			}
		}
	}
}

func TestDashboardRenders(t *testing.T) {
	m := mustLoad(t)
	expr := mustResource(t, m, "google_monitoring_dashboard.main").Attributes["dashboard_json"].Expr
	ctx, err := m.evalContext(map[string]cty.Value{"project_id": cty.StringVal("example-project")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.stubResources(expr, ctx)
	v, err := m.evalWithLocals(expr, ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		DisplayName  string
		MosaicLayout struct {
			Columns int
			Tiles   []struct {
				XPos, YPos, Width, Height int
				Widget                    struct {
					Title   string
					XyChart struct {
						DataSets []struct {
							PlotType        string
							TimeSeriesQuery struct {
								TimeSeriesFilter struct {
									Filter      string
									Aggregation struct{ PerSeriesAligner, CrossSeriesReducer string }
								}
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(v.AsString()), &dash); err != nil {
		t.Fatalf("dashboard_json is not JSON: %v", err)
	}
	tiles := dash.MosaicLayout.Tiles
	if dash.DisplayName == "" || len(tiles) < 6 {
		t.Fatalf("dashboard %q has %d tiles", dash.DisplayName, len(tiles))
	}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, tile := range tiles {
		if tile.XPos+tile.Width > dash.MosaicLayout.Columns || tile.Width <= 0 || tile.Height <= 0 {
			t.Errorf("tile %q at x=%d width=%d does not fit %d columns", tile.Widget.Title, tile.XPos, tile.Width, dash.MosaicLayout.Columns)
		}
		for x := tile.XPos; x < tile.XPos+tile.Width; x++ {
			for y := tile.YPos; y < tile.YPos+tile.Height; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Fatalf("tiles %q and %q overlap", other, tile.Widget.Title)
				}
				used[cell{x, y}] = tile.Widget.Title
			}
		}
		if len(tile.Widget.XyChart.DataSets) == 0 {
			t.Errorf("tile %q has no data", tile.Widget.Title)
		}
		for _, ds := range tile.Widget.XyChart.DataSets {
			f := ds.TimeSeriesQuery.TimeSeriesFilter
			if !strings.Contains(f.Filter, "metric.type=") || f.Aggregation.PerSeriesAligner == "" || ds.PlotType == "" {
				t.Errorf("tile %q: incomplete data set %+v", tile.Widget.Title, ds)
			}
		}
	}
}
