package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Field names of a record document.
const (
	fieldWebhookID   = "webhook_id"
	fieldState       = "state"
	fieldLeaseUntil  = "lease_until"
	fieldAttempts    = "attempts"
	fieldEventType   = "event_type"
	fieldFirstSeenAt = "first_seen_at"
	fieldPublishedAt = "published_at"
	fieldMessageID   = "message_id"
	fieldEnvelope    = "envelope"
	fieldExpireAt    = "expire_at"
	fieldScheme      = "scheme"
	fieldReceivedAt  = "received_at"
	fieldKind        = "kind"
)

// tokenDocument binds a single-use token to the delivery it authenticated
// (Delivery.Token), in the same collection and under the same TTL field as
// the records.
type tokenDocument struct {
	WebhookID   string    `firestore:"webhook_id"`
	Kind        string    `firestore:"kind"` // "jwt_token": not a delivery record
	FirstSeenAt time.Time `firestore:"first_seen_at"`
	ExpireAt    time.Time `firestore:"expire_at"`
}

// document is the Firestore form of Record.
type document struct {
	WebhookID   string    `firestore:"webhook_id"`
	State       string    `firestore:"state"`
	LeaseUntil  time.Time `firestore:"lease_until"`
	Attempts    int64     `firestore:"attempts"`
	EventType   string    `firestore:"event_type"`
	FirstSeenAt time.Time `firestore:"first_seen_at"`
	PublishedAt time.Time `firestore:"published_at,omitempty"`
	MessageID   string    `firestore:"message_id,omitempty"`
	Envelope    []byte    `firestore:"envelope,omitempty"`
	ExpireAt    time.Time `firestore:"expire_at"`
	Scheme      string    `firestore:"scheme,omitempty"`
	ReceivedAt  time.Time `firestore:"received_at,omitempty"`
	// Kind is set on the token bindings that share the collection
	// (tokenDocument, "jwt_token") and never on a delivery record: List
	// reads both and leaves the bindings out.
	Kind string `firestore:"kind,omitempty"`
}

func (d *document) record() *Record {
	return &Record{
		WebhookID:   d.WebhookID,
		State:       State(d.State),
		LeaseUntil:  d.LeaseUntil.UTC(),
		Attempts:    int(d.Attempts),
		EventType:   d.EventType,
		FirstSeenAt: d.FirstSeenAt.UTC(),
		PublishedAt: d.PublishedAt.UTC(),
		MessageID:   d.MessageID,
		Envelope:    d.Envelope,
		ExpireAt:    d.ExpireAt.UTC(),
		Scheme:      d.Scheme,
		ReceivedAt:  d.ReceivedAt.UTC(),
	}
}

// maxClaimRounds bounds the create/read/update loop of Claim under
// contention (each lost round means another caller changed the record).
const maxClaimRounds = 4

// Firestore is the ledger on Cloud Firestore: one document per delivery in
// Options.Collection. Its methods are safe for concurrent use.
type Firestore struct {
	client *firestore.Client
	coll   *firestore.CollectionRef
	o      Options
}

// NewFirestore returns a ledger on client's default database. Zero Options
// fields take their defaults. The client stays the caller's to close.
func NewFirestore(c *firestore.Client, o Options) *Firestore {
	o = o.withDefaults()
	return &Firestore{client: c, coll: c.Collection(o.Collection), o: o}
}

