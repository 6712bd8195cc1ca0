package geminihook

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/geminihook/geminihook"

// TestDependencyDirection keeps the arrows of ARCHITECTURE.md pointing
// toward the leaves: verify and events use no cloud SDK, and nothing
// imports the root package (the composition) but the programs and suites
// around it.
func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rootImporters := []string{"/cmd/", "/test", "/bench", "/terraform"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(p.ImportPath, module)
		leaf := rel == "/verify" || rel == "/events"
		for _, imp := range p.Imports {
			if leaf && (strings.HasPrefix(imp, "cloud.google.com/") || strings.HasPrefix(imp, "google.golang.org/") ||
				strings.HasPrefix(imp, module+"/internal/")) {
				t.Errorf("%s imports %s: verify and events stay free of cloud SDKs and adapters", p.ImportPath, imp)
			}
		}
		if rel == "" {
			continue
		}
		allowed := false
		for _, prefix := range rootImporters {
			allowed = allowed || strings.HasPrefix(rel, prefix)
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			if imp == module && !allowed {
				t.Errorf("%s imports the root package; only cmd/, test/, bench/ and terraform/ may", p.ImportPath)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list returned %d packages; expected the whole module", seen)
	}
}
