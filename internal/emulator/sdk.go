package emulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fallbackSDKRoot is where the Debian package google-cloud-cli installs the SDK.
const fallbackSDKRoot = "/usr/lib/google-cloud-sdk"

// sdkRootTimeout bounds the `gcloud info` call (0.7 s measured).
const sdkRootTimeout = 10 * time.Second

var sdkRootOnce = sync.OnceValue(func() string { return findSDKRoot(exec.LookPath) })

// SDKRoot returns the Google Cloud SDK installation root: the answer of
// `gcloud info --format=value(installation.sdk_root)` when gcloud is on PATH
// and answers within 10 s, else /usr/lib/google-cloud-sdk. The result is
// computed once per process. It never fails; a wrong root shows up as
// ErrNotInstalled when an emulator is started.
func SDKRoot() string { return sdkRootOnce() }

func findSDKRoot(lookPath func(string) (string, error)) string {
	gcloud, err := lookPath("gcloud")
	if err != nil {
		return fallbackSDKRoot
	}
	ctx, cancel := context.WithTimeout(context.Background(), sdkRootTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, gcloud, "info", "--format=value(installation.sdk_root)").Output()
	if root := strings.TrimSpace(string(out)); err == nil && root != "" {
		return root
	}
	return fallbackSDKRoot
}

// javaPath finds java the way the launcher scripts do: $JAVA (Firestore
// script only, honorJAVA), $JAVA_HOME/bin/java (Pub/Sub script), then PATH.
// The error names where it looked.
func javaPath(honorJAVA bool) (string, error) {
	if j := os.Getenv("JAVA"); honorJAVA && j != "" {
		if p, err := exec.LookPath(j); err == nil {
			return p, nil
		}
	}
	if h := os.Getenv("JAVA_HOME"); h != "" {
		p := filepath.Join(h, "bin", "java")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		where := "no java on PATH or under $JAVA_HOME"
		if honorJAVA {
			where = "no java on PATH, in $JAVA or under $JAVA_HOME"
		}
		return "", &installError{parts: []missing{{javaPart, where}}}
	}
	return p, nil
}

// kind describes one emulator product.
type kind struct {
	name   string // "firestore" or "pubsub"
	envVar string // the variable the Google clients read
	// command returns the process to start, and whether the JVM is the
	// direct child (so that Pdeathsig reaches it).
	command func(root, host string, port int) (*exec.Cmd, bool, error)
}

var (
	firestoreKind = kind{
		name:    "firestore",
		envVar:  "FIRESTORE_EMULATOR_HOST",
		command: firestoreCommand,
	}
	pubsubKind = kind{
		name:    "pubsub",
		envVar:  "PUBSUB_EMULATOR_HOST",
		command: pubsubCommand,
	}
)

// part is a piece of the installation that the emulators need, with the
// ways to install it.
type part struct {
	name      string // as a sentence names it
	debian    string // Debian package (Google's apt repository for the emulators)
	component string // gcloud component; "" for Java
}

var (
	firestorePart = part{"the Firestore emulator", "google-cloud-cli-firestore-emulator", "cloud-firestore-emulator"}
	pubsubPart    = part{"the Pub/Sub emulator", "google-cloud-cli-pubsub-emulator", "pubsub-emulator"}
	javaPart      = part{"Java 17 or later", "openjdk-17-jre-headless", ""}
)

// missing is one missing part and what was looked for.
type missing struct {
	part
	detail string
}

// installError is the error of a missing installation: it wraps
// ErrNotInstalled and its message names every missing part and how to
// install them, in one message.
type installError struct {
	root  string // the SDK root looked in; "" when only Java is missing
	parts []missing
}

func (e *installError) Unwrap() error { return ErrNotInstalled }

// add appends the parts of other not named yet.
func (e *installError) add(other *installError) {
	if e.root == "" {
		e.root = other.root
	}
	for _, m := range other.parts {
		if !slices.ContainsFunc(e.parts, func(x missing) bool { return x.name == m.name }) {
			e.parts = append(e.parts, m)
		}
	}
}

func (e *installError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNotInstalled.Error())
	b.WriteString(": missing ")
	var debs, comps []string
	java := false
	parts := slices.Clone(e.parts)
	order := []string{firestorePart.name, pubsubPart.name, javaPart.name}
	slices.SortStableFunc(parts, func(a, b missing) int {
		return slices.Index(order, a.name) - slices.Index(order, b.name)
	})
	for i, m := range parts {
		switch {
		case i == 0:
		case i == len(parts)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", m.name, m.detail)
		debs = append(debs, m.debian)
		if m.component != "" {
			comps = append(comps, m.component)
		} else {
			java = true
		}
	}
	if e.root != "" && len(comps) > 0 && !exists(e.root) {
		debs = append([]string{"google-cloud-cli"}, debs...) // no SDK at all
	}
	b.WriteString(".\nOn Debian or Ubuntu: apt-get install ")
	b.WriteString(strings.Join(debs, " "))
	if len(comps) > 0 {
		b.WriteString(" (the emulators from Google's apt repository for the gcloud CLI)")
		b.WriteString("\nElsewhere, with the gcloud CLI: gcloud components install ")
		b.WriteString(strings.Join(comps, " "))
		if java {
			b.WriteString(", and a Java 17+ runtime")
		}
	} else {
		b.WriteString("\nElsewhere: a Java 17+ runtime, on PATH or under $JAVA_HOME")
	}
	b.WriteString("\nCONTRIBUTING.md has the steps; go test -short ./... leaves out the tests that need them.")
	return b.String()
}