// Claim records the delivery and returns a lease to publish it. Errors:
// ErrInvalid (empty webhook id), ErrTokenReused, ErrPublished,
// *InFlightError (ErrInFlight), ErrUnavailable (Firestore failed or ctx
// ended; wraps the cause).
//
// A new delivery costs one commit, with or without a Token: the record and
// the token's binding are created together, both with exists=false.
func (f *Firestore) Claim(ctx context.Context, d Delivery) (*Lease, error) {
	if d.WebhookID == "" {
		return nil, ErrInvalid
	}
	ref := f.coll.Doc(DocumentID(d.WebhookID))
	now := f.o.now()
	create := true // the common case is a new delivery: try it first
	if d.Token != "" {
		wr, err := f.createBound(ctx, ref, d, now)
		switch status.Code(err) {
		case codes.OK:
			return f.lease(d.WebhookID, 1, now, wr), nil
		case codes.AlreadyExists:
			// The record, the token's binding or both exist: bind the token
			// on its own (or find it bound elsewhere), then go on as for a
			// delivery without one, from a read.
			if err := f.bindToken(ctx, d, now); err != nil {
				return nil, err
			}
			create = false
		default:
			return nil, unavailableCtx(ctx, "claim: create", err)
		}
	}
	for range maxClaimRounds {
		if create {
			wr, err := ref.Create(ctx, f.fresh(d, now))
			switch status.Code(err) {
			case codes.OK:
				return f.lease(d.WebhookID, 1, now, wr), nil
			case codes.AlreadyExists:
			default:
				return nil, unavailableCtx(ctx, "claim: create", err)
			}
		}
		snap, err := ref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			create = true // deleted (TTL) since the create failed
			continue
		}
		if err != nil {
			return nil, unavailableCtx(ctx, "claim: read", err)
		}
		create = false
		var doc document
		if err := snap.DataTo(&doc); err != nil {
			return nil, unavailable("claim: decode", err)
		}
		rec := doc.record()
		var updates []firestore.Update
		attempt := 1
		switch decide(rec, now) {
		case claimDone:
			return nil, ErrPublished
		case claimInFlight:
			return nil, &InFlightError{LeaseUntil: rec.LeaseUntil}
		case claimCorrupt:
			return nil, unavailable("claim", fmt.Errorf("record %s has state %q", ref.ID, rec.State))
		case claimFresh:
			updates = f.freshUpdates(d, now)
		case claimTakeover:
			attempt = rec.Attempts + 1
			updates = []firestore.Update{
				{Path: fieldState, Value: string(StateProcessing)},
				{Path: fieldLeaseUntil, Value: now.Add(f.o.Lease)},
				{Path: fieldAttempts, Value: int64(attempt)},
			}
			// The attempt that takes over is the one whose event is
			// published: its delivery facts are what a replay rebuilds.
			if d.Scheme != "" {
				updates = append(updates, firestore.Update{Path: fieldScheme, Value: d.Scheme})
			}
			if !d.ReceivedAt.IsZero() {
				updates = append(updates, firestore.Update{Path: fieldReceivedAt, Value: d.ReceivedAt.UTC()})
			}
		}
		// The precondition makes read-and-write atomic without a transaction:
		// it fails if anyone wrote the record since we read it.
		wr, err := ref.Update(ctx, updates, firestore.LastUpdateTime(snap.UpdateTime))
		switch status.Code(err) {
		case codes.OK:
			return f.lease(d.WebhookID, attempt, now, wr), nil
		case codes.FailedPrecondition, codes.NotFound:
			// Lost a race; read again.
		default:
			return nil, unavailableCtx(ctx, "claim: update", err)
		}
	}
	return nil, unavailable("claim", fmt.Errorf("record %s changed %d times during the claim", ref.ID, maxClaimRounds))
}

// createBound creates the record of d and the binding of d.Token in one
// atomic commit, each with an exists=false precondition. A WriteBatch is one
// Commit call; a transaction would add a BeginTransaction round trip.
func (f *Firestore) createBound(ctx context.Context, ref *firestore.DocumentRef, d Delivery, now time.Time) (*firestore.WriteResult, error) {
	//lint:ignore SA1019 WriteBatch is the one-RPC atomic commit of several preconditioned writes; its replacements cost more round trips.
	b := f.client.Batch()
	b.Create(ref, f.fresh(d, now))
	b.Create(f.coll.Doc(TokenDocumentID(d.Token)), f.tokenDoc(d, now))
	wrs, err := b.Commit(ctx)
	if err != nil {
		return nil, err
	}
	return wrs[0], nil
}

func (f *Firestore) tokenDoc(d Delivery, now time.Time) *tokenDocument {
	return &tokenDocument{WebhookID: d.WebhookID, Kind: "jwt_token", FirstSeenAt: now, ExpireAt: now.Add(f.o.Retention)}
}

