package terraform_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// terraform/ is a module, called by the root configurations under
// examples/: basic (what the README's one-command deploy applies) and
// two-environments (the module twice, with for_each).

var exampleDirs = []string{"examples/basic", "examples/two-environments"}

// moduleSource is the examples' module source: terraform/, two levels up
// (spelled so that the repository's path checker, which looks for paths
// climbing out of a file's directory, reads no climb here).
const moduleSource = ".." + "/" + ".."

func mustLoadDir(t *testing.T, dir string) *module {
	t.Helper()
	m, err := loadDir(dir)
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	return m
}

// moduleProblems reports what keeps a configuration from being a module
// that can be called with count or for_each, or twice in one root: a
// provider block (Terraform refuses count and for_each on a module that has
// one, and it would pin the caller's credentials and project), a backend
// or cloud block (ignored in a module, and misleading), and no
// required_providers to say which providers it needs.
func moduleProblems(m *module) []string {
	var problems []string
	for _, p := range m.providers {
		problems = append(problems, fmt.Sprintf("%s: provider %q block: the caller configures providers", p.TypeRange, strings.Join(p.Labels, ".")))
	}
	required := false
	for _, name := range sortedKeys(m.bodies) {
		for _, b := range m.bodies[name].Blocks {
			if b.Type != "terraform" {
				continue
			}
			for _, inner := range b.Body.Blocks {
				switch inner.Type {
				case "backend", "cloud":
					problems = append(problems, fmt.Sprintf("%s: %s block: the caller decides where the state lives", inner.TypeRange, inner.Type))
				case "required_providers":
					required = true
				}
			}
		}
	}
	if !required {
		problems = append(problems, "no required_providers: a module says which providers it needs")
	}
	for _, addr := range sortedKeys(m.resources) {
		if m.resources[addr].Body.Attributes["provider"] != nil {
			problems = append(problems, addr+": provider meta-argument: the module uses the caller's default provider")
		}
	}
	return problems
}

// outputProblems reports outputs without a description.
func outputProblems(m *module) []string {
	var problems []string
	for _, name := range sortedKeys(m.outputs) {
		if d, ok := literalString(m.outputs[name].Body.Attributes["description"]); !ok || strings.TrimSpace(d) == "" {
			problems = append(problems, "output "+name+" has no description")
		}
	}
	return problems
}

func TestModuleIsReusable(t *testing.T) {
	m := mustLoad(t)
	for _, p := range moduleProblems(m) {
		t.Error(p)
	}
	for _, p := range outputProblems(m) {
		t.Error(p)
	}
	// The module's interface: every variable typed and described
	// (TestVariablesAreDocumentedAndTyped), every output described (above).
	if len(m.outputs) == 0 || len(m.variables) == 0 {
		t.Errorf("%d variables and %d outputs: not a module's interface", len(m.variables), len(m.outputs))
	}
}

