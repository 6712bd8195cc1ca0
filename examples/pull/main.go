// Command pull is an example consumer of geminihook's events on a pull
// subscription (Pub/Sub v2 client): it decodes each message with
// events.Decode, does its work once per ce-id (a Firestore dedup
// collection shared by its instances), acknowledges with AckWithResult
// (exactly-once delivery on the subscription), holds at most a bounded
// number of messages (flow control), and on SIGTERM or Ctrl-C finishes the
// messages in hand before it exits.
//
// Its work is Consumer.Record: a finished batch names the Cloud Storage
// object of its results, and every job's outcome is logged with the
// user_metadata it was created with. Replace it with yours.
//
// Environment:
//
//	GOOGLE_CLOUD_PROJECT   project of the subscription and of the dedup collection
//	SUBSCRIPTION           subscription id or projects/P/subscriptions/S (terraform/ makes one)
//	DEDUP_DATABASE         Firestore database of the dedup collection (default "(default)")
//	DEDUP_COLLECTION       Firestore collection of processed ce-ids (default "processed_gemini_events")
//	REPROCESS_REPLAYS      "true": process each `geminihook replay` run's copies once more
//	PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST  the emulators, for a local run
//
// The service account needs roles/pubsub.subscriber on the subscription and
// roles/datastore.user in the project.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
)

// DefaultDedupCollection is the dedup collection when DEDUP_COLLECTION is
// not set (terraform/ gives it a TTL policy).
const DefaultDedupCollection = "processed_gemini_events"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(ctx, os.Getenv, log); err != nil {
		log.Error("consumer stopped", "error", err)
		os.Exit(1)
	}
	log.Info("consumer stopped: every message in hand was finished")
}

// run builds the clients from the environment and consumes until ctx ends.
func run(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	project, sub := getenv("GOOGLE_CLOUD_PROJECT"), getenv("SUBSCRIPTION")
	if project == "" || sub == "" {
		return errors.New("set GOOGLE_CLOUD_PROJECT and SUBSCRIPTION")
	}
	ps, err := pubsub.NewClient(ctx, project) // honours PUBSUB_EMULATOR_HOST
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	defer ps.Close()
	fs, err := firestore.NewClientWithDatabase(ctx, project, cmp.Or(getenv("DEDUP_DATABASE"), firestore.DefaultDatabaseID))
	if err != nil {
		return fmt.Errorf("firestore: %w", err)
	}
	defer fs.Close()
	c := &Consumer{
		Subscriber:       ps.Subscriber(sub),
		Dedup:            &FirestoreDedup{Collection: fs.Collection(cmp.Or(getenv("DEDUP_COLLECTION"), DefaultDedupCollection))},
		Log:              log,
		ReprocessReplays: getenv("REPROCESS_REPLAYS") == "true",
	}
	log.Info("consuming", "subscription", sub)
	return c.Run(ctx)
}
