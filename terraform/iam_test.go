package terraform_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
)

// Grants held by IAM conditions: the build's storage role, the function's
// Firestore role.

// The Cloud Build service account reads the function's source buckets
// (ours and the gcf-v2-sources one Cloud Functions owns) and nothing else:
// a project-level storage role held by an IAM condition.
func TestBuildReadsOnlyTheFunctionSource(t *testing.T) {
	m := mustLoad(t)
	body := mustResource(t, m, "google_project_iam_member.build_object_viewer")
	if role, _ := literalString(body.Attributes["role"]); !strings.HasPrefix(role, "roles/storage.") {
		t.Fatalf("build_object_viewer has role %q", role)
	}
	cond := block(body, "condition")
	if cond == nil {
		t.Fatal("the build's storage grant has no IAM condition: it reaches every bucket of the project")
	}
	cel := evalWith(t, m, cond.Attributes["expression"].Expr, nil, dataStubs).AsString()
	allowed := celNameClauses(t, cel)

	// The bucket the function's build_config reads from: ours.
	src := block(block(block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "build_config"), "source"), "storage_source")
	if !refersTo(src.Attributes["bucket"].Expr, "google_storage_bucket", "source") {
		t.Fatal("the function's source is not in google_storage_bucket.source")
	}
	ours := "source-name" // the stub of google_storage_bucket.source.name
	gcf := "gcf-v2-sources-123456789012-us-central1"
	for name, want := range map[string]bool{
		"projects/_/buckets/" + ours:                                         true,
		"projects/_/buckets/" + ours + "/objects/geminihook-abc.zip":         true,
		"projects/_/buckets/" + gcf:                                          true,
		"projects/_/buckets/" + gcf + "/objects/geminihook/source.zip":       true,
		"projects/_/buckets/other":                                           false,
		"projects/_/buckets/other/objects/secret.txt":                        false,
		"projects/_/buckets/" + ours + "-evil/objects/x":                     false,
		"projects/_/buckets/" + gcf + "x/objects/x":                          false,
		"projects/_/buckets/gcf-v2-sources-123456789012-europe-west1/x":      false,
		"projects/_/buckets/example-project-tfstate/objects/default.tfstate": false,
	} {
		if got := allowed(name); got != want {
			t.Errorf("condition %q on %s: %v, want %v", cel, name, got, want)
		}
	}
	// And no other storage grant for the build.
	for _, addr := range sortedKeys(m.resources) {
		b := m.resources[addr].Body
		if addr == "google_project_iam_member.build_object_viewer" || !strings.HasSuffix(strings.SplitN(addr, ".", 2)[0], "_iam_member") {
			continue
		}
		role, _ := literalString(b.Attributes["role"])
		if strings.HasPrefix(role, "roles/storage.") && b.Attributes["member"] != nil && refersTo(b.Attributes["member"].Expr, "google_service_account", "build") {
			t.Errorf("%s grants the build %s as well", addr, role)
		}
	}
}

// celNameClauses reads a CEL expression made of clauses joined by ||, each
// resource.name == "x" or resource.name.startsWith("x"), and returns the
// predicate it is. Any other clause fails the test: it could not be
// checked.
func celNameClauses(t *testing.T, cel string) func(string) bool {
	t.Helper()
	eq := regexp.MustCompile(`^resource\.name == "([^"]+)"$`)
	prefix := regexp.MustCompile(`^resource\.name\.startsWith\("([^"]+)"\)$`)
	var preds []func(string) bool
	for _, clause := range strings.Split(cel, " || ") {
		clause = strings.TrimSpace(clause)
		switch {
		case eq.MatchString(clause):
			want := eq.FindStringSubmatch(clause)[1]
			preds = append(preds, func(s string) bool { return s == want })
		case prefix.MatchString(clause):
			p := prefix.FindStringSubmatch(clause)[1]
			if !strings.HasSuffix(p, "/") {
				t.Errorf("clause %q: a prefix without a trailing / also matches buckets whose name starts the same way", clause)
			}
			preds = append(preds, func(s string) bool { return strings.HasPrefix(s, p) })
		default:
			t.Fatalf("cannot read CEL clause %q of %q", clause, cel)
		}
	}
	return func(s string) bool {
		return slices.ContainsFunc(preds, func(p func(string) bool) bool { return p(s) })
	}
}

// --------------------------------------------------------------- firestore ---

