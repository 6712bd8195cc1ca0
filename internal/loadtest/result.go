package loadtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/geminihook/geminihook/internal/localnet"
)

// Role is what a send is for.
type Role string

// The roles of a send.
const (
	RoleOriginal  Role = "original"  // the first send of an authentic delivery
	RoleDuplicate Role = "duplicate" // another send of an authentic delivery
	RoleForged    Role = "forged"    // must never be published
)

// The kinds of forgery, cycled through by the forged sends.
const (
	ForgeryWrongSecret = "wrong_secret"  // signed with another secret
	ForgeryTampered    = "tampered_body" // body changed after signing
	ForgeryStale       = "stale"         // right secret, timestamp an hour old
)

var forgeries = []string{ForgeryWrongSecret, ForgeryTampered, ForgeryStale}

// Outcome is how a send ended.
type Outcome string

// The outcomes of a send.
const (
	OutcomeOK          Outcome = "ok"          // a 2xx answer
	OutcomeRefused     Outcome = "refused"     // a final 4xx (other than 408, 409, 425, 429)
	OutcomeGaveUp      Outcome = "gave_up"     // MaxAttempts or Deadline reached on retryable answers
	OutcomeInterrupted Outcome = "interrupted" // Run's context ended first
)

// Attempt is one HTTP attempt of a send.
type Attempt struct {
	Start   time.Time
	Latency time.Duration // until the answer was read, or the error
	Status  int           // 0 when no answer came
	Answer  string        // "published" or "duplicate" for such a 200, else ""
	Err     error         // transport error or timeout
}

// Label is the key of Attempt in the status histogram: "200 published",
// "200 duplicate", the status code, or "error: …" for a transport failure.
func (a Attempt) Label() string {
	switch {
	case a.Err != nil && localnet.IsRefused(a.Err):
		return "error: connection refused"
	case a.Err != nil && isTimeout(a.Err):
		return "error: timeout"
	case a.Err != nil:
		return "error: transport"
	case a.Status == http.StatusOK && a.Answer != "":
		return "200 " + a.Answer
	}
	return strconv.Itoa(a.Status)
}

// Send is one send and its attempts.
type Send struct {
	ID       string // webhook-id
	Type     string // envelope type
	Role     Role
	Forgery  string // one of the Forgery… constants for RoleForged, else ""
	Attempts []Attempt
	Outcome  Outcome
}

// First2xx returns the start time of the first attempt answered 2xx.
func (s *Send) First2xx() (time.Time, bool) {
	for _, a := range s.Attempts {
		if a.Err == nil && a.Status >= 200 && a.Status < 300 {
			return a.Start, true
		}
	}
	return time.Time{}, false
}

// Result is what Run did.
type Result struct {
	Sends      []*Send
	Start, End time.Time // first attempt, end of the last send
	// Interrupted is true when Run's context ended before every send did.
	Interrupted bool
}

// Progress is a snapshot of a running Run.
type Progress struct {
	Elapsed   time.Duration
	Done, N   int // sends finished, sends in total
	OK        int // sends ended with a 2xx
	Refused   int // sends ended with a final 4xx (forgeries should)
	GaveUp    int // sends ended without either
	Attempts  int
	InFlight  int // HTTP attempts in flight
	Backoff   int // sends waiting to retry
	Retryable int // attempts answered 408/409/425/429/5xx or failed in transport
}

// String is one progress line.
func (p Progress) String() string {
	return fmt.Sprintf("%5.1fs  %d/%d sends done (%d 2xx, %d refused, %d gave up); %d attempts, %d in flight, %d waiting to retry, %d retryable answers",
		p.Elapsed.Seconds(), p.Done, p.N, p.OK, p.Refused, p.GaveUp, p.Attempts, p.InFlight, p.Backoff, p.Retryable)
}