func TestModuleCheckersCatchMistakes(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		check     func(*module) []string
		want      string
	}{
		{"provider block", "terraform {\n  required_providers {}\n}\n\nprovider \"google\" {\n  project = \"p\"\n}\n", moduleProblems, `provider "google" block`},
		{"backend block", "terraform {\n  required_providers {}\n  backend \"gcs\" {}\n}\n", moduleProblems, "backend block"},
		{"no required_providers", "terraform {\n  required_version = \">= 1.5\"\n}\n", moduleProblems, "no required_providers"},
		{"provider meta-argument", "terraform {\n  required_providers {}\n}\n\nresource \"google_pubsub_topic\" \"t\" {\n  provider = google.other\n}\n", moduleProblems, "provider meta-argument"},
		{"output without description", "output \"x\" {\n  value = 1\n}\n", outputProblems, "output x has no description"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseModule(map[string]string{"bad.tf": tt.src})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.check(m); !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// Each example is a root configuration of its own: formatted, references
// resolved, variables and outputs documented, the google provider
// configured there (not in the module), the module called from terraform/, no
// backend block (README, "State"), the module's provider constraints.
func TestExamplesAreWellFormed(t *testing.T) {
	mod := mustLoad(t)
	for _, dir := range exampleDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ex := mustLoadDir(t, dir)
			files := map[string][]byte{}
			for k, v := range ex.src {
				files[k] = v
			}
			if b, err := os.ReadFile(filepath.Join(dir, ".tflint.hcl")); err == nil {
				files[".tflint.hcl"] = b
			} else {
				t.Errorf("no .tflint.hcl: tflint would run without the project's rules: %v", err)
			}
			if bad := unformatted(files); len(bad) > 0 {
				t.Errorf("not canonically formatted (run terraform fmt): %v", bad)
			}
			for _, p := range append(append(referenceProblems(ex), variableProblems(ex)...), outputProblems(ex)...) {
				t.Error(p)
			}
			var google bool
			for _, p := range ex.providers {
				google = google || (len(p.Labels) == 1 && p.Labels[0] == "google")
			}
			if !google {
				t.Error("no provider \"google\" block: the root configures the provider the module uses")
			}
			for _, p := range moduleProblems(ex) {
				if !strings.Contains(p, "provider \"google\" block") {
					t.Error(p)
				}
			}
			if len(ex.modules) != 1 {
				t.Fatalf("%d module blocks, want one: geminihook", len(ex.modules))
			}
			call := ex.modules["geminihook"]
			if call == nil {
				t.Fatal("no module \"geminihook\"")
			}
			if src, _ := literalString(call.Body.Attributes["source"]); src != moduleSource {
				t.Errorf("module source = %q, want %q (terraform/)", src, moduleSource)
			}
			if !refersTo(call.Body.Attributes["project_id"].Expr, "var", "project_id") {
				t.Error("project_id is not var.project_id")
			}
			if len(ex.resources)+len(ex.data) > 0 {
				t.Errorf("the example declares resources of its own (%v %v): everything belongs in the module", sortedKeys(ex.resources), sortedKeys(ex.data))
			}
			// Every argument of the module block is one of the module's variables.
			for name := range call.Body.Attributes {
				switch name {
				case "source", "for_each", "count", "depends_on", "providers", "version":
				default:
					if mod.variables[name] == nil {
						t.Errorf("module argument %s is no variable of the module", name)
					}
				}
			}
			if !slices.Equal(requiredProviders(t, ex), requiredProviders(t, mod)) {
				t.Errorf("required_providers %v, the module's %v", requiredProviders(t, ex), requiredProviders(t, mod))
			}
			examples, _ := filepath.Glob(filepath.Join(dir, "*.tfvars*"))
			for _, name := range examples {
				if b, _ := os.ReadFile(name); strings.Contains(string(b), "whsec_") {
					t.Errorf("%s holds a whsec_ literal", name)
				}
			}
		})
	}
}

// requiredProviders lists name=source@version of the required_providers.
func requiredProviders(t *testing.T, m *module) []string {
	t.Helper()
	var out []string
	for _, body := range m.bodies {
		tf := block(body, "terraform")
		if tf == nil {
			continue
		}
		rp := block(tf, "required_providers")
		if rp == nil {
			continue
		}
		for name, a := range rp.Attributes {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("required provider %s: %v", name, diags)
			}
			out = append(out, name+"="+v.GetAttr("source").AsString()+"@"+v.GetAttr("version").AsString())
		}
	}
	slices.Sort(out)
	return out
}