// Check reports whether this machine has everything the emulators need:
// nil, or an error wrapping ErrNotInstalled whose message names every
// missing part (the Firestore emulator, the Pub/Sub emulator, Java) and
// how to install it. It looks under SDKRoot and starts nothing.
func Check() error { return check(SDKRoot()) }

func check(root string) error {
	if err := platformCheck(); err != nil {
		return err
	}
	all := &installError{}
	for _, k := range []kind{firestoreKind, pubsubKind} {
		_, _, err := k.command(root, Host, 1)
		var ie *installError
		switch {
		case errors.As(err, &ie):
			all.add(ie)
		case err != nil:
			return err
		}
	}
	if len(all.parts) == 0 {
		return nil
	}
	return all
}

// The Firestore launcher (SDK 528) ends with
//
//	${JAVA:="java"} ${JVM_FLAGS} -cp "${FIRESTORE_JAR}" com.google.cloud.datastore.emulator.firestore.CloudFirestore $*
//
// where FIRESTORE_JAR="${FIRESTORE_DIR}/cloud-firestore-emulator.jar" and
// JVM_FLAGS="${JVM_ENGLISH}" = "-Duser.language=en". These patterns pick the
// three parts out of the script so that java can be started directly.
var (
	fsJarRe   = regexp.MustCompile(`(?m)^\s*declare -r FIRESTORE_JAR="\$\{FIRESTORE_DIR\}/([A-Za-z0-9._-]+\.jar)"`)
	fsClassRe = regexp.MustCompile(`(?m)-cp "\$\{FIRESTORE_JAR\}" ([A-Za-z_][A-Za-z0-9_.]*) \$\*\s*$`)
	fsFlagsRe = regexp.MustCompile(`(?m)^\s*declare -r JVM_ENGLISH="(-D[A-Za-z0-9._=-]+)"`)
)

// firestoreJavaArgs derives the java arguments (before the emulator's own
// arguments) from the launcher script text. ok is false when the script does
// not have the expected shape.
func firestoreJavaArgs(script, dir string) (args []string, ok bool) {
	jar := fsJarRe.FindStringSubmatch(script)
	class := fsClassRe.FindStringSubmatch(script)
	if jar == nil || class == nil {
		return nil, false
	}
	if flags := fsFlagsRe.FindStringSubmatch(script); flags != nil {
		args = append(args, flags[1])
	}
	return append(args, "-cp", filepath.Join(dir, jar[1]), class[1]), true
}

func firestoreCommand(root, host string, port int) (*exec.Cmd, bool, error) {
	dir := filepath.Join(root, "platform", "cloud-firestore-emulator")
	launcher := filepath.Join(dir, "cloud_firestore_emulator")
	ie := &installError{root: root}
	script, err := os.ReadFile(launcher)
	if err != nil {
		ie.parts = append(ie.parts, missing{firestorePart, "no launcher " + launcher})
	}
	java, jerr := javaPath(true)
	if jerr != nil {
		ie.add(jerr.(*installError))
	}
	var args []string
	parsed := false
	if err == nil {
		if args, parsed = firestoreJavaArgs(string(script), dir); parsed {
			if jar := args[len(args)-2]; !exists(jar) {
				ie.parts = append([]missing{{firestorePart, "no jar " + jar}}, ie.parts...)
			}
		}
	}
	if len(ie.parts) > 0 {
		return nil, false, ie
	}
	emuArgs := []string{"start", "--host=" + host, "--port=" + strconv.Itoa(port)}
	if parsed {
		return exec.Command(java, append(args, emuArgs...)...), true, nil
	}
	// Unknown script shape: run it; only the process-group kill reaches java.
	cmd := exec.Command(launcher, emuArgs...)
	cmd.Env = append(os.Environ(), "JAVA="+java)
	return cmd, false, nil
}

func pubsubCommand(root, host string, port int) (*exec.Cmd, bool, error) {
	launcher := filepath.Join(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
	ie := &installError{root: root}
	if !exists(launcher) {
		ie.parts = append(ie.parts, missing{pubsubPart, "no launcher " + launcher})
	}
	if _, err := javaPath(false); err != nil {
		ie.add(err.(*installError))
	}
	if len(ie.parts) > 0 {
		return nil, false, ie
	}
	// The script ends with `exec "$JAVACMD" "$@"`: java replaces the shell
	// and inherits its process attributes, Pdeathsig included.
	return exec.Command(launcher, "--host="+host, "--port="+strconv.Itoa(port)), true, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
