package terraform_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// cloudBuild is the part of a Cloud Build config these tests read.
type cloudBuild struct {
	Steps []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
		Dir        string   `yaml:"dir"`
		Env        []string `yaml:"env"`
		WaitFor    []string `yaml:"waitFor"`
	} `yaml:"steps"`
	Substitutions map[string]string `yaml:"substitutions"`
	Options       map[string]any    `yaml:"options"`
	Timeout       string            `yaml:"timeout"`
}

// Substitutions Cloud Build provides itself.
var builtinSubstitutions = map[string]bool{
	"PROJECT_ID": true, "PROJECT_NUMBER": true, "BUILD_ID": true, "LOCATION": true,
	"TRIGGER_NAME": true, "TRIGGER_BUILD_CONFIG_PATH": true, "COMMIT_SHA": true,
	"SHORT_SHA": true, "REVISION_ID": true, "REPO_NAME": true, "REPO_FULL_NAME": true,
	"BRANCH_NAME": true, "TAG_NAME": true, "REF_NAME": true,
	"SERVICE_ACCOUNT_EMAIL": true, "SERVICE_ACCOUNT": true,
}

func loadCloudBuild(t *testing.T) (cloudBuild, string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cb cloudBuild
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	return cb, string(src)
}

// substitutionProblems finds every $ that Cloud Build would substitute in
// text and reports those it does not know: a shell variable written $name
// instead of $$name would otherwise fail the build (or, with ALLOW_LOOSE,
// silently become empty). It returns the user substitutions used.
func substitutionProblems(text string, declared map[string]string) (used map[string]bool, problems []string) {
	used = map[string]bool{}
	ref := regexp.MustCompile(`^\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			continue
		}
		if strings.HasPrefix(text[i:], "$$") {
			i++
			continue
		}
		m := ref.FindStringSubmatch(text[i:])
		if m == nil {
			problems = append(problems, "bare $ at "+quoteAround(text, i)+" (write $$ for the shell)")
			continue
		}
		name := m[2] + m[3]
		switch _, ok := declared[name]; {
		case ok:
			used[name] = true
		case builtinSubstitutions[name]:
		default:
			problems = append(problems, "unknown substitution $"+name+" at "+quoteAround(text, i)+" (a shell variable must be written $$"+name+")")
		}
	}
	return used, problems
}

func quoteAround(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+20)
	return strings.ReplaceAll(s[lo:hi], "\n", `\n`)
}

func TestCloudBuildSubstitutions(t *testing.T) {
	cb, _ := loadCloudBuild(t)
	var all []string
	for _, s := range cb.Steps {
		all = append(all, s.Name, s.Entrypoint, s.Dir)
		all = append(all, s.Args...)
		all = append(all, s.Env...)
	}
	used, problems := substitutionProblems(strings.Join(all, "\n"), cb.Substitutions)
	for _, p := range problems {
		t.Error(p)
	}
	for name := range cb.Substitutions {
		if !strings.HasPrefix(name, "_") {
			t.Errorf("user substitution %s must start with _", name)
		}
		if !used[name] {
			t.Errorf("substitution %s is declared but never used (Cloud Build rejects that)", name)
		}
	}
	if _, ok := cb.Substitutions["_TF_STATE_BUCKET"]; !ok {
		t.Error("no _TF_STATE_BUCKET substitution")
	}
}

func TestSubstitutionCheckerCatchesShellVariables(t *testing.T) {
	declared := map[string]string{"_REGION": "x"}
	for _, tt := range []struct {
		text string
		bad  bool
	}{
		{"echo ${_REGION} $PROJECT_ID $$HOME $$(date)", false},
		{"echo $HOME", true},
		{"x=$(date)", true},
		{"echo ${_OTHER}", true},
	} {
		_, problems := substitutionProblems(tt.text, declared)
		if got := len(problems) > 0; got != tt.bad {
			t.Errorf("substitutionProblems(%q) = %q, want problems: %v", tt.text, problems, tt.bad)
		}
	}
}

func TestCloudBuildSteps(t *testing.T) {
	cb, _ := loadCloudBuild(t)
	if len(cb.Steps) == 0 {
		t.Fatal("no steps")
	}
	ids := map[string]bool{}
	script := map[string]string{} // id -> everything the step runs
	for i, s := range cb.Steps {
		if s.Name == "" {
			t.Errorf("step %d has no image", i)
		}
		if s.ID == "" || ids[s.ID] {
			t.Errorf("step %d: id %q is empty or repeated", i, s.ID)
		}
		ids[s.ID] = true
		for _, w := range s.WaitFor {
			if w != "-" && !ids[w] {
				t.Errorf("step %s waits for %s, which does not come before it", s.ID, w)
			}
		}
		if s.Dir != "" {
			dir := s.Dir
			for k, v := range cb.Substitutions {
				dir = strings.ReplaceAll(dir, "${"+k+"}", v)
			}
			if fi, err := os.Stat(filepath.Join("..", dir)); err != nil || !fi.IsDir() {
				t.Errorf("step %s runs in %s, which is not a directory of the repository", s.ID, s.Dir)
			}
		}
		entry := s.Entrypoint
		if entry == "" && strings.HasPrefix(s.Name, "hashicorp/terraform") {
			entry = "terraform" // the image's own entrypoint
		}
		script[s.ID] = strings.TrimSpace(strings.Join(append([]string{entry}, s.Args...), " "))
	}

	// What must run, in this order: tests, init with the state bucket,
	// plan, apply, and the smoke check.
	order := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"go vet", regexp.MustCompile(`\bgo vet \./\.\.\.`)},
		{"go test", regexp.MustCompile(`\bgo test\b.* \./\.\.\.`)},
		{"terraform init with the state bucket", regexp.MustCompile(`terraform init\b[\s\S]*-backend-config=bucket=\$\{_TF_STATE_BUCKET\}`)},
		{"gcs backend", regexp.MustCompile(`backend "gcs" \{\}`)},
		{"terraform plan", regexp.MustCompile(`terraform plan -input=false -out=tfplan`)},
		{"terraform apply of the plan", regexp.MustCompile(`terraform apply -input=false tfplan`)},
		{"smoke GET expecting 405", regexp.MustCompile(`curl [\s\S]*= 405`)},
	}
	pos := -1
	for _, o := range order {
		found := -1
		for i, s := range cb.Steps {
			if o.re.MatchString(script[s.ID]) {
				found = i
				break
			}
		}
		switch {
		case found < 0:
			t.Errorf("no step runs %s", o.what)
		case found < pos:
			t.Errorf("%s runs before the step it depends on", o.what)
		default:
			pos = found
		}
	}
}

// substitute applies Cloud Build's substitutions to text: $NAME and ${NAME}
// become their values (the declared defaults, overrides, and the built-in
// ones given), $$ becomes $.
func substitute(text string, values map[string]string) string {
	ref := regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	return ref.ReplaceAllStringFunc(text, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := strings.Trim(m, "${}")
		if v, ok := values[name]; ok {
			return v
		}
		return m
	})
}

// toolchainVersion is go.mod's toolchain version ("toolchain go1.26.10" ->
// "1.26.10"), else its go line.
func toolchainVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "toolchain" {
			return strings.TrimPrefix(f[1], "go")
		}
	}
	return goModVersion(t)
}

// pinnedImage reports whether an image reference names one image for
// good: by digest, or by an exact version tag (1.2.3, optionally with a
// suffix such as -alpine). :latest, a bare name, or a tag such as 1.26 or
// slim, which moves with every release, is not.
var (
	digestRef  = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	versionTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.]+)?$`)
)

