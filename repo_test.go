package geminihook

import (
	"bytes"
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

// pendingOutsideRefs are references outside the repository that are known
// and waiting for their file's owner to fix them, as "path: reference".
// The test tolerates exactly these and reports (without failing) an entry
// that no longer occurs, so that it can be deleted.
var pendingOutsideRefs = []string{}

// TestNoReferenceOutsideRepository keeps the repository self-contained: no
// tracked file refers to a file that a clone does not have. It walks
// `git ls-files` (the tree when this is not a git checkout, as in a source
// archive) and fails on a file that names the folder beside the checkout
// (".."+"/shared"), climbs above the repository root with a relative path,
// holds the checkout's own absolute path, links (in Markdown) to a path
// that does not exist, or names a document in capitals (TESTING.md) that
// exists nowhere in the repository.
func TestNoReferenceOutsideRepository(t *testing.T) {
	root, err := os.Getwd() // the root package's directory is the repository root
	if err != nil {
		t.Fatal(err)
	}
	files := repoFiles(t, root)
	if len(files) < 100 || !slices.Contains(files, "go.mod") || !slices.Contains(files, "handler.go") {
		t.Fatalf("found %d files at %s, without go.mod or handler.go: not the whole repository", len(files), root)
	}
	c := newRefChecker(root, files)
	c.readHeadings(root, files)
	c.skip = func(f string) bool {
		// go.sum holds module hashes; this file holds the checker's fixtures.
		return f == "go.sum" || f == "repo_test.go"
	}
	var found []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			continue // deleted in the work tree
		}
		found = append(found, c.check(f, b)...)
	}
	for _, p := range pendingOutsideRefs {
		if i := slices.Index(found, p); i >= 0 {
			found = slices.Delete(found, i, i+1)
			t.Logf("pending, for its owner to fix: %s", p)
		} else {
			t.Logf("%q no longer occurs: delete it from pendingOutsideRefs", p)
		}
	}
	for _, f := range found {
		t.Errorf("refers outside the repository: %s", f)
	}
}

// repoFiles lists the repository's files, slash-separated and relative to
// root: tracked and untracked-but-not-ignored files when git can tell,
// else every file of the tree but .git and build outputs.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
			if f != "" && !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		return files
	} else {
		t.Logf("git ls-files: %v; walking the tree", err)
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "bin", ".terraform", ".build":
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// refChecker finds the references of one file that point outside the
// repository.
type refChecker struct {
	root     string              // absolute path of the checkout
	headings map[string][]string // section titles of the Markdown documents, by path
	exists   map[string]bool     // every file and directory of the repository
	bases    map[string]bool     // base names of the files
	skip     func(f string) bool // files not checked
}

func newRefChecker(root string, files []string) *refChecker {
	c := &refChecker{root: root, exists: map[string]bool{".": true}, bases: map[string]bool{}}
	for _, f := range files {
		c.bases[path.Base(f)] = true
		for p := f; p != "." && p != "/"; p = path.Dir(p) {
			c.exists[p] = true
		}
	}
	c.skip = func(f string) bool { return f == "go.sum" }
	c.headings = map[string][]string{}
	return c
}

// readHeadings records the Markdown headings of every document, for the
// citations of their sections.
func (c *refChecker) readHeadings(root string, files []string) {
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			continue
		}
		c.headings[f] = []string{}
		for l := range strings.Lines(string(b)) {
			if t := strings.TrimLeft(l, "#"); t != l && strings.HasPrefix(t, " ") {
				c.headings[f] = append(c.headings[f], strings.TrimSpace(t))
			}
		}
	}
}

var (
	// climbRe finds relative paths that go up: one or more "../", or a
	// final "..", not preceded by a dot (".../spanId" is prose).
	climbRe = regexp.MustCompile(`(^|[^.])((?:\.\./)+(?:\.\.)?|\.\.(?:$|[\s"'` + "`" + `)\]]))`)
	// capsDocRe finds document names in capitals: README.md, TESTING.md.
	capsDocRe = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])([A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)*\.md)\b`)
	// mdLinkRe finds the targets of Markdown links and images.
	mdLinkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// sectionRe finds citations of a section: ARCHITECTURE.md, "Ledger
	// document" (across a comment's line break too).
	sectionRe = regexp.MustCompile(`\b([A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)*\.md),\s*(?://\s*|#\s*)?"([^"\n]+)"`)
)

