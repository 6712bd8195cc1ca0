package terraform_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's recipes and the paths the deployment refers to.

// fencedBlocks returns the fenced code blocks of a Markdown text.
func fencedBlocks(md string) []string {
	return regexp.MustCompile("(?s)```[a-z]*\n(.*?)```").FindAllString(md, -1)
}

// Gemini's rotateSigningSecret answers {"secret": "whsec_…"}; only the
// create answer has new_signing_secret. A recipe that reads the wrong
// field stores nothing (or fails) while Gemini already signs with the new
// secret.
func TestRotationRecipeReadsTheSecretField(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range fencedBlocks(string(readme)) {
		if !strings.Contains(b, ":rotateSigningSecret") {
			continue
		}
		n++
		if strings.Contains(b, "new_signing_secret") || strings.Contains(b, "newSigningSecret") {
			t.Errorf("the rotation recipe reads new_signing_secret, which rotateSigningSecret does not answer:\n%s", b)
		}
		if !regexp.MustCompile(`jq -j '\.secret\b`).MatchString(b) || !strings.Contains(b, "gcloud secrets versions add") {
			t.Errorf("the rotation recipe does not pipe .secret into gcloud secrets versions add:\n%s", b)
		}
	}
	if n == 0 {
		t.Error("README.md has no rotateSigningSecret recipe")
	}
}

// No file of this deployment refers to a path outside the repository (a
// shared module in a sibling directory, another checkout): each path with
// .. elements, taken from its file's directory, must stay inside the
// repository and lead to something the repository has.
func TestNoPathLeavesTheRepository(t *testing.T) {
	// Every file of this directory and its examples (not the Go tests:
	// their paths are the test's own), and the root files that deploy it.
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".terraform" || d.Name() == ".build"):
			return filepath.SkipDir
		case !d.IsDir() && !strings.HasSuffix(p, "_test.go"):
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cloudbuild.yaml", ".gitignore", ".gcloudignore"} {
		files = append(files, filepath.Join("..", f))
	}
	token := regexp.MustCompile(`[A-Za-z0-9_.${}/-]*\.\.[A-Za-z0-9_.${}/-]*`)
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil || info.IsDir() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.ToSlash(filepath.Join("terraform", filepath.Dir(f)))
		if strings.HasPrefix(f, "..") {
			dir = "."
		}
		for _, tok := range token.FindAllString(string(b), -1) {
			if !slices.Contains(strings.Split(tok, "/"), "..") {
				continue // an ellipsis, not a path
			}
			rel := filepath.ToSlash(filepath.Join(dir, strings.ReplaceAll(tok, "${path.module}", ".")))
			if rel == ".." || strings.HasPrefix(rel, "../") {
				t.Errorf("%s refers to %q, outside the repository", f, tok)
				continue
			}
			if _, err := os.Stat(filepath.Join("..", strings.SplitN(rel, "/", 2)[0])); err != nil {
				t.Errorf("%s refers to %q (%s), which the repository does not have", f, tok, rel)
			}
		}
	}
}