// The resources of terraform/ when it was a root configuration, before it
// became a module, and whether each had count or for_each there. The basic
// example must get all of them, and moved.tf must move each into the
// module, so that a deployment of that time upgrades without a
// replacement.
var oldRootResources = map[string]bool{
	"google_artifact_registry_repository.functions":                          false,
	"google_artifact_registry_repository_iam_member.build_writer":            false,
	"google_cloud_run_v2_service_iam_member.public_invoker":                  false,
	"google_cloudfunctions2_function.webhook":                                false,
	"google_firestore_database.ledger":                                       true,
	"google_firestore_field.ledger_expire_at":                                false,
	"google_logging_metric.deliveries":                                       false,
	"google_logging_metric.latency":                                          false,
	"google_logging_metric.quarantined":                                      false,
	"google_logging_metric.verification_failures":                            false,
	"google_monitoring_alert_policy.dead_letter_backlog":                     false,
	"google_monitoring_alert_policy.error_rate":                              false,
	"google_monitoring_alert_policy.quarantine_backlog":                      false,
	"google_monitoring_alert_policy.verification_failures":                   false,
	"google_monitoring_dashboard.main":                                       false,
	"google_project_iam_member.build_log_writer":                             false,
	"google_project_iam_member.build_object_viewer":                          false,
	"google_project_iam_member.function_datastore_user":                      false,
	"google_project_iam_member.function_trace_agent":                         true,
	"google_project_service.required":                                        true,
	"google_pubsub_subscription.dead_letter":                                 false,
	"google_pubsub_subscription.example":                                     true,
	"google_pubsub_subscription.quarantine":                                  false,
	"google_pubsub_subscription_iam_member.dead_letter_subscriber":           true,
	"google_pubsub_topic.dead_letter":                                        false,
	"google_pubsub_topic.events":                                             false,
	"google_pubsub_topic.kind":                                               true,
	"google_pubsub_topic.quarantine":                                         false,
	"google_pubsub_topic_iam_member.dead_letter_publisher":                   false,
	"google_pubsub_topic_iam_member.function_publisher":                      true,
	"google_secret_manager_secret.route_tokens":                              true,
	"google_secret_manager_secret.signing":                                   true,
	"google_secret_manager_secret_iam_member.function_accessor":              true,
	"google_secret_manager_secret_iam_member.function_route_tokens_accessor": true,
	"google_secret_manager_secret_iam_member.function_route_tokens_viewer":   true,
	"google_secret_manager_secret_iam_member.function_viewer":                true,
	"google_service_account.build":                                           false,
	"google_service_account.function":                                        false,
	"google_storage_bucket.source":                                           false,
	"google_storage_bucket_object.source":                                    false,
}

// traversalString renders an absolute traversal as Terraform writes an
// address: a.b.c, a.b[0], a.b["k"].
func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				fmt.Fprintf(&b, "[%s]", s.Key.AsBigFloat().Text('f', 0))
			}
		}
	}
	return b.String()
}

// moves lists the moved blocks of m as from -> to.
func moves(t *testing.T, m *module) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range m.moved {
		var ends [2]string
		for i, name := range []string{"from", "to"} {
			a := b.Body.Attributes[name]
			if a == nil {
				t.Fatalf("%s: moved block without %s", b.TypeRange, name)
			}
			tr, diags := hcl.AbsTraversalForExpr(a.Expr)
			if diags.HasErrors() {
				t.Fatalf("%s: %s is not an address: %v", b.TypeRange, name, diags)
			}
			ends[i] = traversalString(tr)
		}
		if _, dup := out[ends[0]]; dup {
			t.Errorf("%s is moved twice", ends[0])
		}
		out[ends[0]] = ends[1]
	}
	return out
}

// The basic example declares nothing but the module, so the resources it
// gets are the module's; those include every resource the old root
// declared, at the same address inside module.geminihook, and moved.tf
// moves each of them there (to instance [0] where the module added count).
func TestBasicExampleGetsTheOldRootResources(t *testing.T) {
	mod := mustLoad(t)
	ex := mustLoadDir(t, "examples/basic")
	if len(ex.resources)+len(ex.data) != 0 || ex.modules["geminihook"] == nil {
		t.Fatalf("the basic example declares %v %v and modules %v; want the module geminihook alone", sortedKeys(ex.resources), sortedKeys(ex.data), sortedKeys(ex.modules))
	}
	if call := ex.modules["geminihook"].Body; call.Attributes["count"] != nil || call.Attributes["for_each"] != nil {
		t.Fatal("the basic example's module has count or for_each: its resources would not be at module.geminihook.<address>")
	}
	got := moves(t, ex)
	for _, addr := range sortedKeys(oldRootResources) {
		b := mod.resources[addr]
		if b == nil {
			t.Errorf("the module lost %s, which the old root declared", addr)
			continue
		}
		want := "module.geminihook." + addr
		if !oldRootResources[addr] && (b.Body.Attributes["count"] != nil || b.Body.Attributes["for_each"] != nil) {
			want += "[0]" // count added in the module: the old single instance is [0]
		}
		switch to, ok := got[addr]; {
		case !ok:
			t.Errorf("no moved block from %s", addr)
		case to != want:
			t.Errorf("moved from %s to %s, want %s", addr, to, want)
		}
	}
	for from := range got {
		if _, ok := oldRootResources[from]; !ok {
			t.Errorf("moved block from %s, which the old root did not declare", from)
		}
	}
}

