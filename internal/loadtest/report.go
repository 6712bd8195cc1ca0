package loadtest

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// maxListedIDs bounds the webhook ids a Report lists per problem.
const maxListedIDs = 20

// Report is the summary of a Run, joined with what a Collector saw when
// Verified. Its JSON form is the machine-readable output of `geminihook
// load --json`.
type Report struct {
	// What was sent.
	Sends          int `json:"deliveries"`
	Authentic      int `json:"authentic"`       // distinct authentic webhook ids
	DuplicateSends int `json:"duplicate_sends"` // extra sends of an authentic id
	ForgedSends    int `json:"forged_sends"`
	Attempts       int `json:"attempts"`
	Retries        int `json:"retries"` // attempts after the first of each send

	// The sender's side.
	Acknowledged   int `json:"acknowledged"`    // authentic ids with a 2xx on some send
	LostAtSender   int `json:"lost_at_sender"`  // authentic ids with no 2xx on any send
	FailedSends    int `json:"failed_sends"`    // authentic sends (of any role) that ended without a 2xx
	ForgedAccepted int `json:"forged_accepted"` // forged sends answered 2xx

	// The subscriber's side; zero unless Verified.
	Verified        bool `json:"verified"`
	Published       int  `json:"published"`        // authentic ids seen at least once
	Doubled         int  `json:"doubled"`          // authentic ids seen under two or more message ids
	ExtraCopies     int  `json:"extra_copies"`     // message ids beyond the first, summed over ids
	Lost            int  `json:"lost"`             // authentic ids never seen
	ForgedPublished int  `json:"forged_published"` // forged ids seen
	Foreign         int  `json:"foreign"`          // ce-ids seen that this run did not send

	// Speed. FirstPass is the capacity figure: until every send's first
	// attempt was answered, before the retries that a Retry-After of the
	// receiver may stretch out.
	FirstPassSeconds   float64        `json:"first_pass_seconds"`
	FirstPassPerSec    float64        `json:"first_pass_deliveries_per_second"`
	ElapsedSeconds     float64        `json:"elapsed_seconds"`       // first attempt to the end of the last send
	DeliveriesPerSec   float64        `json:"deliveries_per_second"` // Sends / elapsed
	AttemptsPerSec     float64        `json:"attempts_per_second"`
	LatencyMillis      Percentiles    `json:"latency_ms"` // per HTTP attempt
	Status             map[string]int `json:"status"`     // attempts by Attempt.Label
	Interrupted        bool           `json:"interrupted,omitempty"`
	LostIDs            []string       `json:"lost_ids,omitempty"`             // up to 20
	LostAtSenderIDs    []string       `json:"lost_at_sender_ids,omitempty"`   // up to 20
	DoubledIDs         []string       `json:"doubled_ids,omitempty"`          // up to 20
	ForgedPublishedIDs []string       `json:"forged_published_ids,omitempty"` // up to 20
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// NewReport summarizes res. seen is what a Collector saw (Collector.Seen);
// nil leaves the subscriber's side out (Verified false).
func NewReport(res *Result, seen map[string]Seen) Report {
	r := Report{Sends: len(res.Sends), Status: map[string]int{}, Interrupted: res.Interrupted, Verified: seen != nil}
	authentic := map[string]bool{} // id → acknowledged
	var order []string             // authentic ids in send order
	forged := map[string]bool{}
	var lat []time.Duration
	var firstPassEnd time.Time
	for _, s := range res.Sends {
		if len(s.Attempts) > 0 {
			if end := s.Attempts[0].Start.Add(s.Attempts[0].Latency); end.After(firstPassEnd) {
				firstPassEnd = end
			}
		}
		r.Attempts += len(s.Attempts)
		r.Retries += max(len(s.Attempts)-1, 0)
		for _, a := range s.Attempts {
			r.Status[a.Label()]++
			lat = append(lat, a.Latency)
		}
		switch s.Role {
		case RoleForged:
			r.ForgedSends++
			forged[s.ID] = true
			if s.Outcome == OutcomeOK {
				r.ForgedAccepted++
			}
			continue
		case RoleDuplicate:
			r.DuplicateSends++
		}
		if _, ok := authentic[s.ID]; !ok {
			order = append(order, s.ID)
			authentic[s.ID] = false
		}
		if s.Outcome == OutcomeOK {
			authentic[s.ID] = true
		} else {
			r.FailedSends++
		}
	}
	r.Authentic = len(order)
	for _, id := range order {
		if authentic[id] {
			r.Acknowledged++
		} else {
			r.LostAtSender++
			r.LostAtSenderIDs = appendCapped(r.LostAtSenderIDs, id)
		}
		if seen == nil {
			continue
		}
		switch n := len(seen[id].Messages); {
		case n == 0:
			r.Lost++
			r.LostIDs = appendCapped(r.LostIDs, id)
		case n > 1:
			r.Doubled++
			r.ExtraCopies += n - 1
			r.DoubledIDs = appendCapped(r.DoubledIDs, id)
			fallthrough
		default:
			r.Published++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		switch {
		case forged[id]:
			r.ForgedPublished++
			r.ForgedPublishedIDs = appendCapped(r.ForgedPublishedIDs, id)
		default:
			if _, ok := authentic[id]; !ok {
				r.Foreign++
			}
		}
	}
	if !res.End.IsZero() {
		el := res.End.Sub(res.Start).Seconds()
		r.ElapsedSeconds = round(el, 3)
		if el > 0 {
			r.DeliveriesPerSec = round(float64(r.Sends)/el, 1)
			r.AttemptsPerSec = round(float64(r.Attempts)/el, 1)
		}
	}
	if fp := firstPassEnd.Sub(res.Start).Seconds(); fp > 0 {
		r.FirstPassSeconds = round(fp, 3)
		r.FirstPassPerSec = round(float64(r.Sends)/fp, 1)
	}
	r.LatencyMillis = percentiles(lat)
	return r
}

func appendCapped(ids []string, id string) []string {
	if len(ids) < maxListedIDs {
		ids = append(ids, id)
	}
	return ids
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return float64(int64(v*p+0.5)) / p
}

// percentiles uses the nearest-rank method.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.999999) - 1
		i = min(max(i, 0), len(d)-1)
		return round(float64(d[i])/float64(time.Millisecond), 3)
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: round(float64(d[len(d)-1])/float64(time.Millisecond), 3)}
}

