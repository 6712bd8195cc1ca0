package test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/ledger"
)

// TestRoundTrips (item 8) counts the gRPC calls one delivery costs the
// function, with the same interceptors as TestRejectedCostNoBackendCall,
// and holds them to the goals of issue 4: a new delivery at most 3
// Firestore round trips and exactly 1 publish, a duplicate at most 2 and
// none. The table it logs (go test ./test -run TestRoundTrips -v) is the
// one in BENCHMARKS.md.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{})
	flaky := newStack(t, setup{flaky: true})

	type row struct {
		name           string
		status         int
		fs, publish    int
		fsGoal, psGoal int // fsGoal -1: no Firestore goal, measured only
		fsMethods      map[string]int
		psOther        int // Pub/Sub calls other than Publish
	}
	var rows []row
	measure := func(st *stack, name string, fsGoal, psGoal int, wantStatus int, send func() reply) {
		t.Helper()
		st.fsCalls.Reset()
		st.psCalls.Reset()
		r := send()
		if r.status != wantStatus {
			t.Fatalf("%s: %d %q, want %d", name, r.status, r.body, wantStatus)
		}
		fsm := map[string]int{}
		for m, n := range st.fsCalls.Snapshot() {
			fsm[m[strings.LastIndexByte(m, '/')+1:]] = n
		}
		rows = append(rows, row{
			name: name, status: r.status, fs: st.fsCalls.Count(""), publish: st.psCalls.Count("/Publish"),
			fsGoal: fsGoal, psGoal: psGoal, fsMethods: fsm, psOther: st.psCalls.Count("") - st.psCalls.Count("/Publish"),
		})
	}

	body := s.body(events.TypeBatchSucceeded, "batch_rt")
	id := newID()
	measure(s, "new delivery (first of the instance)", 3, 1, 200, func() reply { return s.send("v1", id, body) })
	measure(s, "duplicate", 2, 0, 200, func() reply { return s.send("v1", id, body) })
	// One of each scheme: a JWT delivery (its token bound in the claim's
	// commit) costs no more than a v1a one.
	for _, scheme := range []string{"v1", "v1a", "jwt"} {
		idS := newID()
		measure(s, "new delivery, "+scheme, 2, 1, 200, func() reply { return s.send(scheme, idS, body) })
		measure(s, "duplicate, "+scheme, 2, 0, 200, func() reply { return s.send("v1a", idS, body) })
	}
	measure(s, "duplicate, the same jwt again", -1, 0, 200, func() reply {
		idS := newID()
		if r := s.send("jwt", idS, body); r.status != 200 {
			t.Fatalf("jwt: %d", r.status)
		}
		s.fsCalls.Reset()
		s.psCalls.Reset()
		return s.send("jwt", idS, body)
	})
	measure(s, "quarantined (body not JSON)", 3, 1, 200, func() reply {
		b := []byte("not json")
		return s.post(s.sign("v1", newID(), time.Now(), b), b)
	})
	id3 := newID()
	if _, err := s.ledger.Claim(context.Background(), ledger.Delivery{WebhookID: id3}); err != nil {
		t.Fatal(err)
	}
	measure(s, "in flight (409)", -1, 0, 409, func() reply { return s.send("v1", id3, body) })

	// Through the flaky stack: a failed publish, then Gemini's retry.
	id4 := newID()
	flaky.flaky.failing.Store(true)
	measure(flaky, "publish fails (503, lease released)", -1, 0, 503, func() reply { return flaky.send("v1", id4, body) })
	flaky.flaky.failing.Store(false)
	measure(flaky, "retry after a failed publish", -1, 1, 200, func() reply { return flaky.send("v1", id4, body) })

	var b strings.Builder
	fmt.Fprintf(&b, "\n| delivery | answer | Firestore RPCs | publishes | asserted | Firestore calls |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		goal := fmt.Sprintf("Publish = %d", r.psGoal)
		if r.fsGoal >= 0 {
			goal = fmt.Sprintf("Firestore ≤ %d, %s", r.fsGoal, goal)
		}
		var calls []string
		for _, m := range slices.Sorted(maps.Keys(r.fsMethods)) {
			calls = append(calls, fmt.Sprintf("%s %d", m, r.fsMethods[m]))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", r.name, r.status, r.fs, r.publish, goal, strings.Join(calls, ", "))
		if r.fsGoal >= 0 && r.fs > r.fsGoal {
			t.Errorf("%s: %d Firestore round trips, goal at most %d (%v)", r.name, r.fs, r.fsGoal, r.fsMethods)
		}
		if r.psGoal >= 0 && r.publish != r.psGoal {
			t.Errorf("%s: %d publishes, want %d", r.name, r.publish, r.psGoal)
		}
		if r.psOther != 0 {
			t.Errorf("%s: %d Pub/Sub calls besides Publish, want 0", r.name, r.psOther)
		}
	}
	t.Log(b.String())
}
