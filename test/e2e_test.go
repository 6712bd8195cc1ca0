package test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
)

var (
	schemes = []string{"v1", "v1a", "jwt"}
	// documentedTypes are the nine types of Gemini's webhook guide (events.DocumentedTypes).
	documentedTypes = events.DocumentedTypes()
)

// sentDelivery is what a test sent, to check what arrived against.
type sentDelivery struct {
	id, scheme, typ, job string
	body                 []byte
}

// TestEverySchemeEveryType (issue 4, item 1): each scheme and each
// documented type is answered 200 published and arrives exactly once, on
// the topic of its kind, with the data and attributes of the contract; the
// ledger records it published with that message id.
func TestEverySchemeEveryType(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	var sent []sentDelivery
	for _, scheme := range schemes {
		for i, typ := range documentedTypes {
			d := sentDelivery{id: newID(), scheme: scheme, typ: typ, job: scheme + "-job-" + strconv.Itoa(i)}
			d.body = s.body(typ, d.job)
			r := s.send(scheme, d.id, d.body)
			if r.status != 200 {
				t.Errorf("%s %s: status %d %q, want 200", scheme, typ, r.status, r.body)
				continue
			}
			if st, id := r.answer(t); st != "published" || id != d.id {
				t.Errorf("%s %s: answer %q, want published %s", scheme, typ, r.body, d.id)
			}
			sent = append(sent, d)
		}
	}
	got := byID(s.messages(len(sent)))
	if len(got) != len(sent) {
		t.Errorf("%d distinct messages arrived, want %d", len(got), len(sent))
	}
	for _, d := range sent {
		t.Run(d.scheme+"/"+d.typ, func(t *testing.T) {
			ms := got[d.id]
			if len(ms) != 1 {
				t.Fatalf("%d messages with ce-id %s, want exactly 1", len(ms), d.id)
			}
			checkMessage(t, d, ms[0])
			rec, err := s.ledger.Lookup(context.Background(), d.id)
			if err != nil {
				t.Fatalf("ledger Lookup: %v", err)
			}
			if rec.State != ledger.StatePublished || rec.MessageID != ms[0].msg.MessageId || rec.Attempts != 1 || rec.EventType != d.typ {
				t.Errorf("ledger record = state %s message %s attempts %d type %q, want published %s 1 %q",
					rec.State, rec.MessageID, rec.Attempts, rec.EventType, ms[0].msg.MessageId, d.typ)
			}
		})
	}
}

// checkMessage compares one pulled message with the delivery it came from.
func checkMessage(t *testing.T, d sentDelivery, r received) {
	t.Helper()
	kind, outcome := events.Classify(d.typ)
	if want := topicOf(kind); r.topic != want {
		t.Errorf("arrived on topic %s, want %s", r.topic, want)
	}
	ev, err := events.Decode(r.msg.Data, r.msg.Attributes)
	if err != nil {
		t.Fatalf("events.Decode = %v", err)
	}
	if ev.WebhookID != d.id || ev.Scheme != d.scheme || ev.Type != d.typ || ev.Kind != kind || ev.Outcome != outcome || ev.JobID != d.job {
		t.Errorf("event = id %q scheme %q type %q kind %q outcome %q job %q, want %q %q %q %q %q %q",
			ev.WebhookID, ev.Scheme, ev.Type, ev.Kind, ev.Outcome, ev.JobID, d.id, d.scheme, d.typ, kind, outcome, d.job)
	}
	if string(ev.Envelope) != string(d.body) {
		t.Errorf("envelope = %s, want the body as sent %s", ev.Envelope, d.body)
	}
	if ev.ReceivedAt.IsZero() || time.Since(ev.ReceivedAt) > time.Minute {
		t.Errorf("received_at = %v, want just now", ev.ReceivedAt)
	}
	want := map[string]string{
		events.AttrSpecVersion: events.SpecVersion,
		events.AttrID:          d.id,
		events.AttrSource:      events.Source,
		events.AttrType:        events.CETypePrefix + d.typ,
		events.AttrSubject:     d.job,
		events.AttrContentType: events.ContentType,
		events.AttrEventType:   d.typ,
		events.AttrJobKind:     string(kind),
		events.AttrOutcome:     string(outcome),
	}
	for k, v := range want {
		if got := r.msg.Attributes[k]; got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339, r.msg.Attributes[events.AttrTime]); err != nil {
		t.Errorf("attribute %s = %q, want RFC 3339", events.AttrTime, r.msg.Attributes[events.AttrTime])
	}
}

// TestConcurrentCopies (item 2): 20 copies of one delivery at once, each
// with its own attempt timestamp as Gemini's retries have, publish exactly
// one message; every other copy is answered 200 duplicate or 409 in flight.
func TestConcurrentCopies(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			id := newID()
			body := s.body(events.TypeVideoGenerated, "op-"+scheme)
			const copies = 20
			hs := make([]http.Header, copies)
			for i := range hs {
				hs[i] = s.sign(scheme, id, time.Now().Add(-time.Duration(i)*time.Second), body)
			}
			replies := make([]reply, copies)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range copies {
				wg.Go(func() {
					<-start
					replies[i] = s.post(hs[i], body)
				})
			}
			close(start)
			wg.Wait()
			counts := map[string]int{}
			for _, r := range replies {
				switch r.status {
				case 200:
					st, got := r.answer(t)
					if got != id {
						t.Errorf("answer id %q, want %q", got, id)
					}
					counts[st]++
				case 409:
					counts["409"]++
					if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 || n > int(s.cfg.Lease/time.Second) {
						t.Errorf("409 with Retry-After %q, want 1..%d", r.retryAfter, int(s.cfg.Lease/time.Second))
					}
				default:
					t.Errorf("status %d %q, want 200 or 409", r.status, r.body)
				}
			}
			t.Logf("answers: %v", counts)
			if counts["published"] != 1 || counts["published"]+counts["duplicate"]+counts["409"] != copies {
				t.Errorf("answers %v: want exactly 1 published, the rest duplicate or 409", counts)
			}
			if ms := byID(s.messages(1))[id]; len(ms) != 1 {
				t.Errorf("%d messages with ce-id %s, want exactly 1", len(ms), id)
			}
			// A later retry is a duplicate, never a second message.
			if r := s.send(scheme, id, body); r.status != 200 {
				t.Errorf("retry after the burst: %d %q, want 200 duplicate", r.status, r.body)
			} else if st, _ := r.answer(t); st != "duplicate" {
				t.Errorf("retry after the burst: %q, want duplicate", r.body)
			}
		})
	}
}

