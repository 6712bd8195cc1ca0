package emulator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
		return "", fmt.Errorf("%w: java not found on PATH, JAVA or JAVA_HOME; install a Java 17+ runtime "+
			"(Debian package openjdk-17-jre-headless)", ErrNotInstalled)
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

// Debian packages that ship the emulators.
const (
	firestorePackage = "google-cloud-cli-firestore-emulator"
	pubsubPackage    = "google-cloud-cli-pubsub-emulator"
)

func notInstalled(name, pkg, root, detail string) error {
	return fmt.Errorf("%w: %s emulator: %s (SDK root %s); install the Debian package %s and a Java 17+ runtime "+
		"(openjdk-17-jre-headless)", ErrNotInstalled, name, detail, root, pkg)
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
	script, err := os.ReadFile(launcher)
	if err != nil {
		return nil, false, notInstalled("firestore", firestorePackage, root, "launcher "+launcher+" not found")
	}
	java, err := javaPath(true)
	if err != nil {
		return nil, false, err
	}
	emuArgs := []string{"start", "--host=" + host, "--port=" + strconv.Itoa(port)}
	if args, ok := firestoreJavaArgs(string(script), dir); ok {
		if _, err := os.Stat(args[len(args)-2]); err != nil {
			return nil, false, notInstalled("firestore", firestorePackage, root, "jar "+args[len(args)-2]+" not found")
		}
		return exec.Command(java, append(args, emuArgs...)...), true, nil
	}
	// Unknown script shape: run it; only the process-group kill reaches java.
	cmd := exec.Command(launcher, emuArgs...)
	cmd.Env = append(os.Environ(), "JAVA="+java)
	return cmd, false, nil
}

func pubsubCommand(root, host string, port int) (*exec.Cmd, bool, error) {
	launcher := filepath.Join(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
	if _, err := os.Stat(launcher); err != nil {
		return nil, false, notInstalled("pubsub", pubsubPackage, root, "launcher "+launcher+" not found")
	}
	if _, err := javaPath(false); err != nil {
		return nil, false, err
	}
	// The script ends with `exec "$JAVACMD" "$@"`: java replaces the shell
	// and inherits its process attributes, Pdeathsig included.
	return exec.Command(launcher, "--host="+host, "--port="+strconv.Itoa(port)), true, nil
}