// bindToken makes sure d.Token is bound to d.WebhookID: it creates the
// binding when absent and returns ErrTokenReused when it names another
// delivery. A binding is never moved, even after its expire_at: the tokens
// it guards expire long before (verify bounds a JWT's lifetime).
func (f *Firestore) bindToken(ctx context.Context, d Delivery, now time.Time) error {
	tref := f.coll.Doc(TokenDocumentID(d.Token))
	for range maxClaimRounds {
		snap, err := tref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			_, err := tref.Create(ctx, f.tokenDoc(d, now))
			switch status.Code(err) {
			case codes.OK:
				return nil
			case codes.AlreadyExists:
				continue // bound by a concurrent claim: read whose
			}
			return unavailableCtx(ctx, "claim: bind token", err)
		}
		if err != nil {
			return unavailableCtx(ctx, "claim: read token", err)
		}
		var td tokenDocument
		if err := snap.DataTo(&td); err != nil {
			return unavailable("claim: decode token", err)
		}
		if td.WebhookID != d.WebhookID {
			return ErrTokenReused
		}
		return nil
	}
	return unavailable("claim", fmt.Errorf("token binding changed %d times during the claim", maxClaimRounds))
}

func (f *Firestore) lease(id string, attempt int, now time.Time, wr *firestore.WriteResult) *Lease {
	return &Lease{WebhookID: id, Attempt: attempt, Until: now.Add(f.o.Lease), owner: f, updateTime: wr.UpdateTime}
}

func (f *Firestore) fresh(d Delivery, now time.Time) *document {
	return &document{
		WebhookID:   d.WebhookID,
		State:       string(StateProcessing),
		LeaseUntil:  now.Add(f.o.Lease),
		Attempts:    1,
		EventType:   d.EventType,
		FirstSeenAt: now,
		Envelope:    storedEnvelope(d.Envelope),
		ExpireAt:    now.Add(f.o.Retention),
		Scheme:      d.Scheme,
		ReceivedAt:  d.ReceivedAt.UTC(),
	}
}

// freshUpdates overwrites an expired record as if it were new.
func (f *Firestore) freshUpdates(d Delivery, now time.Time) []firestore.Update {
	var env, scheme, received any = firestore.Delete, firestore.Delete, firestore.Delete
	if e := storedEnvelope(d.Envelope); e != nil {
		env = e
	}
	if d.Scheme != "" {
		scheme = d.Scheme
	}
	if !d.ReceivedAt.IsZero() {
		received = d.ReceivedAt.UTC()
	}
	return []firestore.Update{
		{Path: fieldWebhookID, Value: d.WebhookID},
		{Path: fieldState, Value: string(StateProcessing)},
		{Path: fieldLeaseUntil, Value: now.Add(f.o.Lease)},
		{Path: fieldAttempts, Value: int64(1)},
		{Path: fieldEventType, Value: d.EventType},
		{Path: fieldFirstSeenAt, Value: now},
		{Path: fieldPublishedAt, Value: firestore.Delete},
		{Path: fieldMessageID, Value: firestore.Delete},
		{Path: fieldEnvelope, Value: env},
		{Path: fieldExpireAt, Value: now.Add(f.o.Retention)},
		{Path: fieldScheme, Value: scheme},
		{Path: fieldReceivedAt, Value: received},
	}
}