// TestPublishFailureReleases (item 3): when publishing fails the answer is
// 503 with Retry-After, the lease is given back, and Gemini's next attempt,
// inside what would have been the lease, publishes exactly once.
func TestPublishFailureReleases(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{flaky: true})
	id := newID()
	body := s.body(events.TypeBatchSucceeded, "batch_pf")
	s.flaky.failing.Store(true)
	r := s.send("v1", id, body)
	if r.status != 503 || r.retryAfter == "" {
		t.Fatalf("publish failing: %d Retry-After %q, want 503 with Retry-After", r.status, r.retryAfter)
	}
	rec, err := s.ledger.Lookup(context.Background(), id)
	if err != nil {
		t.Fatalf("ledger Lookup after the failed publish: %v", err)
	}
	if rec.State != ledger.StateProcessing || rec.LeaseUntil.After(time.Now()) {
		t.Errorf("after the failed publish: state %s lease until %v (now %v), want processing with the lease given back",
			rec.State, rec.LeaseUntil, time.Now())
	}
	if len(s.accessLines(t, "backend_unavailable")) != 1 {
		t.Errorf("no access line with result backend_unavailable:\n%s", s.logs)
	}
	if ms := s.messages(0); len(ms) != 0 {
		t.Fatalf("%d messages after a failed publish, want none", len(ms))
	}

	s.flaky.failing.Store(false)
	r = s.send("v1", id, body)
	if r.status != 200 {
		t.Fatalf("retry: %d %q, want 200 (not 409: the lease was released)", r.status, r.body)
	}
	if st, _ := r.answer(t); st != "published" {
		t.Errorf("retry: %q, want published", r.body)
	}
	if ms := byID(s.messages(1))[id]; len(ms) != 1 {
		t.Errorf("%d messages with ce-id %s, want exactly 1", len(ms), id)
	}
	rec, err = s.ledger.Lookup(context.Background(), id)
	if err != nil || rec.State != ledger.StatePublished || rec.Attempts != 2 {
		t.Errorf("ledger after the retry = %+v, %v; want published after 2 attempts", rec, err)
	}
	if r := s.send("v1", id, body); r.status != 200 || r.body == "" {
		t.Errorf("third attempt: %d %q, want 200 duplicate", r.status, r.body)
	} else if st, _ := r.answer(t); st != "duplicate" {
		t.Errorf("third attempt: %q, want duplicate", r.body)
	}
}

// TestClaimAndDie (item 4): an instance that claimed a delivery and died
// (the claim made directly on the ledger, with no Complete or Release ever
// following) blocks the retries inside its lease with 409 and a Retry-After
// pointing at the lease's end; the first retry after it publishes, once.
func TestClaimAndDie(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{env: map[string]string{"GEMINIHOOK_LEASE": "3s", "GEMINIHOOK_REQUEST_TIMEOUT": "2s"}})
	s.warmUp()
	id := newID()
	body := s.body(events.TypeInteractionCompleted, "v1_dead")
	lease, err := s.ledger.Claim(context.Background(), ledger.Delivery{WebhookID: id, EventType: events.TypeInteractionCompleted, Envelope: body})
	if err != nil {
		t.Fatal(err)
	}
	r := s.send("v1a", id, body)
	if r.status != 409 {
		t.Fatalf("retry inside the lease: %d %q, want 409", r.status, r.body)
	}
	if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 || n > 3 {
		t.Errorf("409 Retry-After = %q, want 1 to 3 (the lease's end)", r.retryAfter)
	}
	if ms := s.messages(0); len(ms) != 0 {
		t.Fatalf("%d messages while another instance held the lease, want none", len(ms))
	}
	time.Sleep(time.Until(lease.Until) + 50*time.Millisecond)
	r = s.send("v1a", id, body)
	if r.status != 200 {
		t.Fatalf("retry after the lease: %d %q, want 200", r.status, r.body)
	}
	if st, _ := r.answer(t); st != "published" {
		t.Errorf("retry after the lease: %q, want published", r.body)
	}
	ms := byID(s.messages(1))[id]
	if len(ms) != 1 {
		t.Fatalf("%d messages with ce-id %s, want exactly 1", len(ms), id)
	}
	checkMessage(t, sentDelivery{id: id, scheme: "v1a", typ: events.TypeInteractionCompleted, job: "v1_dead", body: body}, ms[0])
	// The dead instance, were it to wake up, can no longer complete.
	if err := s.ledger.Complete(context.Background(), lease, "zombie"); !errors.Is(err, ledger.ErrLeaseLost) {
		t.Errorf("Complete by the dead holder = %v, want ErrLeaseLost", err)
	}
}