// The ledger gets a database of its own by default, the function's
// default, and the function's Firestore role reaches that database only.
func TestLedgerDatabaseIsItsOwn(t *testing.T) {
	m := mustLoad(t)
	def := evalWith(t, m, m.locals["ledger_database"].Expr, nil, nil).AsString()
	if def != geminihook.DefaultDatabase || def == "(default)" {
		t.Errorf("the ledger database with the default name = %q, want geminihook.DefaultDatabase %q, not (default)", def, geminihook.DefaultDatabase)
	}
	if other := evalWith(t, m, m.locals["ledger_database"].Expr, map[string]cty.Value{"name": cty.StringVal("billing-hooks")}, nil).AsString(); other != "billing-hooks" {
		t.Errorf("with name = billing-hooks the ledger database is %q, want billing-hooks (its own)", other)
	}
	if name := evalWith(t, m, mustResource(t, m, "google_firestore_database.ledger").Attributes["name"].Expr, nil, nil); name.AsString() != def {
		t.Errorf("the created database is named %#v, want %q", name, def)
	}
	for _, name := range []string{"geminihook", "(default)", "other-ledger"} {
		if !validationAccepts(t, m, "firestore_database", cty.StringVal(name)) {
			t.Errorf("firestore_database %q is refused", name)
		}
	}
	grant := mustResource(t, m, "google_project_iam_member.function_datastore_user")
	cond := block(grant, "condition")
	if cond == nil {
		t.Fatal("roles/datastore.user has no IAM condition: it reaches every database of the project")
	}
	for _, create := range []cty.Value{cty.True, cty.False} {
		overrides := map[string]cty.Value{"create_firestore_database": create}
		got := evalWith(t, m, cond.Attributes["expression"].Expr, overrides, nil).AsString()
		db := "geminihook"
		if create.True() {
			db = "ledger-0-name" // the stub of google_firestore_database.ledger[0].name
		}
		if want := `resource.name == "projects/example-project/databases/` + db + `"`; got != want {
			t.Errorf("create_firestore_database = %v: condition %q, want %q", create.True(), got, want)
		}
	}
}

// Tracing: the function may write spans (roles/cloudtrace.agent, over the
// Telemetry API) exactly while trace_sample_ratio is above 0, and the
// ratios Terraform accepts are those the function accepts.
func TestTraceGrantFollowsTheRatio(t *testing.T) {
	m := mustLoad(t)
	grant := mustResource(t, m, "google_project_iam_member.function_trace_agent")
	if role, _ := literalString(grant.Attributes["role"]); role != "roles/cloudtrace.agent" {
		t.Errorf("role = %q, want roles/cloudtrace.agent", role)
	}
	if !refersTo(grant.Attributes["member"].Expr, "local", "function_member") {
		t.Error("the trace grant is not for the function's service account")
	}
	for _, tt := range []struct {
		ratio float64
		count int64
	}{{0, 0}, {0.1, 1}, {1, 1}} {
		got := mustInt(t, evalWith(t, m, grant.Attributes["count"].Expr, map[string]cty.Value{"trace_sample_ratio": cty.NumberFloatVal(tt.ratio)}, nil))
		if got != tt.count {
			t.Errorf("trace_sample_ratio = %v: %d trace grants, want %d", tt.ratio, got, tt.count)
		}
		env := renderEnvironment(t, m, map[string]cty.Value{"trace_sample_ratio": cty.NumberFloatVal(tt.ratio)})
		cfg, err := geminihook.LoadConfig(func(k string) string {
			if k == "GOOGLE_CLOUD_PROJECT" {
				return "example-project"
			}
			if k == "GEMINIHOOK_TRACE_SAMPLE_RATIO" {
				return env[k]
			}
			return ""
		})
		if err != nil || cfg.TraceRatio != tt.ratio {
			t.Errorf("trace_sample_ratio = %v: the function reads GEMINIHOOK_TRACE_SAMPLE_RATIO=%q as %v, %v", tt.ratio, env["GEMINIHOOK_TRACE_SAMPLE_RATIO"], cfg.TraceRatio, err)
		}
	}
	for _, bad := range []float64{-0.1, 1.1} {
		if validationAccepts(t, m, "trace_sample_ratio", cty.NumberFloatVal(bad)) {
			t.Errorf("trace_sample_ratio %v is accepted; the function refuses it", bad)
		}
	}
	apis := evalWith(t, m, mustResource(t, m, "google_project_service.required").Attributes["for_each"].Expr, nil, nil)
	for _, api := range []string{"telemetry.googleapis.com", "cloudtrace.googleapis.com"} {
		if !apis.HasElement(cty.StringVal(api)).True() {
			t.Errorf("API %s is not enabled", api)
		}
	}
}
