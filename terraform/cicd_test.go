package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The Cloud Build triggers of var.cloud_build and their service accounts.

func githubBuild() map[string]cty.Value {
	return map[string]cty.Value{"cloud_build": cty.ObjectVal(map[string]cty.Value{
		"github":       cty.ObjectVal(map[string]cty.Value{"owner": cty.StringVal("example"), "name": cty.StringVal("geminihook")}),
		"state_bucket": cty.StringVal("example-tfstate"),
	})}
}

func repositoryBuild() map[string]cty.Value {
	return map[string]cty.Value{"cloud_build": cty.ObjectVal(map[string]cty.Value{
		"repository":   cty.StringVal("projects/example-project/locations/europe-west1/connections/github/repositories/geminihook"),
		"state_bucket": cty.StringVal("example-tfstate"),
		"branch":       cty.StringVal("release.1"),
	})}
}

// count evaluates a resource's count (1 without one).
func count(t *testing.T, m *module, addr string, overrides map[string]cty.Value) int64 {
	t.Helper()
	a := mustResource(t, m, addr).Attributes["count"]
	if a == nil {
		return 1
	}
	return mustInt(t, evalWith(t, m, a.Expr, overrides, nil))
}

// grantsTo lists the roles granted to the member that refers to local.name,
// by resource, evaluated with overrides (count and for_each expanded).
func grantsTo(t *testing.T, m *module, local string, overrides map[string]cty.Value) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, addr := range sortedKeys(m.resources) {
		b := m.resources[addr].Body
		if !strings.HasSuffix(strings.SplitN(addr, ".", 2)[0], "_iam_member") || b.Attributes["member"] == nil || !refersTo(b.Attributes["member"].Expr, "local", local) {
			continue
		}
		for _, inst := range m.instances(t, b, overrides) {
			role := m.evalResolved(t, b.Attributes["role"].Expr, overrides, inst, 0).AsString()
			out[addr] = append(out[addr], role)
		}
	}
	return out
}

func TestCloudBuildIsOffByDefault(t *testing.T) {
	m := mustLoad(t)
	for _, addr := range sortedKeys(m.resources) {
		if !strings.Contains(addr, ".ci_") && !strings.HasPrefix(addr, "google_cloudbuild_trigger.") {
			continue
		}
		if len(m.instances(t, m.resources[addr].Body, nil)) != 0 {
			t.Errorf("%s exists without cloud_build", addr)
		}
	}
	if n := len(instanceNames(t, m, nil)); n == 0 {
		t.Fatal("no names")
	}
}

