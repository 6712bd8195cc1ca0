package emulator_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/emulator"
)

// orphanHelperEnv turns the test binary into a process that starts an
// emulator, prints its pid and dies without cleaning up.
const orphanHelperEnv = "GEMINIHOOK_EMULATOR_ORPHAN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) == "1" {
		emu, err := emulator.StartFirestore(context.Background(), emulator.Options{LogDir: os.TempDir()})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("pid", emu.PID(), emu.Port())
		os.Exit(3) // no Stop, no Main: only Pdeathsig can clean up
	}
	emulator.Main(m)
}

// alive reports whether pid exists and is not a zombie. The leader of a
// dying JVM turns zombie before its other threads have exited and released
// its sockets: check the port too.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits until pid is dead and nothing listens on addr.
func waitGone(t *testing.T, pid int, addr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); alive(pid) || portOpen(addr); {
		if time.Now().After(deadline) {
			ss, _ := exec.Command("ss", "-ltnp").CombinedOutput()
			t.Fatalf("process %d alive %v, port %s open %v:\n%s", pid, alive(pid), addr, portOpen(addr), ss)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func portOpen(addr string) bool {
	if addr == "" {
		return false
	}
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func getOK(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
}

func newFirestore(t *testing.T, emu *emulator.Emulator, c *emulator.Counter) *firestore.Client {
	t.Helper()
	fs, err := firestore.NewClient(t.Context(), emulator.ProjectID(t), emu.ClientOptions(t, c)...)
	if err != nil {
		t.Fatalf("firestore.NewClient: %v", err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

func TestFirestoreSharedCountsAndWipe(t *testing.T) {
	t.Parallel()
	emu := emulator.Firestore(t)
	getOK(t, emu.Addr())
	if emu.Name() != "firestore" || emu.EnvVar() != "FIRESTORE_EMULATOR_HOST" {
		t.Errorf("Name, EnvVar = %q, %q", emu.Name(), emu.EnvVar())
	}
	var calls emulator.Counter
	project := emulator.ProjectID(t)
	fs, err := firestore.NewClient(t.Context(), project, emu.ClientOptions(t, &calls)...)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	doc := fs.Collection("c").Doc("d")
	if _, err := doc.Create(t.Context(), map[string]any{"n": 1}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := doc.Get(t.Context()); err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := map[string]int{
		"/google.firestore.v1.Firestore/Commit":            1,
		"/google.firestore.v1.Firestore/BatchGetDocuments": 1,
	}
	if got := calls.Snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if err := emu.Wipe(t.Context(), project); err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	if _, err := doc.Get(t.Context()); status.Code(err) != codes.NotFound {
		t.Errorf("Get after Wipe: %v, want NotFound", err)
	}
}

// TestFirestoreEnvVarHidesDialOptions pins down why Emulator.ClientOptions
// exists: with FIRESTORE_EMULATOR_HOST set, firestore.NewClient dials its own
// connection and a Counter's dial options never see a call.
func TestFirestoreEnvVarHidesDialOptions(t *testing.T) {
	emu := emulator.Firestore(t)
	t.Setenv("FIRESTORE_EMULATOR_HOST", emu.Addr())
	var viaEnv, viaConn emulator.Counter
	for _, tc := range []struct {
		name  string
		calls *emulator.Counter
		opts  []option.ClientOption
		want  int
	}{
		{"env var + Counter.ClientOptions", &viaEnv, viaEnv.ClientOptions(), 0},
		{"Emulator.ClientOptions", &viaConn, emu.ClientOptions(t, &viaConn), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := firestore.NewClient(t.Context(), emulator.ProjectID(t), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			if _, err := fs.Collection("c").Doc("d").Create(t.Context(), map[string]any{"n": 1}); err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got := tc.calls.Count("Commit"); got != tc.want {
				t.Errorf("Count(Commit) = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPubSub(t *testing.T) {
	emu := emulator.PubSub(t)
	getOK(t, emu.Addr())
	if err := emu.Wipe(t.Context(), "x"); !errors.Is(err, emulator.ErrUnsupported) {
		t.Errorf("Wipe on pubsub = %v, want ErrUnsupported", err)
	}
	publishOne := func(t *testing.T, opts []option.ClientOption) {
		t.Helper()
		project := emulator.ProjectID(t)
		c, err := pubsub.NewClient(t.Context(), project, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		topic := "projects/" + project + "/topics/jobs"
		if _, err := c.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		p := c.Publisher(topic)
		defer p.Stop()
		if _, err := p.Publish(t.Context(), &pubsub.Message{Data: []byte("x")}).Get(t.Context()); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	t.Run("Emulator.ClientOptions", func(t *testing.T) {
		var calls emulator.Counter
		publishOne(t, emu.ClientOptions(t, &calls))
		if calls.Count("/CreateTopic") != 1 || calls.Count("/Publish") != 1 {
			t.Errorf("calls = %v, want one CreateTopic and one Publish", calls.Snapshot())
		}
	})
	t.Run("env var + Counter.ClientOptions", func(t *testing.T) {
		t.Setenv("PUBSUB_EMULATOR_HOST", emu.Addr())
		var calls emulator.Counter
		publishOne(t, calls.ClientOptions())
		if calls.Count("/CreateTopic") != 1 || calls.Count("/Publish") != 1 {
			t.Errorf("calls = %v, want one CreateTopic and one Publish", calls.Snapshot())
		}
	})
}

func TestPrivateFirestoreRestartStop(t *testing.T) {
	t.Parallel()
	emu := emulator.PrivateFirestore(t)
	pid, port := emu.PID(), emu.Port()
	if !emu.Direct() {
		t.Errorf("Direct() = false: the launcher script was not parsed, Pdeathsig cannot reach java")
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) != "java" {
		t.Errorf("emulator process is %q, want java", comm)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("Getpgid(%d) = %d, %v; want its own group", pid, pgid, err)
	}
	if err := emu.Start(t.Context()); !errors.Is(err, emulator.ErrRunning) {
		t.Errorf("Start while running = %v, want ErrRunning", err)
	}

	fs := newFirestore(t, emu, nil)
	doc := fs.Collection("c").Doc("d")
	if _, err := doc.Create(t.Context(), map[string]any{"n": 1}); err != nil {
		t.Fatalf("Create: %v", err)
	}

	if err := emu.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	waitGone(t, pid, "") // the new process owns the port
	if emu.Port() != port || emu.PID() == pid || !emu.Running() {
		t.Errorf("after Restart: port %d pid %d running %v; want port %d, a new pid, running", emu.Port(), emu.PID(), emu.Running(), port)
	}
	getOK(t, emu.Addr())
	// The same client reconnects; the data is gone with the old process.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := doc.Get(ctx); status.Code(err) != codes.NotFound {
		t.Errorf("Get after Restart: %v, want NotFound (data lost)", err)
	}

	pid = emu.PID()
	if err := emu.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, pid, emu.Addr())
	if emu.Running() || emu.PID() != 0 || portOpen(emu.Addr()) {
		t.Errorf("after Stop: running %v, pid %d, port open %v", emu.Running(), emu.PID(), portOpen(emu.Addr()))
	}
	if err := emu.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestNoOrphanWhenTestBinaryDies runs this test binary as a child that starts
// an emulator and exits without stopping it: the kernel must kill the JVM.
func TestNoOrphanWhenTestBinaryDies(t *testing.T) {
	t.Parallel()
	emulator.Firestore(t) // skips under -short, fails when not installed
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	var pid, port int
	if _, err := fmt.Sscanf(line, "pid %d %d", &pid, &port); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	err = cmd.Wait()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("helper exit: %v, want status 3", err)
	}
	waitGone(t, pid, net.JoinHostPort(emulator.Host, strconv.Itoa(port)))
}

func TestNotInstalled(t *testing.T) {
	root := emulator.SDKRoot() // before PATH changes
	empty := t.TempDir()
	tests := []struct {
		name  string
		start func(context.Context, emulator.Options) (*emulator.Emulator, error)
		root  string
		env   map[string]string
		want  []string
	}{
		{"firestore no sdk", emulator.StartFirestore, empty, nil, []string{"the Firestore emulator (no launcher",
			"google-cloud-cli-firestore-emulator", "gcloud components install cloud-firestore-emulator"}},
		{"pubsub no sdk", emulator.StartPubSub, empty, nil, []string{"the Pub/Sub emulator (no launcher",
			"google-cloud-cli-pubsub-emulator", "gcloud components install pubsub-emulator"}},
		{"firestore no java", emulator.StartFirestore, root, map[string]string{"PATH": empty, "JAVA": "", "JAVA_HOME": ""},
			[]string{"Java 17 or later (no java on PATH", "openjdk-17-jre-headless"}},
		{"pubsub no java", emulator.StartPubSub, root, map[string]string{"PATH": empty, "JAVA": "", "JAVA_HOME": ""},
			[]string{"Java 17 or later (no java on PATH", "openjdk-17-jre-headless"}},
		{"firestore nothing", emulator.StartFirestore, empty, map[string]string{"PATH": empty, "JAVA": "", "JAVA_HOME": ""},
			[]string{"the Firestore emulator (no launcher", "and Java 17 or later", "google-cloud-cli-firestore-emulator openjdk-17-jre-headless"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			emu, err := tc.start(t.Context(), emulator.Options{SDKRoot: tc.root})
			if !errors.Is(err, emulator.ErrNotInstalled) || emu != nil {
				t.Fatalf("start = %v, %v; want ErrNotInstalled", emu, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestProjectID(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		id := emulator.ProjectID(t)
		if seen[id] {
			t.Errorf("ProjectID repeated %q", id)
		}
		seen[id] = true
		if len(id) > 30 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || !strings.HasPrefix(id, "p") {
			t.Errorf("ProjectID = %q: want [a-z0-9-], at most 30, starting with a letter", id)
		}
		if !strings.Contains(id, "-testprojectid") {
			t.Errorf("ProjectID = %q does not name the test", id)
		}
	}
}

// runSelf runs this test binary with args and env added, and returns its
// exit code and output.
func runSelf(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", os.Args[0], err)
	}
	return code, string(out)
}

// TestMissingPartFailsLoudly runs two emulator tests of this binary in a
// child whose PATH, JAVA and JAVA_HOME hold no java: they must fail, not
// skip, each with the message that names Java and how to install it, and
// the run must end with a summary that says why.
func TestMissingPartFailsLoudly(t *testing.T) {
	empty := t.TempDir()
	code, out := runSelf(t, []string{"PATH=" + empty, "JAVA=", "JAVA_HOME=", "CI="},
		"-test.run=^(TestPubSub|TestFirestoreSharedCountsAndWipe)$", "-test.v")
	if code == 0 {
		t.Fatalf("child exited 0 without java; output:\n%s", out)
	}
	for _, want := range []string{
		"--- FAIL: TestPubSub ", "--- FAIL: TestFirestoreSharedCountsAndWipe ",
		"missing Java 17 or later (no java on PATH", "apt-get install ", "openjdk-17-jre-headless", "go test -short",
		"emulator: 2 tests failed because a part they need is missing:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--- SKIP") {
		t.Errorf("a test skipped instead of failing:\n%s", out)
	}
}

// TestShortSkipsAndCounts runs emulator tests of this binary under -short
// in a child: they skip before anything starts, the run passes, and it
// ends by saying how many tests it left out.
func TestShortSkipsAndCounts(t *testing.T) {
	empty := t.TempDir()
	code, out := runSelf(t, []string{"PATH=" + empty, "JAVA=", "JAVA_HOME="},
		"-test.short", "-test.run=^(TestPubSub|TestFirestoreSharedCountsAndWipe|TestPrivateFirestoreRestartStop|TestProjectID)$", "-test.v")
	if code != 0 {
		t.Fatalf("child under -short exited %d; output:\n%s", code, out)
	}
	for _, want := range []string{"--- SKIP: TestPubSub ", "--- SKIP: TestPrivateFirestoreRestartStop ", "--- PASS: TestProjectID "} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	const summary = "emulator: 3 tests skipped under -short: they need the Firestore/Pub/Sub emulators and Java; go test without -short runs them\n"
	if !strings.HasSuffix(out, summary) {
		t.Errorf("child output does not end with %q:\n%s", summary, out)
	}
}