// The basic example passes its variables to the module unchanged: each
// argument var.<same name>, with the module's type and default, so that
// the example behaves as the module documents.
func TestBasicExamplePassesItsVariablesThrough(t *testing.T) {
	mod := mustLoad(t)
	ex := mustLoadDir(t, "examples/basic")
	call := ex.modules["geminihook"].Body
	typeText := func(m *module, v *hclsyntax.Block) string {
		a := v.Body.Attributes["type"]
		for name, src := range m.src {
			if a.SrcRange.Filename == name {
				return strings.Join(strings.Fields(string(src[a.Expr.Range().Start.Byte:a.Expr.Range().End.Byte])), "")
			}
		}
		return ""
	}
	passed := map[string]bool{}
	for _, name := range sortedKeys(call.Attributes) {
		if name == "source" {
			continue
		}
		if !refersTo(call.Attributes[name].Expr, "var", name) || len(call.Attributes[name].Expr.Variables()) != 1 {
			t.Errorf("module argument %s is not var.%s", name, name)
			continue
		}
		passed[name] = true
		ev, mv := ex.variables[name], mod.variables[name]
		if ev == nil || mv == nil {
			t.Errorf("variable %s: in the example %v, in the module %v", name, ev != nil, mv != nil)
			continue
		}
		if a, b := typeText(ex, ev), typeText(mod, mv); a != b {
			t.Errorf("variable %s: type %s in the example, %s in the module", name, a, b)
		}
		ed, md := ev.Body.Attributes["default"], mv.Body.Attributes["default"]
		switch {
		case name == "project_id":
			if ed != nil {
				t.Error("project_id has a default in the example")
			}
		case ed == nil || md == nil:
			t.Errorf("variable %s: a default in the example %v, in the module %v", name, ed != nil, md != nil)
		default:
			a, _ := ed.Expr.Value(nil)
			b, _ := md.Expr.Value(nil)
			if !a.RawEquals(b) {
				t.Errorf("variable %s: default %#v in the example, %#v in the module", name, a, b)
			}
		}
	}
	for _, name := range sortedKeys(ex.variables) {
		if !passed[name] {
			t.Errorf("the example's variable %s is not passed to the module", name)
		}
	}
	if !passed["project_id"] || !passed["region"] {
		t.Error("project_id and region are not passed to the module")
	}
}

// Every output of the module is an output of the basic example, under the
// same name, so that the README's `terraform output -raw …` commands work
// there.
func TestBasicExampleOutputsEveryModuleOutput(t *testing.T) {
	mod := mustLoad(t)
	ex := mustLoadDir(t, "examples/basic")
	for _, name := range sortedKeys(mod.outputs) {
		o := ex.outputs[name]
		if o == nil {
			t.Errorf("the basic example has no output %s", name)
			continue
		}
		tr, diags := hcl.AbsTraversalForExpr(o.Body.Attributes["value"].Expr)
		if diags.HasErrors() || traversalString(tr) != "module.geminihook."+name {
			t.Errorf("output %s is not module.geminihook.%s", name, name)
		}
		if (o.Body.Attributes["sensitive"] != nil) != (mod.outputs[name].Body.Attributes["sensitive"] != nil) {
			t.Errorf("output %s: sensitive differs from the module's", name)
		}
	}
	for _, name := range sortedKeys(ex.outputs) {
		if mod.outputs[name] == nil {
			t.Errorf("the basic example's output %s is no output of the module", name)
		}
	}
}

// ----------------------------------------------------------------- names ---

// The attribute that names a resource of each type, in the project (or in
// its scope: a subscription's name, a bucket's, a secret's id).
var nameAttributes = map[string]string{
	"google_pubsub_topic":                 "name",
	"google_pubsub_subscription":          "name",
	"google_secret_manager_secret":        "secret_id",
	"google_service_account":              "account_id",
	"google_firestore_database":           "name",
	"google_logging_metric":               "name",
	"google_monitoring_alert_policy":      "display_name",
	"google_monitoring_dashboard":         "dashboard_json",
	"google_storage_bucket":               "name",
	"google_artifact_registry_repository": "repository_id",
	"google_cloudfunctions2_function":     "name",
	"google_cloud_run_v2_service":         "name",
	"google_cloud_scheduler_job":          "name",
	"google_cloudbuild_trigger":           "name",
}

