package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// TestFixture checks what the benchmarks measure: that a new delivery is
// answered 200 published and lands on pstest, that a re-sent one is
// answered 200 duplicate without a second message, that the signature is
// really checked, and that Bare answers 200, through the recorder and over
// loopback HTTP through functions-framework. It needs no emulator.
func TestFixture(t *testing.T) {
	body := Body()
	if n := len(body); n < 1000 || n > 1100 {
		t.Fatalf("len(Body()) = %d, want about 1 KiB", n)
	}
	ev, err := events.Parse(body)
	if err != nil || ev.Type != events.TypeBatchSucceeded {
		t.Fatalf("events.Parse(Body()) = %+v, %v; want a batch.succeeded event", ev, err)
	}

	d := newDeliveries(t, body)
	s := d.signer()
	t.Run("signer", func(t *testing.T) {
		id := s.newID()
		ts, _ := strconv.ParseInt(d.ts, 10, 64)
		got := s.header(id).Get(verify.HeaderSignature)
		if want := verifytest.V1Token(secret, id, time.Unix(ts, 0), body); got != want {
			t.Errorf("signature = %q, want verifytest's %q", got, want)
		}
		if a, b := s.newID(), s.newID(); a == b {
			t.Errorf("newID returned %q twice", a)
		}
	})

	f := newFixture(t, pubsubInProcess)
	url := frameworkURL(t)
	framework.gemi.set(f.handler)
	client := &http.Client{Timeout: 10 * time.Second}

	// recorder and loopback answer (status, body) for one delivery.
	recorder := func(h http.Handler) func(http.Header) (int, string) {
		return func(hd http.Header) (int, string) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, recorderRequest(hd, body))
			return w.Code, w.Body.String()
		}
	}
	loopback := func(path string) func(http.Header) (int, string) {
		return func(hd http.Header) (int, string) {
			req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = hd
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
	}
	t.Run("nopubsub", func(t *testing.T) {
		nf := newFixture(t, pubsubNone)
		id := s.newID()
		checkAnswer(t, "new", recorder(nf.handler), s.header(id), "published", id)
		checkAnswer(t, "duplicate", recorder(nf.handler), s.header(id), "duplicate", id)
		if got := nf.published(); got != 1 {
			t.Errorf("counter publisher: %d publishes after a new delivery and its duplicate, want 1", got)
		}
	})
	t.Run("remote", func(t *testing.T) {
		rf := newFixture(t, pubsubRemote)
		id := s.newID()
		checkAnswer(t, "new", recorder(rf.handler), s.header(id), "published", id)
		checkAnswer(t, "duplicate", recorder(rf.handler), s.header(id), "duplicate", id)
		if got := rf.published(); got != 1 {
			t.Errorf("pstest in a child process: %d messages after a new delivery and its duplicate, want 1", got)
		}
		if cpu := rf.pubsubCPU(); cpu <= 0 {
			t.Errorf("pstest child's CPU time %v, want more than 0", cpu)
		}
	})
	for _, tc := range []struct {
		name       string
		geminihook func(http.Header) (int, string)
		bare       func(http.Header) (int, string)
	}{
		{"recorder", recorder(f.handler), recorder(http.HandlerFunc(Bare))},
		{"loopback", loopback("/geminihook"), loopback("/bare")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.newID()
			before := f.published()
			checkAnswer(t, "new", tc.geminihook, s.header(id), "published", id)
			if got := f.published(); got != before+1 {
				t.Fatalf("%d messages on pstest after a new delivery, want %d", got, before+1)
			}
			msgs := f.pstest.Messages()
			if got := msgs[len(msgs)-1].Attributes["ce-id"]; got != id {
				t.Errorf("last message's ce-id = %q, want %q", got, id)
			}
			checkAnswer(t, "duplicate", tc.geminihook, s.header(id), "duplicate", id)

			forged := s.header(s.newID())
			forged.Set(verify.HeaderSignature, "v1,"+strings.Repeat("A", 43)+"=")
			if code, _ := tc.geminihook(forged); code != http.StatusUnauthorized {
				t.Errorf("forged delivery: status %d, want 401", code)
			}
			if got := f.published(); got != before+1 {
				t.Errorf("%d messages on pstest after a duplicate and a forgery, want %d", got, before+1)
			}
			if code, _ := tc.bare(s.header(s.newID())); code != http.StatusOK {
				t.Errorf("bare: status %d, want 200", code)
			}
		})
	}
}

func checkAnswer(t *testing.T, what string, serve func(http.Header) (int, string), h http.Header, wantStatus, wantID string) {
	t.Helper()
	code, body := serve(h)
	if code != http.StatusOK {
		t.Fatalf("%s delivery: status %d (%q), want 200", what, code, body)
	}
	var a struct{ Status, ID string }
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Status != wantStatus || a.ID != wantID {
		t.Fatalf("%s delivery: answer %q, want status %q and id %q", what, body, wantStatus, wantID)
	}
}
