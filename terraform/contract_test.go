package terraform_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
)

// The function's settings in Terraform against the Go code that reads them.

func TestEntryPoint(t *testing.T) {
	m := mustLoad(t)
	build := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "build_config")
	if got, _ := literalString(build.Attributes["entry_point"]); got != geminihook.EntryPoint {
		t.Errorf("entry_point = %q, want geminihook.EntryPoint %q", got, geminihook.EntryPoint)
	}
}

// environment returns the function's environment_variables object, keyed
// by variable name.
func environment(t *testing.T, m *module) map[string]string {
	t.Helper()
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	if sc == nil || sc.Attributes["environment_variables"] == nil {
		t.Fatal("the function sets no service_config.environment_variables")
	}
	keys, err := objectKeys(m.resolveLocal(sc.Attributes["environment_variables"].Expr))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, expr := range keys {
		env[k] = string(m.src[expr.Range().Filename][expr.Range().Start.Byte:expr.Range().End.Byte])
	}
	return env
}

func TestEnvironmentEqualsVariables(t *testing.T) {
	m := mustLoad(t)
	env := environment(t, m)
	var want, got []string
	for _, v := range geminihook.Variables() {
		want = append(want, v.Name)
	}
	for k := range env {
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
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	keys, err := objectKeys(m.resolveLocal(sc.Attributes["environment_variables"].Expr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := m.evalContext(map[string]cty.Value{"project_id": cty.StringVal("example-project")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Values that come from resources: the resource is named after a
	// variable, whose default is compared instead.
	viaResource := map[string]string{
		"GEMINIHOOK_SECRET":             "signing_secret_id",
		"GEMINIHOOK_TOPIC":              "topic",
		"GEMINIHOOK_FIRESTORE_DATABASE": "firestore_database",
	}
	for _, v := range geminihook.Variables() {
		if v.Required {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			expr := keys[v.Name]
			if expr == nil {
				t.Skip("not set (TestEnvironmentEqualsVariables reports it)")
			}
			var got string
			if name, ok := viaResource[v.Name]; ok {
				got, _ = literalString(m.variables[name].Body.Attributes["default"])
			} else {
				val, diags := expr.Value(ctx)
				if diags.HasErrors() {
					t.Skipf("built from more than variables: %v", diags)
				}
				got = val.AsString()
			}
			if !sameSetting(got, v.Default) {
				t.Errorf("Terraform default %q, function default %q", got, v.Default)
			}
		})
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