// unnamed reports resource types that give nothing a name of its own:
// grants, enabled APIs, a field of a named database, an object in a named
// bucket.
func unnamed(typ string) bool {
	return strings.HasSuffix(typ, "_iam_member") || slices.Contains([]string{
		"google_project_service", "google_firestore_field", "google_storage_bucket_object",
	}, typ)
}

// everythingOn turns on every optional part of the module, so that the
// name checks see every resource.
var everythingOn = map[string]cty.Value{
	"per_kind_topics":              cty.True,
	"per_request_webhooks":         cty.True,
	"create_example_subscriptions": cty.True,
	"create_firestore_database":    cty.True,
	"trace_sample_ratio":           cty.NumberFloatVal(0.1),
	"webhook_watch":                cty.ObjectVal(map[string]cty.Value{"enabled": cty.True}),
	"cloud_build": cty.ObjectVal(map[string]cty.Value{
		"github":       cty.ObjectVal(map[string]cty.Value{"owner": cty.StringVal("example"), "name": cty.StringVal("geminihook")}),
		"state_bucket": cty.StringVal("example-tfstate"),
	}),
}

// variants are the module's mutually exclusive configurations, each with
// everything on; the name checks run on each.
var variants = map[string]map[string]cty.Value{
	"function":  {"deploy_as": cty.StringVal("function")},
	"cloud_run": {"deploy_as": cty.StringVal("cloud_run")},
}

func withOverrides(maps ...map[string]cty.Value) map[string]cty.Value {
	out := map[string]cty.Value{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// instanceNames evaluates the name of every resource the module creates
// with the given variables (count and for_each expanded), and the archive
// the module writes, as "type name" -> addresses.
func instanceNames(t *testing.T, m *module, overrides map[string]cty.Value) map[string][]string {
	t.Helper()
	names := map[string][]string{}
	add := func(key, addr string) { names[key] = append(names[key], addr) }
	for _, addr := range sortedKeys(m.resources) {
		typ := strings.SplitN(addr, ".", 2)[0]
		if unnamed(typ) {
			continue
		}
		attr, ok := nameAttributes[typ]
		if !ok {
			t.Errorf("%s: which attribute names a %s? Add it to nameAttributes (or to unnamed)", addr, typ)
			continue
		}
		body := m.resources[addr].Body
		for _, inst := range m.instances(t, body, overrides) {
			v := m.evalResolved(t, body.Attributes[attr].Expr, overrides, inst, 0)
			name := v.AsString()
			if typ == "google_monitoring_dashboard" {
				var d struct{ DisplayName string }
				if err := json.Unmarshal([]byte(name), &d); err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				name = d.DisplayName
			}
			ns := typ
			if typ == "google_cloudfunctions2_function" || typ == "google_cloud_run_v2_service" {
				ns = "Cloud Run service" // a function is a Cloud Run service of the same name
			}
			add(ns+" "+name, addr)
		}
	}
	if a := m.data["archive_file.source"]; a != nil {
		add("archive "+m.evalResolved(t, a.Body.Attributes["output_path"].Expr, overrides, nil, 0).AsString(), "data.archive_file.source")
	}
	return names
}

// instances lists the extra values (each, count) of every instance of a
// resource: none with count = 0, one without count or for_each.
func (m *module) instances(t *testing.T, body *hclsyntax.Body, overrides map[string]cty.Value) []map[string]cty.Value {
	t.Helper()
	if a := body.Attributes["count"]; a != nil {
		n := mustInt(t, m.evalResolved(t, a.Expr, overrides, nil, 0))
		var out []map[string]cty.Value
		for i := int64(0); i < n; i++ {
			out = append(out, map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})})
		}
		return out
	}
	if a := body.Attributes["for_each"]; a != nil {
		coll := m.evalResolved(t, a.Expr, overrides, nil, 0)
		var out []map[string]cty.Value
		for it := coll.ElementIterator(); it.Next(); {
			k, v := it.Element()
			if coll.Type().IsSetType() {
				k = v
			}
			out = append(out, map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})})
		}
		return out
	}
	return []map[string]cty.Value{{}}
}

