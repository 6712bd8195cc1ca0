package naive

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/internal/emulator"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// peer is the naive receiver on the Firestore emulator and an in-process
// pstest server, every call counted, publishes behind a gate.
type peer struct {
	rc       *Receiver
	ps       *pstest.Server
	fsCalls  *emulator.Counter
	psCalls  *emulator.Counter
	gate     *emulator.PublishGate
	logs     *bytes.Buffer
	fsClient *firestore.Client
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	fs := emulator.Firestore(t)
	ctx := context.Background()
	project := emulator.ProjectID(t)
	p := &peer{fsCalls: &emulator.Counter{}, psCalls: &emulator.Counter{}, gate: &emulator.PublishGate{}, logs: &bytes.Buffer{}}
	var err error
	p.fsClient, err = firestore.NewClient(ctx, project, fs.ClientOptions(t, p.fsCalls)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.fsClient.Close() })
	p.ps = pstest.NewServer()
	t.Cleanup(func() { p.ps.Close() })
	conn, err := grpc.NewClient(p.ps.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(p.gate.UnaryInterceptor()), grpc.WithChainUnaryInterceptor(p.psCalls.UnaryInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	psc, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psc.Close() })
	if _, err := psc.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + project + "/topics/events"}); err != nil {
		t.Fatal(err)
	}
	p.rc, err = New(p.fsClient, psc, verifytest.Secret, "events", log.New(p.logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.rc.Stop)
	p.fsCalls.Reset()
	p.psCalls.Reset()
	return p
}

// send serves one v1 delivery of id signed with secret.
func (p *peer) send(t *testing.T, id, secret string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	ts := time.Now()
	r.Header = verifytest.Headers(id, ts, verifytest.V1Token(secret, id, ts, body))
	w := httptest.NewRecorder()
	p.rc.ServeHTTP(w, r)
	return w
}

// published returns the ce-id of every message on pstest.
func (p *peer) published() []string {
	var ids []string
	for _, m := range p.ps.Messages() {
		ids = append(ids, m.Attributes["ce-id"])
	}
	return ids
}

var body = []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/123"}}`)

// TestNaive: the receiver answers a new delivery 200 and publishes it once,
// a duplicate 200 without publishing, a forgery 401; a new delivery costs
// it a transaction of 3 Firestore calls (begin, get, commit) and 1 publish.
func TestNaive(t *testing.T) {
	p := newPeer(t)
	id := verifytest.NewWebhookID()
	if w := p.send(t, id, verifytest.Secret, body); w.Code != http.StatusOK {
		t.Fatalf("new delivery: %d %s", w.Code, w.Body)
	}
	if got := p.published(); len(got) != 1 || got[0] != id {
		t.Fatalf("published %q, want [%s]", got, id)
	}
	if m := p.ps.Messages()[0]; !bytes.Equal(m.Data, body) || m.Attributes["event_type"] != "batch.succeeded" {
		t.Errorf("message %q %v: want the body and event_type batch.succeeded", m.Data, m.Attributes)
	}
	newFS, newPS := p.fsCalls.Snapshot(), p.psCalls.Count("")
	t.Logf("new delivery: Firestore %v, Pub/Sub %d", newFS, newPS)
	if n := p.fsCalls.Count(""); n != 3 || p.fsCalls.Count("BeginTransaction") != 1 || p.fsCalls.Count("Commit") != 1 {
		t.Errorf("new delivery: %d Firestore calls %v, want 3 (BeginTransaction, BatchGetDocuments, Commit)", n, newFS)
	}
	if n := p.psCalls.Count(emulator.PublishMethod); n != 1 || newPS != 1 {
		t.Errorf("new delivery: %d Pub/Sub calls (%d Publish), want 1 Publish", newPS, n)
	}

	p.fsCalls.Reset()
	p.psCalls.Reset()
	if w := p.send(t, id, verifytest.Secret, body); w.Code != http.StatusOK {
		t.Fatalf("duplicate: %d %s", w.Code, w.Body)
	}
	t.Logf("duplicate: Firestore %v, Pub/Sub %d", p.fsCalls.Snapshot(), p.psCalls.Count(""))
	if got := p.published(); len(got) != 1 {
		t.Errorf("after a duplicate, %d messages, want 1", len(got))
	}
	if n := p.psCalls.Count(""); n != 0 {
		t.Errorf("duplicate: %d Pub/Sub calls, want 0", n)
	}

	p.fsCalls.Reset()
	forged := verifytest.NewWebhookID()
	if w := p.send(t, forged, "whsec_"+strings.Repeat("A", 43)+"=", body); w.Code != http.StatusUnauthorized {
		t.Errorf("forgery: %d %s, want 401", w.Code, w.Body)
	}
	if n := p.fsCalls.Count(""); n != 0 || len(p.published()) != 1 {
		t.Errorf("forgery: %d Firestore calls, %d messages: want 0 and 1", n, len(p.published()))
	}
}

// TestNaiveAcksBeforePublishing records the naive design's flaw that the
// fault rig measures: the record is created before the publish, so when
// the publish fails (500) Gemini's retry is taken for a duplicate and
// answered 200 while the event is not out. Only the Publisher's own
// background retries (up to its 60 s Timeout, after the request has been
// answered) may still publish it; past them, or if the instance stops
// first, it is lost.
func TestNaiveAcksBeforePublishing(t *testing.T) {
	p := newPeer(t)
	// A first delivery warms the emulator up: the transaction below must
	// end well within its request's second.
	if w := p.send(t, verifytest.NewWebhookID(), verifytest.Secret, body); w.Code != http.StatusOK {
		t.Fatalf("first delivery: %d %s", w.Code, w.Body)
	}
	p.ps.ClearMessages()
	id := verifytest.NewWebhookID()
	p.gate.Set(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	ts := time.Now()
	r.Header = verifytest.Headers(id, ts, verifytest.V1Token(verifytest.Secret, id, ts, body))
	w := httptest.NewRecorder()
	p.rc.ServeHTTP(w, r) // Get returns when ctx ends; the Publisher keeps retrying
	if w.Code != http.StatusInternalServerError || !strings.Contains(p.logs.String(), id+": publish") {
		t.Fatalf("publish refused: %d %s, log %q: want 500 for the publish", w.Code, w.Body, p.logs)
	}
	if w := p.send(t, id, verifytest.Secret, body); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s, want 200 (taken for a duplicate)", w.Code, w.Body)
	}
	if got := p.published(); len(got) != 0 {
		t.Fatalf("published %q while every publish is refused", got)
	}
	if p.gate.Refused() == 0 {
		t.Errorf("no publish refused: the fault missed")
	}
	// The delivery is acknowledged, its event not published. Once publishing
	// works again, the Publisher's retry sends it, after the fact.
	p.gate.Set(false)
	p.rc.Stop()
	if got := p.published(); len(got) != 1 || got[0] != id {
		t.Errorf("after the outage, published %q: want [%s], sent late by the Publisher's retry", got, id)
	}
}
