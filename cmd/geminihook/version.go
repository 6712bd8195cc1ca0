package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

const versionAbout = `
Print the version of this geminihook binary on one line: the module
version (a release tag, a pseudo-version derived from the commit, or
"(devel)"), the VCS revision it was built from, "(modified)" when the work
tree had uncommitted changes, and the Go version. Quote it in a bug report.

The revision is what "go build" and "go install" record from git; a binary
built outside a git checkout (or with -buildvcs=false) says "rev unknown".`

const versionExamples = `  geminihook version
  geminihook (devel) rev 3f2c1e9a7b4d (modified) go1.26.10`

// runVersion prints the build's version line.
func runVersion(_ context.Context, args []string, e env) error {
	fs := newFlagSet("version", "", versionAbout, versionExamples, e)
	if err := parseFlags(fs, args, e); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary carries no build information (built without module support)")
	}
	fmt.Fprintln(e.stdout, versionLine(bi))
	return nil
}

// revisionLength is how many hex digits of the revision are printed, as in
// Go's pseudo-versions.
const revisionLength = 12

// versionLine is "geminihook VERSION rev REVISION[ (modified)] GOVERSION"
// from bi: VERSION is the main module's version, "(devel)" when unknown;
// REVISION the first 12 digits of vcs.revision, "unknown" without one.
func versionLine(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	rev, modified := "unknown", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(len(s.Value), revisionLength)]
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "geminihook %s rev %s", version, rev)
	if modified {
		b.WriteString(" (modified)")
	}
	if bi.GoVersion != "" {
		b.WriteString(" " + bi.GoVersion)
	}
	return b.String()
}
