package events

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly enforces the layering rule: events (without its
// tests) imports the standard library only, so consumers and the verifier
// side never pull a cloud SDK through it.
func TestStandardLibraryOnly(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = "github.com/geminihook/geminihook/events"
	var foreign []string
	for _, p := range strings.Fields(string(out)) {
		if p != self {
			foreign = append(foreign, p)
		}
	}
	if len(foreign) > 0 {
		t.Errorf("events depends on non-standard packages %v; only the standard library is allowed", foreign)
	}
	if !strings.Contains(string(out), self) {
		t.Errorf("go list did not list %s itself: %q", self, out)
	}
}
