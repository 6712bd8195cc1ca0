// Package ledger records each webhook delivery once, so that a delivery
// retried by the sender is published at most once while it is being
// processed and answered as a duplicate afterwards.
//
// A delivery moves through one record (ARCHITECTURE.md, "Ledger document"):
//
//	absent ──Claim──► processing(lease) ──Complete──► published
//	                      │  ▲
//	              Release │  │ Claim after the lease ran out (takeover, attempts+1)
//	                      ▼  │
//	                  processing(lease over)
//
// Claim hands out a Lease: for Options.Lease (30 s) no other caller can
// claim the same webhook id (ErrInFlight, with the lease end for a
// Retry-After). Only the holder of the current lease may Complete or
// Release; a holder whose lease ran out may still Complete as long as nobody
// took over. A record older than Options.Retention (expire_at in the past)
// counts as absent, whether or not the TTL policy deleted it yet.
//
// Firestore is the production ledger and Memory the one of the local serve
// mode; both pass one contract test. The Firestore ledger spends one commit
// on a new delivery's Claim and one on its Complete: Claim is a create with
// an exists=false precondition, and Complete an update whose precondition is
// the update time written by the Claim, which proves that nobody took over in
// between. A duplicate costs the failed create and one read; a takeover the
// failed create, one read and one update with an update-time precondition.
//
// Every Firestore error other than the expected precondition failures is
// returned wrapping ErrUnavailable and its cause. The Go client retries
// UNAVAILABLE internally until the context's deadline: callers give every
// call a deadline.
package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

var (
	// ErrPublished means the delivery was already published (answer 200
	// duplicate).
	ErrPublished = errors.New("ledger: delivery already published")
	// ErrInFlight means another holder's lease is live (answer 409 with
	// Retry-After). Claim returns it as an *InFlightError.
	ErrInFlight = errors.New("ledger: delivery in flight")
	// ErrLeaseLost means Complete or Release came from a caller that no
	// longer holds the current lease (taken over, released, completed, or a
	// nil or foreign lease).
	ErrLeaseLost = errors.New("ledger: lease lost")
	// ErrUnavailable means the backend failed, timed out or held an
	// undecodable record; it wraps the cause (answer 503).
	ErrUnavailable = errors.New("ledger: backend unavailable")
	// ErrInvalid means an empty webhook id.
	ErrInvalid = errors.New("ledger: invalid delivery")
	// ErrNotFound is returned by Lookup for an absent or expired record.
	ErrNotFound = errors.New("ledger: no record")
	// ErrTokenReused means the delivery's Token already authenticated
	// another webhook id (answer 401): a credential that does not sign the
	// body is good for one delivery only.
	ErrTokenReused = errors.New("ledger: token already used for another delivery")
)

// InFlightError is what Claim returns when another holder's lease is live;
// errors.Is(err, ErrInFlight) holds for it.
type InFlightError struct {
	// LeaseUntil is when the live lease ends; a retry after it may take over.
	LeaseUntil time.Time
}

// Error names the lease end.
func (e *InFlightError) Error() string {
	return ErrInFlight.Error() + " until " + e.LeaseUntil.UTC().Format(time.RFC3339Nano)
}

// Is makes errors.Is(err, ErrInFlight) true.
func (e *InFlightError) Is(target error) bool { return target == ErrInFlight }

// State is the state field of a record.
type State string

// The two states of a record.
const (
	StateProcessing State = "processing"
	StatePublished  State = "published"
)

// MaxEnvelope is the size from which an envelope is not stored: records keep
// the original body for a later replay only when it is shorter than 256 KiB,
// far below Firestore's 1 MiB document limit.
const MaxEnvelope = 256 << 10

// Defaults of Options.
const (
	DefaultCollection = "gemini_webhook_deliveries"
	DefaultLease      = 30 * time.Second
	DefaultRetention  = 7 * 24 * time.Hour
)

