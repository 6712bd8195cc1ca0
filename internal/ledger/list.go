package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
)

// ErrInvalidCursor is returned by ParseCursor for text that is not a
// Cursor's String form.
var ErrInvalidCursor = errors.New("ledger: invalid cursor")

// DefaultPageSize is the number of documents List reads per call when
// Range.Limit is zero.
const DefaultPageSize = 300

// Cursor is a position in the order List reads records in: first_seen_at,
// then document id. A replay that stops prints it; List resumes after it.
// The zero Cursor is the start of a range.
type Cursor struct {
	FirstSeenAt time.Time // UTC, microseconds (Firestore's precision)
	DocumentID  string
}

// IsZero reports whether c is the start of a range.
func (c Cursor) IsZero() bool { return c.DocumentID == "" && c.FirstSeenAt.IsZero() }

// String is c as "<first_seen_at, RFC 3339 with fraction>/<document id>",
// e.g. "2026-01-22T12:00:01.5Z/5d41402a…". ParseCursor reads it.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return c.FirstSeenAt.UTC().Format(time.RFC3339Nano) + "/" + c.DocumentID
}

// ParseCursor reads a Cursor's String form. Error: ErrInvalidCursor.
func ParseCursor(s string) (Cursor, error) {
	at, id, ok := strings.Cut(s, "/")
	if !ok || id == "" || strings.ContainsAny(id, "/ \t\n") || len(id) > 1500 {
		return Cursor{}, fmt.Errorf("%w: %q: want <RFC 3339 time>/<document id>", ErrInvalidCursor, s)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: %q: %v", ErrInvalidCursor, s, err)
	}
	return Cursor{FirstSeenAt: t.UTC(), DocumentID: id}, nil
}

// Cursor is the position of r in List's order.
func (r *Record) Cursor() Cursor {
	return Cursor{FirstSeenAt: r.FirstSeenAt, DocumentID: DocumentID(r.WebhookID)}
}

// Range selects the records List reads: first_seen_at in [Since, Until),
// after the position After.
type Range struct {
	// Since and Until bound first_seen_at, Since included, Until excluded;
	// a zero Until sets no upper bound.
	Since, Until time.Time
	// After resumes a listing after this position (a Page's Next, or a
	// Cursor printed by an interrupted replay); zero: from Since.
	After Cursor
	// Limit is how many documents one call reads; 0 means DefaultPageSize.
	Limit int
}

// Page is one call's worth of records.
type Page struct {
	// Records are the delivery records read, in order of first_seen_at
	// then document id. Token bindings (kind "jwt_token", which share the
	// collection) and expired records (expire_at passed, as Lookup treats
	// them) are left out.
	Records []*Record
	// Next is the position after the last document read, records left out
	// included: pass it as Range.After for the next page.
	Next Cursor
	// Done is true when the range holds nothing after Next.
	Done bool
}

// List reads the next page of records in r. It is one query with a range
// filter on first_seen_at ordered by first_seen_at and document id: the
// automatic single-field index on first_seen_at serves it, so no
// composite index is needed (filter on other fields, such as event_type or
// state, on the records returned). Errors: ErrInvalid for a negative Limit
// or an Until not after Since, ErrUnavailable (wraps the cause).
//
// List is for replaying recorded deliveries (geminihook replay); it is not
// on the request path and costs one read per document.
func (f *Firestore) List(ctx context.Context, r Range) (Page, error) {
	if r.Limit < 0 || (!r.Until.IsZero() && !r.Until.After(r.Since)) {
		return Page{}, fmt.Errorf("%w: range [%v, %v) with limit %d", ErrInvalid, r.Since, r.Until, r.Limit)
	}
	limit := r.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	q := f.coll.Where(fieldFirstSeenAt, ">=", r.Since.UTC())
	if !r.Until.IsZero() {
		q = q.Where(fieldFirstSeenAt, "<", r.Until.UTC())
	}
	q = q.OrderBy(fieldFirstSeenAt, firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc)
	if !r.After.IsZero() {
		q = q.StartAfter(r.After.FirstSeenAt.UTC(), r.After.DocumentID)
	}
	snaps, err := q.Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return Page{}, unavailableCtx(ctx, "list", err)
	}
	p := Page{Next: r.After, Done: len(snaps) < limit}
	now := f.o.now()
	for _, snap := range snaps {
		var doc document
		if err := snap.DataTo(&doc); err != nil {
			return Page{}, unavailable("list: decode "+snap.Ref.ID, err)
		}
		p.Next = Cursor{FirstSeenAt: doc.FirstSeenAt.UTC(), DocumentID: snap.Ref.ID}
		if doc.Kind != "" {
			continue // a token binding, not a delivery
		}
		rec := doc.record()
		if rec.ExpireAt.Before(now) {
			continue
		}
		p.Records = append(p.Records, rec)
	}
	return p, nil
}