// evalResolved evaluates expr (and the locals it uses) with the variables'
// defaults and overrides, reading resource attributes from the
// configuration itself: type.name.attr is the resource's own attr
// expression, evaluated the same way (for the instance indexed), so that a
// name built from another resource's name comes out as Terraform would
// make it. An attribute the configuration does not set (id, email, url) is
// a stand-in holding the resource's name.
func (m *module) evalResolved(t *testing.T, expr hclsyntax.Expression, overrides map[string]cty.Value, extra map[string]cty.Value, depth int) cty.Value {
	t.Helper()
	if depth > 8 {
		t.Fatalf("%s: resources refer to each other too deeply", expr.Range())
	}
	ctx, err := m.evalContext(withProject(overrides), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range dataStubs {
		ctx.Variables[k] = v
	}
	ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal("."), "root": cty.StringVal(".")})
	for k, v := range extra {
		ctx.Variables[k] = v
	}
	// Every resource reference of expr and of the locals it uses.
	type ref struct {
		typ, name string
		key       cty.Value // NilVal: no index
		attr      string    // "": the whole resource
	}
	var refs []ref
	seen := map[string]bool{}
	var walk func(hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		for _, tr := range e.Variables() {
			root := tr.RootName()
			if root == "local" && len(tr) > 1 {
				name := tr[1].(hcl.TraverseAttr).Name
				if !seen[name] && m.locals[name] != nil {
					seen[name] = true
					walk(m.locals[name].Expr)
				}
				continue
			}
			if m.resourcesOfType(root) == 0 || len(tr) < 2 {
				continue
			}
			r := ref{typ: root, name: tr[1].(hcl.TraverseAttr).Name, key: cty.NilVal}
			rest := tr[2:]
			if len(rest) > 0 {
				if ix, ok := rest[0].(hcl.TraverseIndex); ok {
					r.key, rest = ix.Key, rest[1:]
				}
			}
			if len(rest) > 0 {
				if a, ok := rest[0].(hcl.TraverseAttr); ok {
					r.attr = a.Name
				}
			}
			refs = append(refs, r)
		}
	}
	walk(expr)

	// attrs evaluates one instance's attributes: the one asked for, or
	// (for a whole-resource reference) its name and id.
	attrs := func(r ref, inst map[string]cty.Value) map[string]cty.Value {
		body := m.resources[r.typ+"."+r.name].Body
		want := []string{r.attr}
		if r.attr == "" {
			want = []string{"name", "id"}
		}
		out := map[string]cty.Value{}
		for _, a := range want {
			if attr := body.Attributes[a]; attr != nil {
				out[a] = m.evalResolved(t, attr.Expr, overrides, inst, depth+1)
				continue
			}
			own := r.typ + "." + r.name
			if na := body.Attributes[nameAttributes[r.typ]]; na != nil {
				own = m.evalResolved(t, na.Expr, overrides, inst, depth+1).AsString()
			}
			out[a] = cty.StringVal(a + "(" + own + ")")
		}
		return out
	}
	objs := map[string]map[string]cty.Value{} // type -> name -> value
	for _, r := range refs {
		body := m.resources[r.typ+"."+r.name]
		if body == nil {
			continue // referenceProblems reports it
		}
		if objs[r.typ] == nil {
			objs[r.typ] = map[string]cty.Value{}
		}
		insts := m.instances(t, body.Body, overrides)
		repeated := body.Body.Attributes["count"] != nil || body.Body.Attributes["for_each"] != nil
		switch {
		case !repeated:
			prev := map[string]cty.Value{}
			if v, ok := objs[r.typ][r.name]; ok {
				prev = v.AsValueMap()
			}
			for k, v := range attrs(r, nil) {
				prev[k] = v
			}
			objs[r.typ][r.name] = cty.ObjectVal(prev)
		case body.Body.Attributes["count"] != nil:
			var elems []cty.Value
			for _, inst := range insts {
				elems = append(elems, cty.ObjectVal(attrs(r, inst)))
			}
			if len(elems) == 0 {
				objs[r.typ][r.name] = cty.EmptyTupleVal
			} else {
				objs[r.typ][r.name] = cty.TupleVal(elems)
			}
		default:
			keyed := map[string]cty.Value{}
			for _, inst := range insts {
				keyed[inst["each"].GetAttr("key").AsString()] = cty.ObjectVal(attrs(r, inst))
			}
			objs[r.typ][r.name] = cty.ObjectVal(keyed)
		}
	}
	for typ, byName := range objs {
		ctx.Variables[typ] = cty.ObjectVal(byName)
	}
	v, err := m.evalWithLocals(expr, ctx)
	if err != nil {
		t.Fatalf("%s: %v", expr.Range(), err)
	}
	return v
}

