package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	geminihook "github.com/geminihook/geminihook"

	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
)

// holdPort listens on a free loopback port for the rest of the test and
// returns its address.
func holdPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// TestServeStartErrors: a taken address is a failure with a way out (exit
// 1); an address that is no address of this machine, or a bad route
// token, is a usage error (exit 2); no message names a Go package.
func TestServeStartErrors(t *testing.T) {
	taken := holdPort(t)
	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"--addr taken", []string{"--addr", taken}, exitFailure,
			[]string{"cannot listen on " + taken + ": the address is in use", "is another serve running?", "--addr, e.g. 127.0.0.1:0"}},
		{"--pubsub-addr taken", []string{"--addr", "127.0.0.1:0", "--pubsub-addr", taken}, exitFailure,
			[]string{"cannot listen on " + taken + ": the address is in use", "--pubsub-addr, e.g. 127.0.0.1:0"}},
		{"--addr not here", []string{"--addr", "192.0.2.1:0"}, exitUsage,
			[]string{`--addr "192.0.2.1:0": not an address of this machine`}},
		{"--addr nonsense", []string{"--addr", "nonsense"}, exitUsage,
			[]string{`--addr "nonsense": want host:port, e.g. 127.0.0.1:8080`}},
		{"bad route token", []string{"--addr", "127.0.0.1:0", "--route-token", "short"}, exitUsage,
			[]string{"--route-token #1: want 22 to"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runInProcess(t, "", append([]string{"serve", "--pubsub-addr", "127.0.0.1:0"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("serve %q: exit %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr)
			}
			for _, want := range tt.wants {
				if !strings.Contains(stderr, want) {
					t.Errorf("serve %q: stderr lacks %q:\n%s", tt.args, want, stderr)
				}
			}
			for _, internal := range []string{"pstest", "route:", "verify:", "loadtest"} {
				if strings.Contains(stderr, internal) {
					t.Errorf("serve %q: stderr names %q:\n%s", tt.args, internal, stderr)
				}
			}
		})
	}
}

// TestServeListensAfterTopics: the first connection serve accepts finds
// its topics made already; the banner follows.
func TestServeListensAfterTopics(t *testing.T) {
	// Topics take their time to create: a serve that listened first would
	// be seen listening without them.
	ps := pstest.NewServerWithAddress("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "CreateTopic", Reactor: slow(300 * time.Millisecond)})
	defer ps.Close()
	addr := deadAddr(t) // a free port, for serve to listen on

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cloudlogtest.Buffer{}
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: &cloudlogtest.Buffer{}, getenv: func(k string) string {
		return map[string]string{"PUBSUB_EMULATOR_HOST": ps.Addr}[k]
	}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--addr", addr, "--secret", testSecret}, e) }()

	client, closeClient, err := dialPubSub(ctx, ps.Addr, defaultProject)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening:\n%s", code, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen on %s", addr)
		}
		time.Sleep(time.Millisecond)
	}
	for _, topic := range defaultTopics() {
		name := "projects/" + defaultProject + "/topics/" + topic
		if _, err := client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name}); err != nil {
			t.Errorf("serve accepted a connection before topic %s existed: %v", name, err)
		}
	}
	for !strings.Contains(out.String(), "Stop with Ctrl-C.") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "topics projects/"+defaultProject+"/topics/"+geminihook.DefaultTopic) {
		t.Errorf("banner does not name the topics:\n%s", out)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve after cancel: exit %d", code)
	}
}

// slow is a pstest reactor that delays a call and lets it through.
type slow time.Duration

func (d slow) React(any) (handled bool, ret any, err error) {
	time.Sleep(time.Duration(d))
	return false, nil, nil
}
