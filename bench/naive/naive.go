// Package naive is the receiver a developer would write from Google's
// samples and the Standard Webhooks library, ported to Go as the baseline of
// BENCHMARKS.md's "against the naive receiver": geminihook's job (verify,
// record once in Firestore, publish to Pub/Sub) done the obvious way.
//
//   - Verify v1 with the Standard Webhooks reference library
//     (github.com/standard-webhooks/standard-webhooks/libraries/go:
//     webhook.Verify(body, headers), 5-minute tolerance).
//   - Deduplicate on webhook-id in one Firestore transaction: RunTransaction
//     with a Get of the delivery's document and, when it does not exist, a
//     Create (the "check, then create in a transaction" of the Firestore
//     samples). A duplicate is answered 200 at once.
//   - Publish the body to Pub/Sub with the Pub/Sub v2 client's Publisher at
//     its default settings, waiting for the result: Publish(ctx, msg).Get(ctx).
//     The message carries the webhook-id as ce-id (the CloudEvents binary
//     attribute geminihook uses too, so that the same collector counts both).
//   - Any error is answered 500; an invalid signature 401.
//
// What it does not do is what geminihook exists for: the record is created
// before the publish and left in place when the publish fails, so the
// retry of a delivery whose publish failed is taken for a duplicate and the
// event is lost; a duplicate that arrives while its original is still being
// published is answered 200 before the event is out; nothing bounds a
// request's time but the client libraries' own timeouts; and a Publisher
// batches (DelayThreshold 10 ms), so a publish that the request gave up on
// may still be sent. BENCHMARKS.md records what that costs under the fault
// rig (test/fault).
package naive

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"strings"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Collection is the Firestore collection of the delivery documents.
const Collection = "webhook_deliveries"

// Receiver is the naive webhook receiver, an http.Handler.
type Receiver struct {
	wh        *standardwebhooks.Webhook
	db        *firestore.Client
	publisher *pubsub.Publisher
	log       *log.Logger
}

// New returns the receiver for the v1 signing secret ("whsec_…"), recording
// deliveries with db and publishing to topic (an id in ps's project, or a
// full name) with ps. logger gets one line per failed request; nil: the
// standard logger. Stop it with Stop.
func New(db *firestore.Client, ps *pubsub.Client, secret, topic string, logger *log.Logger) (*Receiver, error) {
	wh, err := standardwebhooks.NewWebhook(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, err
	}
	if db == nil || ps == nil {
		return nil, errors.New("naive: a Firestore and a Pub/Sub client are required")
	}
	if logger == nil {
		logger = log.Default()
	}
	return &Receiver{wh: wh, db: db, publisher: ps.Publisher(topic), log: logger}, nil
}

// Stop sends what the Publisher still holds and stops it.
func (rc *Receiver) Stop() { rc.publisher.Stop() }

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var event struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &event); err != nil {
		http.Error(w, "invalid JSON", http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	ctx := r.Context()

	ref := rc.db.Collection(Collection).Doc(id)
	if ref == nil {
		http.Error(w, "invalid webhook-id", http.StatusBadRequest)
		return
	}
	duplicate := false
	err = rc.db.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		duplicate = false
		snap, err := tx.Get(ref)
		if err == nil && snap.Exists() {
			duplicate = true
			return nil
		}
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		return tx.Create(ref, map[string]any{
			"type":        event.Type,
			"received_at": firestore.ServerTimestamp,
		})
	})
	if err != nil {
		rc.log.Printf("webhook %s: firestore: %v", id, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if duplicate {
		w.WriteHeader(http.StatusOK)
		return
	}

	res := rc.publisher.Publish(ctx, &pubsub.Message{
		Data:       body,
		Attributes: map[string]string{"ce-id": id, "event_type": event.Type},
	})
	if _, err := res.Get(ctx); err != nil {
		rc.log.Printf("webhook %s: publish: %v", id, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}
