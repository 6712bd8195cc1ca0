package terraform_test

import (
	"os"
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

func TestCloudBuildImagesMatchTheRepository(t *testing.T) {
	cb, _ := loadCloudBuild(t)
	goVersion := goModVersion(t)
	var sawGo, sawTerraform bool
	for _, s := range cb.Steps {
		image := strings.NewReplacer("${_GO_VERSION}", cb.Substitutions["_GO_VERSION"], "${_TF_VERSION}", cb.Substitutions["_TF_VERSION"]).Replace(s.Name)
		switch {
		case strings.HasPrefix(image, "golang:"):
			sawGo = true
			if tag := strings.TrimPrefix(image, "golang:"); tag != goVersion && !strings.HasPrefix(tag, goVersion+".") {
				t.Errorf("step %s uses %s; go.mod wants Go %s", s.ID, image, goVersion)
			}
		case strings.HasPrefix(image, "hashicorp/terraform:"):
			sawTerraform = true
			tag := strings.TrimPrefix(image, "hashicorp/terraform:")
			if !regexp.MustCompile(`^1\.([5-9]|[1-9][0-9])(\.[0-9]+)?$`).MatchString(tag) {
				t.Errorf("step %s uses terraform %s; versions.tf requires >= 1.5", s.ID, tag)
			}
		}
	}
	if !sawGo || !sawTerraform {
		t.Errorf("golang image used: %v, terraform image used: %v; want both", sawGo, sawTerraform)
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