// Delivery is what Claim records about a delivery.
type Delivery struct {
	WebhookID string // the webhook-id header; any characters, must not be empty
	EventType string // the envelope's type, "" when unknown
	Envelope  []byte // the body as received; stored when shorter than MaxEnvelope
	// Token names the single-use credential that authenticated the
	// delivery when its signature did not cover the body (a JWT:
	// verify.Message.TokenID); "" otherwise. Claim binds it to WebhookID
	// for the retention period, in the same commit as a new record, and
	// refuses it for any other webhook id with ErrTokenReused.
	Token string
	// Scheme names the signature scheme that verified the delivery ("v1",
	// "v1a", "jwt") and ReceivedAt is when it arrived: the delivery facts
	// of the published event, stored (when set) in the same commit as the
	// record so that a replay can rebuild the event from the envelope.
	// A takeover stores those of the attempt that took over.
	Scheme     string
	ReceivedAt time.Time
}

// TokenDocumentID is the Firestore document id binding a token: "jwt_" and
// the token name (already a hex SHA-256), apart from every delivery's id.
func TokenDocumentID(token string) string { return "jwt_" + token }

// Lease is the right to publish one delivery, handed out by Claim and spent
// by Complete or Release. Only the ledger that issued it accepts it.
type Lease struct {
	WebhookID string
	Attempt   int       // 1 for the first claim, +1 per takeover
	Until     time.Time // others get ErrInFlight until then

	owner      any       // the issuing ledger
	updateTime time.Time // Firestore: the update time the claim wrote
	version    uint64    // Memory: the record version the claim wrote
}

// Record is a ledger record as Lookup returns it (the Firestore fields).
type Record struct {
	WebhookID   string
	State       State
	LeaseUntil  time.Time
	Attempts    int
	EventType   string
	FirstSeenAt time.Time
	PublishedAt time.Time // zero until published
	MessageID   string    // "" until published
	Envelope    []byte    // nil when not stored
	ExpireAt    time.Time
	Scheme      string    // Delivery.Scheme of the last claim; "" when not recorded
	ReceivedAt  time.Time // Delivery.ReceivedAt of the last claim (microseconds); zero when not recorded
}

// Options configures a ledger. The zero value gives the defaults.
type Options struct {
	// Collection holds the records (Firestore only); default
	// "gemini_webhook_deliveries".
	Collection string
	// Lease is how long a claim blocks others; default 30 s.
	Lease time.Duration
	// Retention sets expire_at = first_seen_at + Retention (the TTL field);
	// default 7 days, comfortably longer than the sender's 24 h of retries.
	Retention time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Collection == "" {
		o.Collection = DefaultCollection
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// now is the clock in UTC at Firestore's microsecond precision, so that
// both ledgers return the times they store.
func (o Options) now() time.Time { return o.Now().UTC().Truncate(time.Microsecond) }

// DocumentID is the Firestore document id of a webhook id: the hex SHA-256,
// because sender ids may hold "/" or exceed Firestore's 1500-byte id limit.
func DocumentID(webhookID string) string {
	sum := sha256.Sum256([]byte(webhookID))
	return hex.EncodeToString(sum[:])
}

// storedEnvelope is the envelope as stored: a copy when shorter than
// MaxEnvelope, else nil.
func storedEnvelope(b []byte) []byte {
	if len(b) == 0 || len(b) >= MaxEnvelope {
		return nil
	}
	return append([]byte(nil), b...)
}

// decision is what Claim does with an existing record at time now.
type decision int

const (
	claimFresh    decision = iota // absent or expired: a new record, attempt 1
	claimTakeover                 // processing with the lease over: attempt+1
	claimInFlight                 // processing with a live lease
	claimDone                     // published
	claimCorrupt                  // unknown state
)

// decide is the one place where both ledgers read a record's state.
func decide(r *Record, now time.Time) decision {
	switch {
	case r == nil || r.ExpireAt.Before(now):
		return claimFresh
	case r.State == StatePublished:
		return claimDone
	case r.State != StateProcessing:
		return claimCorrupt
	case now.Before(r.LeaseUntil):
		return claimInFlight
	default:
		return claimTakeover
	}
}