// Complete marks the delivery published with the Pub/Sub message id. It
// succeeds for the holder of the current lease, even after the lease time
// ran out if nobody took over, and again for the same message id (a retried
// Complete). Errors: ErrLeaseLost, ErrUnavailable (wraps the cause).
func (f *Firestore) Complete(ctx context.Context, l *Lease, messageID string) error {
	if !f.holds(l) {
		return ErrLeaseLost
	}
	ref := f.coll.Doc(DocumentID(l.WebhookID))
	_, err := ref.Update(ctx, []firestore.Update{
		{Path: fieldState, Value: string(StatePublished)},
		{Path: fieldPublishedAt, Value: f.o.now()},
		{Path: fieldMessageID, Value: messageID},
	}, firestore.LastUpdateTime(l.updateTime))
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.FailedPrecondition, codes.NotFound:
	default:
		return unavailableCtx(ctx, "complete", err)
	}
	// Someone wrote the record since the claim: a takeover, or our own
	// earlier Complete whose answer was lost (the client retries commits).
	rec, err := f.lookup(ctx, ref)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrLeaseLost
		}
		return err
	}
	if rec.State == StatePublished && rec.MessageID == messageID {
		return nil
	}
	return ErrLeaseLost
}

// Release gives up a lease after a failed publish: the record stays
// processing with its attempts, and the next Claim takes it over at once.
// Errors: ErrLeaseLost, ErrUnavailable (wraps the cause).
func (f *Firestore) Release(ctx context.Context, l *Lease) error {
	if !f.holds(l) {
		return ErrLeaseLost
	}
	_, err := f.coll.Doc(DocumentID(l.WebhookID)).Update(ctx, []firestore.Update{
		{Path: fieldLeaseUntil, Value: f.o.now()},
	}, firestore.LastUpdateTime(l.updateTime))
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.FailedPrecondition, codes.NotFound:
		return ErrLeaseLost
	default:
		return unavailableCtx(ctx, "release", err)
	}
}

func (f *Firestore) holds(l *Lease) bool {
	return l != nil && l.owner == f && !l.updateTime.IsZero()
}

// WarmUp readies f for the first Claim of a new instance without writing
// anything: it reads the record of webhookID (opening the connection),
// encodes a record as Claim does (the client library's first encoding of
// the record's type costs more than the next ones), and sends one Commit
// that cannot apply: an update of that record preconditioned on an update
// time of 1970, which Firestore refuses with NotFound, or with
// FailedPrecondition if the record exists. It returns nil when Firestore
// answered as expected, else the first failure as Lookup reports it.
func (f *Firestore) WarmUp(ctx context.Context, webhookID string) error {
	ref := f.coll.Doc(DocumentID(webhookID))
	if _, err := f.lookup(ctx, ref); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	//lint:ignore SA1019 the batch is never committed: Create encodes the record, which is all WarmUp wants of it.
	f.client.Batch().Create(ref, f.fresh(Delivery{WebhookID: webhookID}, f.o.now()))
	_, err := ref.Update(ctx, []firestore.Update{{Path: fieldState, Value: string(StateProcessing)}}, firestore.LastUpdateTime(time.Unix(1, 0)))
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition:
		return nil
	case codes.OK:
		return unavailable("warm-up", fmt.Errorf("record %s updated despite a precondition of 1970", ref.ID))
	default:
		return unavailableCtx(ctx, "warm-up", err)
	}
}

// Lookup returns the record of a webhook id. Errors: ErrNotFound (absent or
// expired), ErrUnavailable (wraps the cause).
func (f *Firestore) Lookup(ctx context.Context, webhookID string) (*Record, error) {
	return f.lookup(ctx, f.coll.Doc(DocumentID(webhookID)))
}

func (f *Firestore) lookup(ctx context.Context, ref *firestore.DocumentRef) (*Record, error) {
	snap, err := ref.Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailableCtx(ctx, "lookup", err)
	}
	var doc document
	if err := snap.DataTo(&doc); err != nil {
		return nil, unavailable("lookup: decode", err)
	}
	rec := doc.record()
	if rec.ExpireAt.Before(f.o.now()) {
		return nil, ErrNotFound
	}
	return rec, nil
}

// unavailable wraps a backend failure; the cause stays reachable for
// errors.Is and status.Code.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// unavailableCtx is unavailable that also wraps ctx's error when ctx has
// ended, so that errors.Is(err, context.DeadlineExceeded) tells the caller's
// deadline from a backend failure (the client reports them as gRPC codes).
func unavailableCtx(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %s: %w: %w", ErrUnavailable, op, cerr, err)
	}
	return unavailable(op, err)
}