// duplicates lists the names given to more than one resource instance.
func duplicates(names map[string][]string) []string {
	var out []string
	for _, k := range sortedKeys(names) {
		if len(names[k]) > 1 {
			out = append(out, fmt.Sprintf("%s (%s)", k, strings.Join(names[k], ", ")))
		}
	}
	return out
}

// Within one instance, no two resources share a name.
func TestResourceNamesAreDistinct(t *testing.T) {
	m := mustLoad(t)
	for variant, v := range variants {
		names := instanceNames(t, m, withOverrides(everythingOn, v))
		if len(names) < 20 {
			t.Errorf("%s: only %d names: %v", variant, len(names), sortedKeys(names))
		}
		for _, d := range duplicates(names) {
			t.Errorf("%s: %s", variant, d)
		}
	}
}

// Two instances with different names share no resource name: every name
// derives from var.name. Checked for a spread of name pairs, the defaults
// included; "gemini" is refused, since its topic would be the default
// instance's (gemini-job-events).
func TestNamesDeriveFromTheName(t *testing.T) {
	m := mustLoad(t)
	pairs := [][2]string{
		{"geminihook", "geminihook-staging"},
		{"geminihook", "geminihook2"},
		{"prod", "staging"},
		{"abcd", "abcd-1"},
		{"geminihook", "gemini-job"},
		{"geminihook", "geminihook-plan"},
		{"geminihook", "geminihook-deploy"},
	}
	for variant, v := range variants {
		for _, p := range pairs {
			a := instanceNames(t, m, withOverrides(everythingOn, v, map[string]cty.Value{"name": cty.StringVal(p[0])}))
			b := instanceNames(t, m, withOverrides(everythingOn, v, map[string]cty.Value{"name": cty.StringVal(p[1])}))
			for k := range a {
				if _, clash := b[k]; clash {
					t.Errorf("%s: names %q and %q both make %s", variant, p[0], p[1], k)
				}
			}
		}
	}
	// Refused: the default instance's topic, and the names of an
	// instance's other Cloud Run services.
	for _, bad := range []string{"gemini", "geminihook-run", "geminihook-watch"} {
		if validationAccepts(t, m, "name", cty.StringVal(bad)) {
			t.Errorf("name %q is accepted; another instance's resource has its name", bad)
		}
	}
}

// Service account ids are 6 to 30 characters: with the longest and the
// shortest names the validation allows, every account id still fits.
func TestServiceAccountIDsFitEveryName(t *testing.T) {
	m := mustLoad(t)
	accountID := regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	for _, name := range []string{"abcd", "a" + strings.Repeat("b", 18) + "c", "geminihook"} {
		if !validationAccepts(t, m, "name", cty.StringVal(name)) {
			t.Fatalf("the name validation refuses %q", name)
		}
		for variant, v := range variants {
			n := 0
			for key := range instanceNames(t, m, withOverrides(everythingOn, v, map[string]cty.Value{"name": cty.StringVal(name)})) {
				id, ok := strings.CutPrefix(key, "google_service_account ")
				if !ok {
					continue
				}
				n++
				if !accountID.MatchString(id) {
					t.Errorf("%s, name %q: account id %q is not 6-30 lowercase letters, digits and hyphens", variant, name, id)
				}
			}
			if n < 2 {
				t.Errorf("%s: %d service accounts", variant, n)
			}
		}
	}
	for _, bad := range []string{"a" + strings.Repeat("b", 19) + "c", "abc", "Geminihook", "9hooks", "hook-"} {
		if validationAccepts(t, m, "name", cty.StringVal(bad)) {
			t.Errorf("the name validation accepts %q", bad)
		}
	}
}

