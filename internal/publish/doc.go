// Package publish sends geminihook's events to Google Cloud Pub/Sub (client
// library cloud.google.com/go/pubsub/v2).
//
// A [Publisher] routes each message to a topic chosen by its [events.Kind]:
// a per-kind override from [Options.Topics], else the default
// [Options.Topic]. Authentic deliveries that cannot be parsed go to the
// quarantine topic through [Publisher.Quarantine]. One *pubsub.Publisher is
// built per distinct topic in [New] and reused for the life of the
// [Publisher], because each one owns batching goroutines and a connection
// share.
//
// # Latency over throughput
//
// The webhook request waits for the publish to be acknowledged, so the
// client's default batching (wait up to 10 ms for more messages) would be
// paid by every delivery. Each message is therefore sent in its own Publish
// RPC as soon as it is handed over (CountThreshold 1). Gemini delivers a
// handful of webhooks per job, not a stream, so batching would gain nothing.
// The package benchmarks (BenchmarkPublish) compare both settings.
//
// # No ordering keys
//
// Messages carry no ordering key: Gemini does not order its deliveries (a
// retry of an older event may arrive after a newer one), so Pub/Sub ordering
// could not restore an order that never existed, and an ordering key would
// pause a whole key after one failed publish. Consumers order by the event's
// own time (ce-time) if they need to.
//
// # Errors and delivery semantics
//
// Every failure is one of the package's sentinel errors, wrapping the cause
// (gRPC status codes are translated, the status stays reachable through the
// chain): [ErrTopicNotFound], [ErrUnavailable], [ErrInvalidMessage],
// [ErrClosed]. The caller's context bounds the wait; the client keeps
// retrying transient failures in the background for up to [Options.Timeout],
// so a message reported as failed may still be published a moment later.
// That is safe because delivery is at-least-once anyway: Gemini retries a
// failed webhook and consumers deduplicate on the ce-id attribute.
package publish
