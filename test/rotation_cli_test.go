package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/geminihook/geminihook/internal/gemini/geminitest"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// cliKey is the Gemini API key the fake WebhookService accepts.
const cliKey = "AIzaRotationTestKey-0123456789abcdefghij"

// geminihookCLI builds cmd/geminihook into the test's directory.
func geminihookCLI(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "geminihook")
	out, err := exec.Command("go", "build", "-o", path, "github.com/geminihook/geminihook/cmd/geminihook").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/geminihook: %v\n%s", err, out)
	}
	return path
}

// TestRotationCLINoDeliveryLost: `geminihook webhooks rotate` in the middle
// of a stream of deliveries to the composed function loses none. The fake
// WebhookService signs each delivery with every secret it holds valid:
// first the old one alone, then (from the rotation on) both, then (a day
// later by its clock) the new one alone; `rotate --finish` then disables
// the old Secret Manager version. Every delivery is answered 200 at its
// first attempt and published exactly once, and no secret reaches the log.
func TestRotationCLINoDeliveryLost(t *testing.T) {
	t.Parallel()
	// The function reloads its enabled versions each second, so that the
	// test's "one day" of overlap is a few seconds long.
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_SECRET_REFRESH": "1s"}})
	bin := geminihookCLI(t)
	fake := geminitest.NewServer(t, cliKey)
	// The webhook as `webhooks create` left it: its secret is the stack's
	// first version.
	id := fake.AddWebhook(s.url+"/", []string{"batch.succeeded"}, verifytest.Secret)

	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(append([]string{"webhooks"}, args...),
			"--api-url", fake.URL, "--secret-manager-addr", s.sm.Addr())...)
		cmd.Env = append(os.Environ(), "GEMINI_API_KEY="+cliKey)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("geminihook webhooks %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
		}
		for _, sec := range fake.AllSecrets() {
			if strings.Contains(out.String()+errOut.String(), strings.TrimPrefix(sec, "whsec_")) {
				t.Errorf("geminihook webhooks %q printed a signing secret", args)
			}
		}
		return out.String()
	}

	type result struct {
		phase      string
		status     int
		signatures int
		err        error
	}
	var mu sync.Mutex
	var results []result
	n := 0
	deliver := func(phase string) {
		mu.Lock()
		n++
		job := fmt.Sprintf("batch_rot_%s_%d", phase, n)
		mu.Unlock()
		d, err := fake.Deliver(context.Background(), id, "batch.succeeded", map[string]any{"id": job})
		mu.Lock()
		results = append(results, result{phase, d.Status, d.Signatures, err})
		mu.Unlock()
	}

	// 1. The old secret alone.
	for range 5 {
		deliver("old")
	}
	// 2. Rotate while deliveries keep coming.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			deliver("during")
			time.Sleep(10 * time.Millisecond)
		}
	})
	out := cli("rotate", id, "--secret", s.cfg.Secret)
	// 3. Both secrets, for a few of the function's refreshes.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, sec := range fake.AllSecrets() {
		s.forbid(sec, strings.TrimPrefix(sec, "whsec_"))
	}
	if !strings.Contains(out, "expires at") {
		t.Errorf("rotate does not say when the old secret expires:\n%s", out)
	}
	versions := s.sm.Versions(s.cfg.Secret)
	if len(versions) != 2 || string(versions[1].Payload) != fake.Secrets(id)[1] {
		t.Fatalf("after rotate the secret has %d versions; want the new secret added as version 2", len(versions))
	}

	// 4. A day later by Gemini's clock: the new secret alone.
	fake.Advance(25 * time.Hour)
	for range 5 {
		deliver("new")
	}
	// 5. --finish disables the old version; deliveries go on.
	out = cli("rotate", "--finish", id, "--secret", s.cfg.Secret)
	versions = s.sm.Versions(s.cfg.Secret)
	if versions[0].State != secretmanagerpb.SecretVersion_DISABLED || versions[1].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("after --finish: %v %v; want the old version disabled, the new enabled\n%s", versions[0].State, versions[1].State, out)
	}
	time.Sleep(1500 * time.Millisecond) // past a refresh: the old version is gone from the function
	for range 5 {
		deliver("finished")
	}

	wantSigs := map[string]int{"old": 1, "new": 1, "finished": 1}
	bySigs := map[int]int{}
	for _, r := range results {
		if r.err != nil || r.status != 200 {
			t.Errorf("%s delivery: %d, %v; want 200 at the first attempt", r.phase, r.status, r.err)
		}
		if want, ok := wantSigs[r.phase]; ok && r.signatures != want {
			t.Errorf("%s delivery carried %d signatures, want %d", r.phase, r.signatures, want)
		}
		bySigs[r.signatures]++
	}
	if bySigs[2] == 0 {
		t.Errorf("no delivery was signed with both secrets: the rotation was not in the middle of the stream (%v)", bySigs)
	}
	t.Logf("%d deliveries: %v by number of signatures", len(results), bySigs)

	got := byID(s.messages(len(results)))
	for _, d := range fake.Deliveries() {
		if n := len(got[d.MessageID]); n != 1 {
			t.Errorf("delivery %s published %d times, want once", d.MessageID, n)
		}
	}
	if len(got) != len(results) {
		t.Errorf("%d events published for %d deliveries", len(got), len(results))
	}
}
