package ledger

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often (by Options.Now) Claim drops expired records, so
// that a long-running local server does not grow without bound.
const sweepEvery = time.Minute

// Memory is the ledger of the local serve mode: the Firestore semantics in
// a map guarded by a mutex, lost when the process ends. Its methods are safe
// for concurrent use and never return ErrUnavailable.
type Memory struct {
	o Options

	mu        sync.Mutex
	records   map[string]*memRecord // by webhook id
	tokens    map[string]memToken   // by Delivery.Token
	version   uint64                // last version written, ledger-wide
	nextSweep time.Time
}

type memToken struct {
	webhookID string
	expireAt  time.Time
}

type memRecord struct {
	Record
	version uint64 // the analog of Firestore's update time
}

// NewMemory returns an empty in-memory ledger. Zero Options fields take
// their defaults; Collection is ignored.
func NewMemory(o Options) *Memory {
	return &Memory{o: o.withDefaults(), records: make(map[string]*memRecord), tokens: make(map[string]memToken)}
}

// Claim is Firestore.Claim in memory, with the same rule for tokens.
// Errors: ErrInvalid, ErrTokenReused, ErrPublished, *InFlightError
// (ErrInFlight), or ctx's error wrapped in ErrUnavailable when ctx has
// already ended.
func (m *Memory) Claim(ctx context.Context, d Delivery) (*Lease, error) {
	if d.WebhookID == "" {
		return nil, ErrInvalid
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("claim", err)
	}
	now := m.o.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	if d.Token != "" {
		if t, ok := m.tokens[d.Token]; ok && !t.expireAt.Before(now) && t.webhookID != d.WebhookID {
			return nil, ErrTokenReused
		}
		m.tokens[d.Token] = memToken{d.WebhookID, now.Add(m.o.Retention)}
	}
	r := m.records[d.WebhookID]
	var rec *Record
	if r != nil {
		rec = &r.Record
	}
	switch decide(rec, now) {
	case claimDone:
		return nil, ErrPublished
	case claimInFlight:
		return nil, &InFlightError{LeaseUntil: r.LeaseUntil}
	case claimCorrupt: // unreachable: Memory writes only known states
		return nil, unavailable("claim", ErrInvalid)
	case claimFresh:
		r = &memRecord{Record: Record{
			WebhookID:   d.WebhookID,
			Attempts:    0, // +1 below
			EventType:   d.EventType,
			FirstSeenAt: now,
			Envelope:    storedEnvelope(d.Envelope),
			ExpireAt:    now.Add(m.o.Retention),
		}}
		m.records[d.WebhookID] = r
	}
	// As in Firestore: a fresh record holds the claim's delivery facts, a
	// takeover replaces those it was given (at Firestore's precision).
	if d.Scheme != "" {
		r.Scheme = d.Scheme
	}
	if !d.ReceivedAt.IsZero() {
		r.ReceivedAt = d.ReceivedAt.UTC().Truncate(time.Microsecond)
	}
	r.State = StateProcessing
	r.LeaseUntil = now.Add(m.o.Lease)
	r.Attempts++
	r.version = m.bump()
	return &Lease{WebhookID: d.WebhookID, Attempt: r.Attempts, Until: r.LeaseUntil, owner: m, version: r.version}, nil
}

// Complete is Firestore.Complete in memory. Errors: ErrLeaseLost, or ctx's
// error wrapped in ErrUnavailable when ctx has already ended.
func (m *Memory) Complete(ctx context.Context, l *Lease, messageID string) error {
	if err := ctx.Err(); err != nil {
		return unavailable("complete", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.held(l)
	if r == nil {
		if r := m.live(l); r != nil && r.State == StatePublished && r.MessageID == messageID {
			return nil // a repeated Complete
		}
		return ErrLeaseLost
	}
	r.State = StatePublished
	r.PublishedAt = m.o.now()
	r.MessageID = messageID
	r.version = m.bump()
	return nil
}

// Release is Firestore.Release in memory. Errors: ErrLeaseLost, or ctx's
// error wrapped in ErrUnavailable when ctx has already ended.
func (m *Memory) Release(ctx context.Context, l *Lease) error {
	if err := ctx.Err(); err != nil {
		return unavailable("release", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.held(l)
	if r == nil {
		return ErrLeaseLost
	}
	r.LeaseUntil = m.o.now()
	r.version = m.bump()
	return nil
}

// Lookup returns a copy of the record of a webhook id. Errors: ErrNotFound
// (absent or expired), or ctx's error wrapped in ErrUnavailable when ctx has
// already ended.
func (m *Memory) Lookup(ctx context.Context, webhookID string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable("lookup", err)
	}
	now := m.o.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[webhookID]
	if r == nil || r.ExpireAt.Before(now) {
		return nil, ErrNotFound
	}
	rec := r.Record
	if r.Envelope != nil {
		rec.Envelope = append([]byte(nil), r.Envelope...)
	}
	return &rec, nil
}

// held returns the record l holds the current lease on, or nil.
func (m *Memory) held(l *Lease) *memRecord {
	if l == nil || l.owner != m {
		return nil
	}
	r := m.records[l.WebhookID]
	if r == nil || r.version != l.version {
		return nil
	}
	return r
}

// live returns the unexpired record of l's webhook id, or nil.
func (m *Memory) live(l *Lease) *memRecord {
	if l == nil || l.owner != m {
		return nil
	}
	r := m.records[l.WebhookID]
	if r == nil || r.ExpireAt.Before(m.o.now()) {
		return nil
	}
	return r
}

func (m *Memory) bump() uint64 {
	m.version++
	return m.version
}

// sweep drops expired records at most once per sweepEvery.
func (m *Memory) sweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(sweepEvery)
	for id, r := range m.records {
		if r.ExpireAt.Before(now) {
			delete(m.records, id)
		}
	}
	for tok, t := range m.tokens {
		if t.expireAt.Before(now) {
			delete(m.tokens, tok)
		}
	}
}