func pinnedImage(image string) bool {
	if digestRef.MatchString(image) {
		return true
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash+1 {
		return false // no tag: latest
	}
	return versionTag.MatchString(image[colon+1:])
}

func TestPinnedImageCatchesFloatingTags(t *testing.T) {
	for image, want := range map[string]bool{
		"golang:1.26.10":                               true,
		"hashicorp/terraform:1.11.4":                   true,
		"golang:1.26.10-bookworm":                      true,
		"gcr.io/x/y@sha256:" + strings.Repeat("a", 64): true,
		"golang:1.26":                                  false,
		"golang":                                       false,
		"golang:latest":                                false,
		"gcr.io/google.com/cloudsdktool/cloud-sdk:slim": false,
		"localhost:5000/tool":                           false,
	} {
		if got := pinnedImage(image); got != want {
			t.Errorf("pinnedImage(%q) = %v, want %v", image, got, want)
		}
	}
}

// Every image is pinned to an exact version or a digest; Go's is go.mod's
// toolchain, Terraform's satisfies versions.tf (>= 1.5).
func TestCloudBuildImagesArePinned(t *testing.T) {
	cb, _ := loadCloudBuild(t)
	goVersion := toolchainVersion(t)
	var sawGo, sawTerraform bool
	for _, s := range cb.Steps {
		image := substitute(s.Name, cb.Substitutions)
		if !pinnedImage(image) {
			t.Errorf("step %s uses %s: pin an exact version (or a digest), never a tag that moves", s.ID, image)
		}
		switch {
		case strings.HasPrefix(image, "golang:"):
			sawGo = true
			if tag := strings.TrimPrefix(image, "golang:"); tag != goVersion && !strings.HasPrefix(tag, goVersion+"-") {
				t.Errorf("step %s uses %s; go.mod's toolchain is Go %s", s.ID, image, goVersion)
			}
		case strings.HasPrefix(image, "hashicorp/terraform:"):
			sawTerraform = true
			tag := strings.TrimPrefix(image, "hashicorp/terraform:")
			if !regexp.MustCompile(`^1\.([5-9]|[1-9][0-9])\.[0-9]+$`).MatchString(tag) {
				t.Errorf("step %s uses terraform %s; versions.tf requires >= 1.5", s.ID, tag)
			}
		}
	}
	if !sawGo || !sawTerraform {
		t.Errorf("golang image used: %v, terraform image used: %v; want both", sawGo, sawTerraform)
	}
}

// runBuild runs the steps of cloudbuild.yaml as Cloud Build would (each
// step's script after substitution, in its directory, in order), with
// stand-ins for terraform, go and curl that record their arguments, and
// returns the recorded calls.
func runBuild(t *testing.T, subs map[string]string) []string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cb, _ := loadCloudBuild(t)
	work := t.TempDir()
	bin := filepath.Join(work, ".bin")
	log := filepath.Join(work, ".calls")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for tool, out := range map[string]string{
		"terraform": `case "$*" in *output*function_url*) printf https://receiver.invalid ;; esac`,
		"go":        ``,
		"curl":      `printf 405`,
	} {
		script := "#!/bin/sh\necho \"" + tool + " $*\" >> " + log + "\n" + out + "\n"
		if err := os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	values := map[string]string{"PROJECT_ID": "example-project"}
	for k, v := range cb.Substitutions {
		values[k] = v
	}
	for k, v := range subs {
		values[k] = v
	}
	for _, s := range cb.Steps {
		var argv []string
		for _, a := range s.Args {
			argv = append(argv, strings.ReplaceAll(substitute(a, values), "/workspace", work))
		}
		entry := s.Entrypoint
		if entry == "" {
			entry = "terraform" // the terraform image's own entrypoint
		}
		if entry != "sh" && entry != "bash" && entry != "terraform" {
			t.Fatalf("step %s: entrypoint %s", s.ID, entry)
		}
		if entry == "sh" {
			entry = "bash" // the stand-ins need a POSIX shell; bash is one
		}
		dir := work
		if s.Dir != "" {
			dir = filepath.Join(work, substitute(s.Dir, values))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(entry, argv...)
		if entry == "terraform" {
			cmd = exec.Command(filepath.Join(bin, "terraform"), argv...)
		}
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		for _, e := range s.Env {
			cmd.Env = append(cmd.Env, substitute(e, values))
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("step %s: %v\n%s", s.ID, err, out)
		}
	}
	b, _ := os.ReadFile(log)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// _APPLY=false (pull requests) plans without the lock and without a
// refresh, and neither applies nor calls the receiver; _APPLY=true (the
// branch, approved) plans with the lock, applies that plan and runs the
// smoke check.
func TestCloudBuildPlanOnlyChangesNothing(t *testing.T) {
	has := func(calls []string, prefix string) string {
		for _, c := range calls {
			if strings.HasPrefix(c, prefix) {
				return c
			}
		}
		return ""
	}
	pr := runBuild(t, map[string]string{"_TF_STATE_BUCKET": "example-tfstate", "_APPLY": "false"})
	plan := has(pr, "terraform plan")
	if !strings.Contains(plan, "-lock=false") || !strings.Contains(plan, "-refresh=false") || !strings.Contains(plan, "-var=project_id=example-project") {
		t.Errorf("_APPLY=false: plan = %q, want -lock=false -refresh=false and the project", plan)
	}
	for _, c := range []string{"terraform apply", "terraform output", "curl"} {
		if got := has(pr, c); got != "" {
			t.Errorf("_APPLY=false runs %q", got)
		}
	}
	if has(pr, "go test") == "" || has(pr, "terraform init") == "" {
		t.Errorf("_APPLY=false does not test and init: %q", pr)
	}

	main := runBuild(t, map[string]string{"_TF_STATE_BUCKET": "example-tfstate", "_APPLY": "true"})
	if plan := has(main, "terraform plan"); strings.Contains(plan, "-lock=false") || strings.Contains(plan, "-refresh=false") {
		t.Errorf("_APPLY=true: plan = %q, want the lock and a refresh", plan)
	}
	if has(main, "terraform apply -input=false tfplan") == "" || !strings.Contains(has(main, "curl"), "https://receiver.invalid") {
		t.Errorf("_APPLY=true does not apply the plan and check the receiver: %q", main)
	}
	// The default of a manual `gcloud builds submit` is to apply.
	if cb, _ := loadCloudBuild(t); cb.Substitutions["_APPLY"] != "true" {
		t.Errorf("_APPLY defaults to %q, want true", cb.Substitutions["_APPLY"])
	}
}

func TestCloudBuildNeverHoldsASecret(t *testing.T) {
	_, src := loadCloudBuild(t)
	for _, bad := range []string{"whsec_", "secrets versions add", "x-goog-api-key"} {
		if strings.Contains(src, bad) {
			t.Errorf("cloudbuild.yaml contains %q: secrets are added by hand, never by the build", bad)
		}
	}
	if !slices.Contains(strings.Fields(src), "CLOUD_LOGGING_ONLY") {
		t.Error("options.logging is not CLOUD_LOGGING_ONLY (needed for builds with a user-managed service account)")
	}
}