// A pull request runs the plan-only build as the plan account; a push to
// the branch runs the applying build as the deploy account, behind an
// approval. Both run the repository's cloudbuild.yaml with substitutions it
// declares, on the configured GitHub repository (1st gen, global) or
// 2nd-gen repository (in its region).
func TestCloudBuildTriggers(t *testing.T) {
	m := mustLoad(t)
	cb, _ := loadCloudBuild(t)
	pr := mustResource(t, m, "google_cloudbuild_trigger.pull_request")
	deploy := mustResource(t, m, "google_cloudbuild_trigger.deploy")
	if ac := block(deploy, "approval_config"); ac == nil {
		t.Error("the deploy trigger has no approval_config")
	} else if v, _ := ac.Attributes["approval_required"].Expr.Value(nil); !v.True() {
		t.Error("the deploy trigger does not require approval")
	}
	if block(pr, "approval_config") != nil {
		t.Error("the pull request trigger waits for an approval: it changes nothing")
	}
	if !refersTo(pr.Attributes["service_account"].Expr, "google_service_account", "ci_plan") {
		t.Error("pull requests do not run as the plan account")
	}
	if !refersTo(deploy.Attributes["service_account"].Expr, "google_service_account", "ci_deploy") {
		t.Error("the branch does not run as the deploy account")
	}
	for name, tt := range map[string]struct {
		overrides        map[string]cty.Value
		event            string // github or repository_event_config
		location, branch string
	}{
		"github":     {githubBuild(), "github", "global", "^main$"},
		"repository": {repositoryBuild(), "repository_event_config", "europe-west1", `^release\.1$`},
	} {
		for addr, want := range map[string]struct{ apply, on string }{
			"google_cloudbuild_trigger.pull_request": {"false", "pull_request"},
			"google_cloudbuild_trigger.deploy":       {"true", "push"},
		} {
			body := mustResource(t, m, addr)
			if count(t, m, addr, tt.overrides) != 1 {
				t.Fatalf("%s: %s is not created", name, addr)
			}
			subs := evalWith(t, m, body.Attributes["substitutions"].Expr, tt.overrides, nil).AsValueMap()
			if subs["_APPLY"].AsString() != want.apply {
				t.Errorf("%s: %s sets _APPLY=%s, want %s", name, addr, subs["_APPLY"].AsString(), want.apply)
			}
			for k, v := range subs {
				if _, ok := cb.Substitutions[k]; !ok {
					t.Errorf("%s: %s sets %s, which cloudbuild.yaml does not declare", name, addr, k)
				}
				if k == "_TF_DIR" {
					if fi, err := os.Stat(filepath.Join("..", v.AsString())); err != nil || !fi.IsDir() {
						t.Errorf("%s: _TF_DIR %s is not a directory of the repository", name, v.AsString())
					}
				}
			}
			if subs["_TF_STATE_BUCKET"].AsString() != "example-tfstate" || subs["_TF_STATE_PREFIX"].AsString() != "geminihook" {
				t.Errorf("%s: state %s/%s", name, subs["_TF_STATE_BUCKET"].AsString(), subs["_TF_STATE_PREFIX"].AsString())
			}
			file := evalWith(t, m, body.Attributes["filename"].Expr, tt.overrides, nil).AsString()
			if _, err := os.Stat(filepath.Join("..", file)); err != nil {
				t.Errorf("%s: the trigger runs %s: %v", name, file, err)
			}
			if loc := evalWith(t, m, body.Attributes["location"].Expr, tt.overrides, nil).AsString(); loc != tt.location {
				t.Errorf("%s: %s in %s, want %s", name, addr, loc, tt.location)
			}
			// The event block: a dynamic block present for this source only.
			var events []string
			for _, b := range body.Blocks {
				if b.Type != "dynamic" {
					continue
				}
				n := evalWith(t, m, b.Body.Attributes["for_each"].Expr, tt.overrides, nil).LengthInt()
				if n > 0 {
					events = append(events, b.Labels[0])
				}
				content := block(b.Body, "content")
				on := block(content, want.on)
				if on == nil {
					t.Errorf("%s: %s's %s block has no %s", name, addr, b.Labels[0], want.on)
					continue
				}
				if n > 0 {
					if got := evalWith(t, m, on.Attributes["branch"].Expr, tt.overrides, nil).AsString(); got != tt.branch {
						t.Errorf("%s: %s runs on branch %q, want %q", name, addr, got, tt.branch)
					}
					if re := regexp.MustCompile(tt.branch); !re.MatchString(strings.Trim(strings.ReplaceAll(tt.branch, `\`, ""), "^$")) || re.MatchString("feature/x") {
						t.Errorf("%s: branch regex %q", name, tt.branch)
					}
				}
				if want.on == "pull_request" {
					if cc, _ := literalString(on.Attributes["comment_control"]); cc != "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY" {
						t.Errorf("%s: pull requests of outside contributors run without a collaborator's /gcbrun (comment_control %q)", addr, cc)
					}
				}
			}
			if !slices.Equal(events, []string{tt.event}) {
				t.Errorf("%s: %s listens to %v, want [%s]", name, addr, events, tt.event)
			}
		}
	}
	// Exactly one source: both or neither are refused, and so is a bad id.
	bad := []cty.Value{
		cty.ObjectVal(map[string]cty.Value{"state_bucket": cty.StringVal("b")}),
		cty.ObjectVal(map[string]cty.Value{
			"github":       cty.ObjectVal(map[string]cty.Value{"owner": cty.StringVal("o"), "name": cty.StringVal("n")}),
			"repository":   cty.StringVal("projects/p/locations/l/connections/c/repositories/r"),
			"state_bucket": cty.StringVal("bucket"),
		}),
		cty.ObjectVal(map[string]cty.Value{"repository": cty.StringVal("geminihook/geminihook"), "state_bucket": cty.StringVal("bucket")}),
	}
	for _, v := range bad {
		if validationAccepts(t, m, "cloud_build", v) {
			t.Errorf("cloud_build = %#v is accepted", v)
		}
	}
	for _, good := range []map[string]cty.Value{githubBuild(), repositoryBuild(), {"cloud_build": cty.NullVal(cty.DynamicPseudoType)}} {
		if !validationAccepts(t, m, "cloud_build", good["cloud_build"]) {
			t.Errorf("cloud_build = %#v is refused", good["cloud_build"])
		}
	}
}

// The plan account reads and logs, nothing more: its builds run code no
// one has reviewed yet.
func TestPlanAccountChangesNothing(t *testing.T) {
	m := mustLoad(t)
	for _, deployAs := range []string{"function", "cloud_run"} {
		o := withOverrides(githubBuild(), map[string]cty.Value{"deploy_as": cty.StringVal(deployAs)})
		var got []string
		for addr, roles := range grantsTo(t, m, "ci_plan_member", o) {
			for _, r := range roles {
				got = append(got, strings.SplitN(addr, ".", 2)[0]+" "+r)
			}
		}
		slices.Sort(got)
		want := []string{
			"google_project_iam_member roles/browser",
			"google_project_iam_member roles/logging.logWriter",
			"google_storage_bucket_iam_member roles/storage.objectViewer",
		}
		if deployAs == "cloud_run" {
			want = append(want, "google_project_iam_member roles/run.viewer")
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("deploy_as = %s: the plan account holds %q, want %q", deployAs, got, want)
		}
	}
	state := mustResource(t, m, "google_storage_bucket_iam_member.ci_plan_state")
	if got := evalWith(t, m, state.Attributes["bucket"].Expr, githubBuild(), nil).AsString(); got != "example-tfstate" {
		t.Errorf("the plan account reads bucket %q, want the state bucket", got)
	}
}

// The deploy account holds the roles an apply needs, as the README lists
// them; project IAM only for the roles the module itself grants on the
// project; storage only on the source buckets (and the state bucket);
// actAs on the module's own service accounts, every one of them.
func TestDeployAccountIsScoped(t *testing.T) {
	m := mustLoad(t)
	o := githubBuild()
	grants := grantsTo(t, m, "ci_deploy_member", o)
	var project []string
	for addr, roles := range grants {
		if strings.HasPrefix(addr, "google_project_iam_member.") {
			project = append(project, roles...)
		}
	}
	slices.Sort(project)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "### Deployer roles"):]
	section = section[:strings.Index(section, "\n## ")]
	for _, r := range project {
		if !strings.Contains(section, "`"+r+"`") {
			t.Errorf("the deploy account holds %s, which the README's Deployer roles do not name", r)
		}
		if strings.Contains(r, "storage.") && grants["google_project_iam_member.ci_deploy_storage"] == nil {
			t.Errorf("storage role %s outside the conditioned grant", r)
		}
	}
	if slices.Contains(project, "roles/iam.serviceAccountUser") {
		t.Error("the deploy account may act as every service account of the project")
	}

	// Project IAM: the roles in the condition are exactly those the module
	// grants on the project to anyone but the deploy account.
	cond := block(mustResource(t, m, "google_project_iam_member.ci_deploy_project_iam"), "condition")
	cel := evalWith(t, m, cond.Attributes["expression"].Expr, o, nil).AsString()
	list := regexp.MustCompile(`^api\.getAttribute\('iam\.googleapis\.com/modifiedGrantsByRole', \[\]\)\.hasOnly\(\[([^\]]*)\]\)$`).FindStringSubmatch(cel)
	if list == nil {
		t.Fatalf("condition %q is not hasOnly over modifiedGrantsByRole", cel)
	}
	var allowed []string
	for _, q := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(list[1], -1) {
		allowed = append(allowed, q[1])
	}
	granted := map[string]bool{}
	for _, variant := range []map[string]cty.Value{{}, cloudRun} {
		all := withOverrides(everythingOn, variant)
		for _, addr := range sortedKeys(m.resources) {
			b := m.resources[addr].Body
			if !strings.HasPrefix(addr, "google_project_iam_member.") || refersTo(b.Attributes["member"].Expr, "local", "ci_deploy_member") {
				continue
			}
			for _, inst := range m.instances(t, b, all) {
				granted[m.evalResolved(t, b.Attributes["role"].Expr, all, inst, 0).AsString()] = true
			}
		}
	}
	slices.Sort(allowed)
	if want := sortedKeys(granted); !slices.Equal(allowed, want) {
		t.Errorf("the deploy account may grant %q on the project; the module grants %q there", allowed, want)
	}
	for _, r := range allowed {
		if strings.Contains(strings.ToLower(r), "admin") || basicRole.MatchString(r) {
			t.Errorf("the deploy account may grant %s", r)
		}
	}

	// Storage: the build's condition (source buckets), and the state bucket.
	sc := block(mustResource(t, m, "google_project_iam_member.ci_deploy_storage"), "condition")
	if sc == nil || !refersTo(sc.Attributes["expression"].Expr, "local", "build_source_condition") {
		t.Error("the deploy account's storage role is not held to the source buckets")
	}
	if got := evalWith(t, m, mustResource(t, m, "google_storage_bucket_iam_member.ci_deploy_state").Attributes["bucket"].Expr, o, nil).AsString(); got != "example-tfstate" {
		t.Errorf("the deploy account writes bucket %q, want the state bucket", got)
	}

	// actAs: one grant per service account of the module.
	actAs := mustResource(t, m, "google_service_account_iam_member.ci_deploy_act_as")
	if r, _ := literalString(actAs.Attributes["role"]); r != "roles/iam.serviceAccountUser" {
		t.Errorf("actAs role %q", r)
	}
	forEach := m.resolveLocal(actAs.Attributes["for_each"].Expr)
	for _, addr := range sortedKeys(m.resources) {
		if name, ok := strings.CutPrefix(addr, "google_service_account."); ok && !refersToDeep(m, forEach, "google_service_account", name) {
			t.Errorf("the deploy account cannot act as %s, which the module deploys with", addr)
		}
	}
}

// refersToDeep is refersTo through the locals expr uses.
func refersToDeep(m *module, expr hclsyntax.Expression, root, name string) bool {
	if refersTo(expr, root, name) {
		return true
	}
	for _, tr := range expr.Variables() {
		if tr.RootName() == "local" && len(tr) > 1 {
			if a := m.locals[traversalString(tr[1:2])[1:]]; a != nil && refersToDeep(m, a.Expr, root, name) {
				return true
			}
		}
	}
	return false
}
