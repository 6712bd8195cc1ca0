package main

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	const rev = "3f2c1e9a7b4d5c6e7f8091a2b3c4d5e6f7081920"
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"checkout, modified", debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-05-01T10:00:00Z", "vcs.modified", "true")},
			"geminihook (devel) rev 3f2c1e9a7b4d (modified) go1.26.10"},
		{"checkout, clean", debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "false")},
			"geminihook (devel) rev 3f2c1e9a7b4d go1.26.10"},
		{"go install @version", debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "v1.2.3"}},
			"geminihook v1.2.3 rev unknown go1.26.10"},
		{"no version, short revision", debug.BuildInfo{Settings: vcs("vcs.revision", "abc")},
			"geminihook (devel) rev abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(&tt.bi); got != tt.want {
				t.Errorf("versionLine = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionCommand runs `version` in this process: one line, ending with
// the Go version that built it; stray arguments are usage errors.
func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runInProcess(t, "", "version")
	if code != exitOK || stderr != "" {
		t.Fatalf("version = exit %d, stderr %q", code, stderr)
	}
	if !regexp.MustCompile(`^geminihook \S+ rev \S+( \(modified\))? ` + regexp.QuoteMeta(runtime.Version()) + "\n$").MatchString(stdout) {
		t.Errorf("version printed %q, want one line ending in %s", stdout, runtime.Version())
	}
	if code, _, stderr := runInProcess(t, "", "version", "extra"); code != exitUsage || !strings.Contains(stderr, "unexpected argument") {
		t.Errorf("version extra = exit %d, stderr %q; want a usage error", code, stderr)
	}
	if code, stdout, _ := runInProcess(t, "", "version", "--help"); code != exitOK || !strings.Contains(stdout, "Usage: geminihook version") {
		t.Errorf("version --help = exit %d, stdout %q", code, stdout)
	}
	if _, stdout, _ := runInProcess(t, "", "--help"); !strings.Contains(stdout, "version") {
		t.Errorf("geminihook --help does not list version:\n%s", stdout)
	}
}

// TestVersionBinary runs `version` in the binary that TestMain built: it
// prints exactly the build information embedded in that binary.
func TestVersionBinary(t *testing.T) {
	needBinary(t)
	checkVersionOutput(t, binary)
}

// TestVersionRevision builds the command with VCS stamping on (GOFLAGS may
// turn it off, as on this project's machines) and checks that `version`
// names the commit it was built from: HEAD, or an ancestor of HEAD if a
// commit landed during the build; "(modified)" when the work tree had
// changes before and after the build.
func TestVersionRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the command")
	}
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", args...).Output()
		return strings.TrimSpace(string(out)), err
	}
	if _, err := git("rev-parse", "HEAD"); err != nil {
		t.Skipf("not a git checkout, nothing to stamp: %v", err)
	}
	dirtyBefore, err := git("status", "--porcelain")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "geminihook")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	dirtyAfter, _ := git("status", "--porcelain")
	head, _ := git("rev-parse", "HEAD")
	out := checkVersionOutput(t, bin)
	m := regexp.MustCompile(`^geminihook \S+ rev ([0-9a-f]{12})( \(modified\))? `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("version printed %q, want a 12-digit revision", out)
	}
	if !strings.HasPrefix(head, m[1]) {
		if err := exec.Command("git", "merge-base", "--is-ancestor", m[1], "HEAD").Run(); err != nil {
			t.Errorf("version names revision %s, which is neither HEAD (%s) nor an ancestor of it: %v", m[1], head, err)
		}
	}
	switch modified := m[2] != ""; {
	case dirtyBefore != "" && dirtyAfter != "" && !modified:
		t.Errorf("work tree has changes, version says %q without (modified):\n%s", out, dirtyBefore)
	case dirtyBefore == "" && dirtyAfter == "" && modified:
		t.Errorf("work tree is clean, version says %q", out)
	}
}

// checkVersionOutput runs `bin version` and checks that it printed the line
// of the build information embedded in bin; it returns that line.
func checkVersionOutput(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if want := versionLine(bi) + "\n"; string(out) != want {
		t.Errorf("%s version printed %q, want %q (its embedded build information)", bin, out, want)
	}
	return string(out)
}