// Problems lists what makes the run a failure, empty when none: an
// interruption, authentic deliveries never acknowledged and, when Verified,
// authentic deliveries never published, doubled publishes, forgeries
// accepted or published. An unverified run (a baseline against a receiver
// that checks nothing) is judged on acknowledgements only.
func (r Report) Problems() []string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	if r.Interrupted {
		p = append(p, "interrupted before every send ended")
	}
	add(r.LostAtSender, "authentic deliveries never answered 2xx")
	if r.Verified {
		add(r.ForgedAccepted, "forged deliveries answered 2xx")
		add(r.Lost, "authentic deliveries never published")
		add(r.Doubled, "deliveries published more than once")
		add(r.ForgedPublished, "forged deliveries published")
	}
	return p
}

// WriteText writes the report for people.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "deliveries:  %d sends = %d authentic + %d duplicate sends + %d forged; %d attempts (%d retries)\n",
		r.Sends, r.Authentic, r.DuplicateSends, r.ForgedSends, r.Attempts, r.Retries)
	fmt.Fprintf(w, "sender:      %d of %d authentic acknowledged (2xx), %d lost at the sender, %d authentic sends failed, %d forged accepted\n",
		r.Acknowledged, r.Authentic, r.LostAtSender, r.FailedSends, r.ForgedAccepted)
	if r.Verified {
		fmt.Fprintf(w, "published:   %d unique events, %d doubled (%d extra copies), %d lost, %d forged published, %d foreign\n",
			r.Published, r.Doubled, r.ExtraCopies, r.Lost, r.ForgedPublished, r.Foreign)
	} else {
		fmt.Fprintf(w, "published:   not verified (--no-verify-delivery)\n")
	}
	fmt.Fprintf(w, "throughput:  %.1f deliveries/s first pass (every first attempt answered in %.2f s); %.1f deliveries/s, %.1f attempts/s over %.2f s with the retries\n",
		r.FirstPassPerSec, r.FirstPassSeconds, r.DeliveriesPerSec, r.AttemptsPerSec, r.ElapsedSeconds)
	l := r.LatencyMillis
	fmt.Fprintf(w, "latency:     p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms per attempt\n", l.P50, l.P95, l.P99, l.Max)
	labels := slices.Sorted(maps.Keys(r.Status))
	parts := make([]string, len(labels))
	for i, k := range labels {
		parts[i] = fmt.Sprintf("%d × %s", r.Status[k], k)
	}
	fmt.Fprintf(w, "status:      %s\n", strings.Join(parts, ", "))
	for _, l := range []struct {
		what string
		ids  []string
	}{{"lost", r.LostIDs}, {"lost at sender", r.LostAtSenderIDs}, {"doubled", r.DoubledIDs}, {"forged published", r.ForgedPublishedIDs}} {
		if len(l.ids) > 0 {
			fmt.Fprintf(w, "%s: %s\n", l.what, strings.Join(l.ids, " "))
		}
	}
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(p, "; "))
	} else if r.Verified {
		fmt.Fprintf(w, "OK: nothing lost, nothing doubled, no forgery published\n")
	} else {
		fmt.Fprintf(w, "OK: every authentic delivery acknowledged (publishing not verified)\n")
	}
}
