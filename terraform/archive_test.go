package terraform_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The function's source archive (data.archive_file.source) is built from
// the repository root as it is on disk: not from git, so whatever lies
// there, ignored by git or not (keys made by `geminihook keys`, .env
// files, Terraform state), goes into the archive unless an exclude
// pattern keeps it out. These tests rebuild the archive's file list the
// way the archive provider does and look for key material in it.

// archiveExcludes is data.archive_file.source's excludes list.
func archiveExcludes(t *testing.T, m *module) []string {
	t.Helper()
	b := m.data["archive_file.source"]
	if b == nil || b.Body.Attributes["excludes"] == nil {
		t.Fatal("no data.archive_file.source with excludes")
	}
	v, diags := b.Body.Attributes["excludes"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("excludes must be a literal list: %v", diags)
	}
	var excludes []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		excludes = append(excludes, e.AsString())
	}
	return excludes
}

// globMatch reports whether name matches pattern the way the archive
// provider's excludes do (doublestar.PathMatch, github.com/bmatcuk/
// doublestar/v4): both split on "/"; a "**" element matches zero or more
// elements; any other element matches one element as path.Match does (*,
// ? and [class] within the element; "a**b" is "a*b"). So "keys/**" also
// matches "keys", "*.pem" matches at the root only and "**/*.pem" at any
// depth, and a pattern ending in "/" never matches (paths have no trailing
// slash). Alternatives ({a,b}) are an error here: doublestar has them,
// this reimplementation does not.
func globMatch(pattern, name string) (bool, error) {
	if strings.ContainsAny(pattern, "{}") {
		return false, fmt.Errorf("pattern %q: {alternatives} are not supported by this test; list the patterns one by one", pattern)
	}
	return matchElements(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchElements(pattern, name []string) (bool, error) {
	for len(pattern) > 0 {
		if pattern[0] == "**" {
			for skip := 0; skip <= len(name); skip++ {
				if ok, err := matchElements(pattern[1:], name[skip:]); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(name) == 0 {
			return false, nil
		}
		ok, err := path.Match(pattern[0], name[0])
		if err != nil || !ok {
			return false, err
		}
		pattern, name = pattern[1:], name[1:]
	}
	return len(name) == 0, nil
}

// archiveMatch is the provider's checkMatch: does any exclude match rel
// (a slash-separated path relative to source_dir, "." for source_dir)?
func archiveMatch(rel string, excludes []string) (bool, error) {
	for _, e := range excludes {
		if e == "" {
			continue
		}
		if ok, err := globMatch(e, rel); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// archiveExcluded reports whether the file rel would be left out: the
// provider walks source_dir and skips a matching directory whole, so rel
// is out when source_dir itself, any of its parent directories, or rel
// matches.
func archiveExcluded(rel string, excludes []string) bool {
	parts := strings.Split(rel, "/")
	for i := 0; i <= len(parts); i++ {
		p := "."
		if i > 0 {
			p = strings.Join(parts[:i], "/")
		}
		if ok, err := archiveMatch(p, excludes); ok || err != nil {
			return true
		}
	}
	return false
}

// archiveFiles lists the files the archive provider would put into an
// archive of dir: filepath.Walk from dir, each path relative to dir matched
// against excludes, a matching directory skipped, a matching file left out,
// symbolic links followed (exclude_symlink_directories is false).
func archiveFiles(dir string, excludes []string) ([]string, error) {
	var files []string
	var walk func(base, dir string) error
	walk = func(base, dir string) error {
		return filepath.Walk(dir, func(p string, info fs.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(filepath.Join(base, rel))
			match, err := archiveMatch(rel, excludes)
			if err != nil {
				return err
			}
			if info.IsDir() {
				if match {
					return filepath.SkipDir
				}
				return nil
			}
			if match {
				return nil
			}
			if info.Mode()&fs.ModeSymlink != 0 {
				real, err := filepath.EvalSymlinks(p)
				if err != nil {
					return err
				}
				if fi, err := os.Stat(real); err == nil && fi.IsDir() {
					return walk(rel, real)
				}
			}
			files = append(files, rel)
			return nil
		})
	}
	if err := walk(".", dir); err != nil {
		return nil, err
	}
	for i, f := range files {
		files[i] = strings.TrimPrefix(f, "./")
	}
	return files, nil
}

// The matcher above against doublestar's own behaviour (each case checked
// with doublestar v4.10 PathMatch).
func TestGlobMatchesLikeDoublestar(t *testing.T) {
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"a/**", "a", true},
		{"a/**", "a/b", true},
		{"a/**", "a/b/c", true},
		{"**/c", "c", true},
		{"**/c", "a/b/c", true},
		{"**/c", "a/bc", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"**/*.pem", "x.pem", true},
		{"**/*.pem", "a/b/x.pem", true},
		{"*.pem", "a/x.pem", false},
		{"**/.env*", ".env", true},
		{"**/.env*", "a/.env.local", true},
		{"**", ".", true},
		{"*", ".", true},
		{"**/*", ".", true},
		{".git", ".", false},
		{"*", ".env", true},
		{"**/keys", "keys", true},
		{"**/keys/**", "keys", true},
		{"**/keys/**", "a/keys/x", true},
		{"**/keys", "monkeys", false},
		{"**/*_test.go", "x_test.go", true},
		{"**/*.tfstate.*", "terraform/terraform.tfstate.backup", true},
		{"**/*.tfstate", "terraform/terraform.tfstate.backup", false},
		{"a**b", "axb", true},
		{"a**b", "a/x/b", false},
		{"**/", "a", false},
		{"a/**/", "a/b", false},
		{"[ab]x", "bx", true},
		{`x\*`, "x*", true},
		{`x\*`, "xy", false},
	} {
		got, err := globMatch(tt.pattern, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, %v; doublestar says %v", tt.pattern, tt.name, got, err, tt.want)
		}
	}
	if _, err := globMatch("{a,b}", "a"); err == nil {
		t.Error("globMatch accepts {alternatives}, which it does not implement")
	}
}

// copyRepository copies the repository's files into a new temporary
// directory: those git knows of (tracked, and untracked but not ignored:
// what a checkout holds), or, without git metadata (a Cloud Build upload
// has none), every file on disk but .git/ and .terraform/.
func copyRepository(t *testing.T) string {
	t.Helper()
	var rels []string
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = ".."
	if out, err := cmd.Output(); err == nil {
		rels = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	} else {
		t.Logf("git ls-files: %v; copying every file instead", err)
		err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == ".terraform") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				rel, err := filepath.Rel("..", p)
				rels = append(rels, filepath.ToSlash(rel))
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dst := t.TempDir()
	n := 0
	for _, rel := range rels {
		src := filepath.Join("..", filepath.FromSlash(rel))
		info, err := os.Stat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("found no file to copy")
	}
	return dst
}

var (
	// A Standard Webhooks secret: whsec_ and at least 16 base64
	// characters. The prefix alone (code that parses secrets) is fine.
	whsecValue = regexp.MustCompile(`whsec_[A-Za-z0-9+/]{16,}`)
	// Path elements and names that are key material or deployment state
	// wherever they are.
	keyDirs  = map[string]bool{"keys": true, "geminihook-keys": true, ".terraform": true}
	keyNames = regexp.MustCompile(`(\.pem|\.seed|\.tfstate|\.tfstate\..*|\.tfvars|\.tfplan)$|^(\.env.*|route-token\.txt|secret\.txt)$`)
)

// keyMaterialProblems checks the archive's files (relative to dir): none
// under a keys directory or named like key material or state, and none
// whose content holds a private key, a whsec_ secret or any of secrets.
func keyMaterialProblems(t *testing.T, dir string, files []string, secrets []string) []string {
	t.Helper()
	var problems []string
	for _, rel := range files {
		parts := strings.Split(rel, "/")
		for _, p := range parts[:len(parts)-1] {
			if keyDirs[p] {
				problems = append(problems, rel+": in a "+p+"/ directory")
			}
		}
		if keyNames.MatchString(parts[len(parts)-1]) {
			problems = append(problems, rel+": named like key material or Terraform state")
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "PRIVATE KEY") {
			problems = append(problems, rel+": holds a PRIVATE KEY")
		}
		if loc := whsecValue.FindIndex(b); loc != nil {
			problems = append(problems, fmt.Sprintf("%s: holds a whsec_ secret (%.12s…)", rel, b[loc[0]:loc[1]]))
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				problems = append(problems, fmt.Sprintf("%s: holds the secret value %.8s…", rel, s))
			}
		}
	}
	return problems
}

// mustHoldTheFunction fails unless the archive holds the function's own
// files: a test that excluded everything would find no key material.
func mustHoldTheFunction(t *testing.T, files []string) {
	t.Helper()
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	for _, f := range []string{"go.mod", "go.sum", "function.go", "config.go"} {
		if !have[f] {
			t.Errorf("the archive lacks %s", f)
		}
	}
}

func randomText(t *testing.T, n int, enc *base64.Encoding) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return enc.EncodeToString(b)
}

// Key material and state planted where people put it (what `geminihook
// keys` writes, at the root and deeper, .env files, Terraform state and
// working directories) must stay out of the archive, and so must the
// repository's own test keys and secrets.
func TestSourceArchiveLeavesOutKeyMaterial(t *testing.T) {
	m := mustLoad(t)
	excludes := archiveExcludes(t, m)
	dir := copyRepository(t)

	secret := "whsec_" + randomText(t, 32, base64.StdEncoding)
	seed := randomText(t, 32, base64.StdEncoding)
	token := randomText(t, 32, base64.RawURLEncoding)
	keyBody := randomText(t, 48, base64.StdEncoding)
	pemKey := "-----BEGIN PRIVATE KEY-----\n" + keyBody + "\n-----END PRIVATE KEY-----\n"
	state := `{"version": 4, "outputs": {"token": "` + token + `"}}`
	planted := map[string]string{}
	for _, d := range []string{"keys", "geminihook-keys", "internal/keys", "cmd/geminihook/geminihook-keys"} {
		planted[d+"/secret.txt"] = secret
		planted[d+"/ed25519.seed"] = seed
		planted[d+"/rsa.pem"] = pemKey
		planted[d+"/route-token.txt"] = token
		planted[d+"/jwks.json"] = `{"keys": []}`
	}
	for k, v := range map[string]string{
		"secret.txt":                             secret,
		"route-token.txt":                        token,
		"rsa.pem":                                pemKey,
		"ed25519.seed":                           seed,
		"verify/server.pem":                      pemKey,
		"internal/secrets/route-token.txt":       token,
		".env":                                   "GEMINIHOOK_SECRET=" + secret + "\n",
		".env.local":                             "ROUTE_TOKEN=" + token + "\n",
		"events/.env.production":                 "SEED=" + seed + "\n",
		"terraform.tfstate":                      state,
		"terraform.tfstate.backup":               state,
		"terraform.tfstate.1700000000.backup":    state,
		"terraform/terraform.tfstate":            state,
		"terraform/.terraform/terraform.tfstate": state,
		".terraform/terraform.tfstate":           state,
		"prod.tfvars":                            `route_token = "` + token + `"`,
		"tfplan.tfplan":                          state,
	} {
		planted[k] = v
	}
	for rel, content := range planted {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	files, err := archiveFiles(dir, excludes)
	if err != nil {
		t.Fatal(err)
	}
	mustHoldTheFunction(t, files)
	in := map[string]bool{}
	for _, f := range files {
		in[f] = true
	}
	for rel := range planted {
		if in[rel] {
			t.Errorf("%s would be uploaded in the source archive", rel)
		}
	}
	for _, p := range keyMaterialProblems(t, dir, files, []string{secret, seed, token, keyBody}) {
		t.Error(p)
	}
}

// The same with the real thing: `geminihook keys` run at the repository
// root, into keys/ and into its default geminihook-keys/. Every file it
// writes must stay out, and no archived file may hold any value it made.
func TestSourceArchiveLeavesOutGeneratedKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test compiles and runs `go run ./cmd/geminihook keys` in a copy of the repository; TestSourceArchiveLeavesOutKeyMaterial checks the same excludes with planted files")
	}
	m := mustLoad(t)
	excludes := archiveExcludes(t, m)
	dir := copyRepository(t)
	for _, args := range [][]string{{"keys", "--out", "keys"}, {"keys"}} {
		cmd := exec.Command("go", append([]string{"run", "./cmd/geminihook"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run ./cmd/geminihook %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// Every value the command made, except the public JWK Set: whole file
	// contents, and each line of a PEM body.
	var secrets []string
	made := 0
	for _, d := range []string{"keys", "geminihook-keys"} {
		entries, err := os.ReadDir(filepath.Join(dir, d))
		if err != nil {
			t.Fatalf("geminihook keys wrote no %s/: %v", d, err)
		}
		for _, e := range entries {
			made++
			if e.Name() == "jwks.json" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					secrets = append(secrets, line)
				}
			}
		}
	}
	if made < 8 || len(secrets) == 0 {
		t.Fatalf("geminihook keys made %d files holding %d secret values; want keys/ and geminihook-keys/ with secret.txt, ed25519.seed, rsa.pem and jwks.json each", made, len(secrets))
	}

	files, err := archiveFiles(dir, excludes)
	if err != nil {
		t.Fatal(err)
	}
	mustHoldTheFunction(t, files)
	for _, p := range keyMaterialProblems(t, dir, files, secrets) {
		t.Error(p)
	}
}

// Key material and Terraform state are ignored by git wherever they lie,
// and gcloud builds submit uploads nothing git ignores.
func TestGitIgnoresKeyMaterialAndState(t *testing.T) {
	gcloud, err := os.ReadFile(filepath.Join("..", ".gcloudignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(gcloud), "\n")
	for _, want := range []string{"#!include:.gitignore", ".git"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".gcloudignore lacks the line %q", want)
		}
	}
	if err := exec.Command("git", "-C", "..", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skipf("not in a git work tree (%v): the .gitignore rules are checked with git check-ignore", err)
	}
	for _, p := range []string{
		"keys/secret.txt", "keys/ed25519.seed", "keys/rsa.pem", "keys/jwks.json", "keys/route-token.txt",
		"geminihook-keys/route-token.txt", "internal/keys/x", "cmd/geminihook/geminihook-keys/secret.txt",
		"rsa.pem", "verify/server.pem", "ed25519.seed", "events/x.seed",
		".env", ".env.local", "internal/.env.production",
		"route-token.txt", "secret.txt", "internal/secrets/secret.txt",
		"terraform.tfstate", "terraform.tfstate.backup", "terraform/terraform.tfstate", "terraform/terraform.tfstate.1700000000.backup",
		".terraform/providers/x", "terraform/.terraform/terraform.tfstate", "terraform/terraform.tfvars", "terraform/tfplan",
		"terraform/examples/basic/terraform.tfstate", "terraform/examples/basic/.terraform/x", "terraform/examples/basic/terraform.tfvars",
		"terraform/examples/basic/tfplan", "terraform/examples/two-environments/terraform.tfstate.backup", "terraform/examples/basic/.build/x.zip",
	} {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", p)
		cmd.Dir = ".."
		switch err := cmd.Run(); {
		case err == nil:
		case cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1:
			t.Errorf("git does not ignore %s", p)
		default:
			t.Fatalf("git check-ignore %s: %v", p, err)
		}
	}
	for _, p := range []string{"function.go", "terraform/examples/basic/terraform.tfvars.example", "terraform/examples/basic/moved.tf", "events/schema/event.v1.json", "go.sum"} {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", p)
		cmd.Dir = ".."
		if cmd.Run() == nil {
			t.Errorf("git ignores %s", p)
		}
	}

}