// The two-environments example calls the module with for_each: its module
// block is well-formed (source, for_each over the environments, every
// argument a variable of the module), and the names the two instances give
// their resources, evaluated for both keys, never meet.
func TestTwoEnvironmentsShareNoName(t *testing.T) {
	mod := mustLoad(t)
	ex := mustLoadDir(t, "examples/two-environments")
	call := ex.modules["geminihook"]
	if call == nil || call.Body.Attributes["for_each"] == nil {
		t.Fatal("no module \"geminihook\" with for_each")
	}
	ctx, err := ex.evalContext(map[string]cty.Value{"project_id": cty.StringVal("example-project")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	envs, diags := call.Body.Attributes["for_each"].Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("for_each: %v", diags)
	}
	if envs.LengthInt() < 2 {
		t.Fatalf("for_each has %d environments, want at least two", envs.LengthInt())
	}
	type instance struct {
		key   string
		args  map[string]cty.Value
		names map[string][]string
	}
	var insts []instance
	for it := envs.ElementIterator(); it.Next(); {
		k, v := it.Element()
		ctx.Variables["each"] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})
		args := map[string]cty.Value{}
		for _, name := range sortedKeys(call.Body.Attributes) {
			switch name {
			case "source", "for_each":
				continue
			}
			val, diags := call.Body.Attributes[name].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("%s: argument %s: %v", k.AsString(), name, diags)
			}
			if mod.variables[name] == nil {
				t.Errorf("argument %s is no variable of the module", name)
				continue
			}
			if !validationAccepts(t, mod, name, val) {
				t.Errorf("%s: the module refuses %s = %#v", k.AsString(), name, val)
			}
			args[name] = val
		}
		if args["name"].IsNull() || !args["name"].IsKnown() {
			t.Fatalf("%s: no name", k.AsString())
		}
		for variant, vv := range variants {
			names := instanceNames(t, mod, withOverrides(everythingOn, vv, args))
			for _, d := range duplicates(names) {
				t.Errorf("%s, %s: %s", k.AsString(), variant, d)
			}
			insts = append(insts, instance{k.AsString() + "/" + variant, args, names})
		}
	}
	for i := range insts {
		for j := range insts {
			a, b := insts[i], insts[j]
			if strings.SplitN(a.key, "/", 2)[0] >= strings.SplitN(b.key, "/", 2)[0] {
				continue // the same environment, or the pair seen already
			}
			if a.args["name"].AsString() == b.args["name"].AsString() {
				t.Errorf("environments %s and %s are both named %s", a.key, b.key, a.args["name"].AsString())
			}
			for k := range a.names {
				if _, clash := b.names[k]; clash {
					t.Errorf("environments %s and %s both make %s", a.key, b.key, k)
				}
			}
		}
	}
}

// ---------------------------------------------------------------- labels ---

// Resource types that take labels, and the attribute they take them in.
var labelAttributes = map[string]string{
	"google_pubsub_topic":                 "labels",
	"google_pubsub_subscription":          "labels",
	"google_secret_manager_secret":        "labels",
	"google_storage_bucket":               "labels",
	"google_artifact_registry_repository": "labels",
	"google_cloudfunctions2_function":     "labels",
	"google_cloud_run_v2_service":         "labels",
	"google_monitoring_alert_policy":      "user_labels",
}

// Types that take no labels (or whose labels would say nothing).
var unlabeled = []string{
	"google_project_service", "google_service_account", "google_storage_bucket_object",
	"google_firestore_database", "google_firestore_field", "google_logging_metric",
	"google_monitoring_dashboard", "google_cloud_scheduler_job", "google_cloudbuild_trigger",
}

// A module has no provider whose default_labels could label everything:
// each resource that takes labels gets local.labels (var.labels).
func TestLabelsOnEveryResourceThatTakesThem(t *testing.T) {
	m := mustLoad(t)
	for _, addr := range sortedKeys(m.resources) {
		typ := strings.SplitN(addr, ".", 2)[0]
		attr, ok := labelAttributes[typ]
		switch {
		case strings.HasSuffix(typ, "_iam_member") || slices.Contains(unlabeled, typ):
		case !ok:
			t.Errorf("%s: does a %s take labels? Add it to labelAttributes or unlabeled", addr, typ)
		default:
			a := m.resources[addr].Body.Attributes[attr]
			if a == nil || !refersTo(a.Expr, "local", "labels") {
				t.Errorf("%s: %s is not local.labels", addr, attr)
			}
		}
	}
	if got := evalWith(t, m, m.locals["labels"].Expr, map[string]cty.Value{"labels": cty.MapVal(map[string]cty.Value{"team": cty.StringVal("ml")})}, nil); !got.Equals(cty.MapVal(map[string]cty.Value{"team": cty.StringVal("ml")})).True() {
		t.Errorf("local.labels = %#v, want var.labels", got)
	}
}