// check returns the file's references outside the repository as
// "file: reference".
func (c *refChecker) check(f string, b []byte) []string {
	if c.skip(f) || bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return nil // binary
	}
	s := string(b)
	var found []string
	add := func(ref string) {
		if r := f + ": " + ref; !slices.Contains(found, r) {
			found = append(found, r)
		}
	}
	dir := path.Dir(f)
	depth := 0
	if dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	if strings.Contains(s, ".."+"/shared") {
		add(".." + "/shared" + afterShared(s))
	}
	for _, m := range climbRe.FindAllStringSubmatchIndex(s, -1) {
		climb := s[m[4]:m[5]]
		ups := strings.Count(climb, "..")
		if ups > depth {
			add(climb + restOfPath(s[m[5]:]))
		}
	}
	if depthOK := strings.Count(c.root, "/") >= 2; depthOK && strings.Contains(s, c.root+"/") {
		add(c.root + "/")
	}
	for _, m := range capsDocRe.FindAllStringSubmatch(s, -1) {
		if !c.bases[m[1]] {
			add(m[1])
		}
	}
	for _, m := range sectionRe.FindAllStringSubmatch(s, -1) {
		doc := path.Join(dir, m[1]) // beside the file, else at the root
		if _, ok := c.headings[doc]; !ok {
			doc = m[1]
		}
		if hs, ok := c.headings[doc]; ok && !slices.Contains(hs, m[2]) {
			add(m[1] + ", \"" + m[2] + "\" (no such section)")
		}
	}
	if strings.HasSuffix(f, ".md") {
		for _, m := range mdLinkRe.FindAllStringSubmatch(s, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := path.Join(dir, target)
			if strings.HasPrefix(target, "/") || p == ".." || strings.HasPrefix(p, "../") || !c.exists[p] {
				add(m[1])
			}
		}
	}
	return found
}

// afterShared is what follows the first ".."+"/shared" in s, up to the end
// of the path, for the report.
func afterShared(s string) string {
	i := strings.Index(s, ".."+"/shared")
	return restOfPath(s[i+len(".."+"/shared"):])
}

// restOfPath returns the path characters at the start of s.
func restOfPath(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || strings.ContainsRune(`"'`+"`"+`)];,:*<>|&$`, r)
	})
	if end < 0 {
		return s
	}
	return s[:end]
}

// TestRefCheckerCatchesMistakes shows that each rule of the checker fires,
// and what it lets through.
func TestRefCheckerCatchesMistakes(t *testing.T) {
	files := []string{"go.mod", "README.md", "ARCHITECTURE.md", "bench/run", "verify/testdata/README.md",
		"verify/verifytest/testdata/rsa1.pem", "test/fault/loadbench", "internal/cloudlog/cloudlog.go", "events/schema/event.v1.json"}
	c := newRefChecker("/work/checkout", files)
	c.headings["ARCHITECTURE.md"] = []string{"Architecture", "Ledger document"}
	c.headings["verify/testdata/README.md"] = []string{"Vectors"}
	c.headings["README.md"] = []string{"geminihook", "Configuration"}
	tests := []struct {
		file, text string
		want       []string // nil: nothing found
	}{
		{"bench/run", "# the emulators of " + ".." + "/shared/TESTING.md);", []string{"bench/run: " + ".." + "/shared/TESTING.md"}},
		{"bench/run", "# as TESTING.md says", []string{"bench/run: TESTING.md"}},
		{"bench/run", `cd "$(dirname "$0")/.."`, nil},
		{"bench/run", `cd "$(dirname "$0")/../.."`, []string{"bench/run: ../.."}},
		{"test/fault/loadbench", `cd "$(dirname "$0")/../.."`, nil},
		{"test/fault/loadbench", `source ../../../env.sh`, []string{"test/fault/loadbench: ../../../env.sh"}},
		{"verify/testdata/README.md", "`../verifytest/testdata/rsa1.pem`", nil},
		{"internal/cloudlog/cloudlog.go", "// .../spanId and .../trace_sampled", nil},
		{"go.mod", "replace x => ../x", []string{"go.mod: ../x"}},
		{"internal/cloudlog/cloudlog.go", `// see /work/checkout/notes.txt`, []string{"internal/cloudlog/cloudlog.go: /work/checkout/"}},
		{"internal/cloudlog/cloudlog.go", "// the request flow of ARCHITECTURE.md and README.md", nil},
		{"internal/cloudlog/cloudlog.go", "// see DESIGN.md", []string{"internal/cloudlog/cloudlog.go: DESIGN.md"}},
		{"README.md", "[schema](events/schema/event.v1.json), [arch](ARCHITECTURE.md#conventions), [go](https://go.dev/x)", nil},
		{"README.md", "[guide](docs/guide.md)", []string{"README.md: docs/guide.md"}},
		{"README.md", "[up](../README.md)", []string{"README.md: ../README.md"}},
		{"internal/cloudlog/cloudlog.go", "// (ARCHITECTURE.md,\n// \"Ledger document\")", nil},
		{"internal/cloudlog/cloudlog.go", "// (ARCHITECTURE.md, \"Ledger record\")", []string{`internal/cloudlog/cloudlog.go: ARCHITECTURE.md, "Ledger record" (no such section)`}},
		{"verify/testdata/vectors.json", `"see README.md, \"Vectors\""`, nil},
		{"verify/vectors_test.go", `// README.md, "Vectors"`, []string{`verify/vectors_test.go: README.md, "Vectors" (no such section)`}},
		{"go.sum", ".." + "/shared", nil},
		{"bench/run", "\x00" + ".." + "/shared", nil},
	}
	for _, tt := range tests {
		if got := c.check(tt.file, []byte(tt.text)); !slices.Equal(got, tt.want) {
			t.Errorf("check(%s, %q) = %q, want %q", tt.file, tt.text, got, tt.want)
		}
	}
}
