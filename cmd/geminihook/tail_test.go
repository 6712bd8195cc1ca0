package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/cloudlog/cloudlogtest"
)

// waitFor waits until cond holds for buf's text, failing the test after a
// while or when done delivers first.
func waitFor(t *testing.T, buf *cloudlogtest.Buffer, what string, done <-chan int, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond(buf.String()) {
		select {
		case code := <-done:
			t.Fatalf("exited %d before %s:\n%s", code, what, buf)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute:\n%s", what, buf)
		}
	}
}

// TestTailSurvivesRestart: the Pub/Sub server goes away and comes back at
// the same address with its topics but without tail's subscriptions, as
// serve's in-process one does when serve restarts. tail says so,
// subscribes again and prints what is published then.
func TestTailSurvivesRestart(t *testing.T) {
	addr := deadAddr(t) // the server comes and goes there
	topic := "projects/" + defaultProject + "/topics/" + defaultTopics()[0]
	// createTopics makes serve's topics on the server at addr.
	createTopics := func() {
		t.Helper()
		c, closeClient, err := dialPubSub(context.Background(), addr, defaultProject)
		if err != nil {
			t.Fatal(err)
		}
		defer closeClient()
		for _, id := range defaultTopics() {
			if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/" + defaultProject + "/topics/" + id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish := func(srv *pstest.Server, id string) {
		srv.Publish(topic, []byte(`{"type":"batch.succeeded","data":{"id":"batches/`+id+`"}}`), map[string]string{events.AttrID: id})
	}

	srv := pstest.NewServerWithAddress(addr)
	createTopics()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &cloudlogtest.Buffer{}, &cloudlogtest.Buffer{}
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: errs, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"tail", "--pubsub-addr", addr, "--json", "--count", "2", "--timeout", "2m"}, e)
	}()
	waitFor(t, errs, "tail's ready line", done, func(s string) bool { return strings.Contains(s, "waiting for events") })
	publish(srv, "msg_before")
	waitFor(t, out, "the first event", done, func(s string) bool { return strings.Contains(s, "msg_before") })

	// Down for a while; back without topics at first, as serve is while
	// it starts.
	srv.Close()
	time.Sleep(time.Second)
	srv = pstest.NewServerWithAddress(addr)
	defer func() { srv.Close() }()
	time.Sleep(500 * time.Millisecond)
	createTopics()
	waitFor(t, errs, "a new subscription", done, func(s string) bool { return strings.Contains(s, "subscribed again") })
	publish(srv, "msg_after")

	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("tail exited %d, want 0 after --count 2; stderr:\n%s", code, errs)
		}
	case <-time.After(time.Minute):
		t.Fatalf("tail did not print the event published after the restart; stdout:\n%s\nstderr:\n%s", out, errs)
	}
	var ids []string
	for line := range strings.Lines(out.String()) {
		var l tailJSON
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("tail --json line %q: %v", line, err)
		}
		ids = append(ids, l.Attributes[events.AttrID])
	}
	if strings.Join(ids, " ") != "msg_before msg_after" {
		t.Errorf("tail printed events %q, want msg_before then msg_after", ids)
	}
	for _, want := range []string{"lost tail's subscriptions", "did serve restart?", "following " + topic} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("tail's stderr lacks %q:\n%s", want, errs)
		}
	}
	t.Logf("tail's stderr:\n%s", errs)
	if strings.Contains(errs.String(), "rpc error") {
		t.Errorf("tail's stderr shows a raw gRPC error:\n%s", errs)
	}
}
