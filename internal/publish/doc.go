// Package publish sends geminihook's events to Google Cloud Pub/Sub (client
// library cloud.google.com/go/pubsub/v2).
//
// A [Publisher] routes each message to a topic chosen by its [events.Kind]:
// a per-kind override from [Options.Topics], else the default
// [Options.Topic]. Authentic deliveries that cannot be parsed go to the
// quarantine topic through [Publisher.Quarantine]. Topic names are resolved
// once, in [New].
//
// # One unary call per event, under the request's context
//
// Each message is sent in one Publish RPC of the generated client
// (pubsub.Client.TopicAdminClient.Publish), made by the calling goroutine
// under the caller's context: in the function, the request's. The client's
// retries of transient failures end with that context (and with
// [Options.Timeout], an upper bound for callers without a deadline), so
// when [Publisher.Publish] returns nothing of the publish is left running:
// no background retry can land the event after the handler has answered
// 503 and released its claim, which would publish it a second time once
// Gemini retries the delivery.
//
// The library's batching *pubsub.Publisher is not used. It hands each
// message to a bundler and a worker goroutine that publish under a context
// of their own (its PublishSettings.Timeout counted from the hand-over, not
// from the request), so a publish could outlive its request; and the
// bundler's per-message scheduling costs CPU that buys nothing here: the
// webhook request waits for the acknowledgement, and Gemini delivers a
// handful of webhooks per job, not a stream. The package benchmarks
// (BenchmarkPublish) compare the unary call with that batching path.
//
// # Retries
//
// A failed attempt is retried on the codes the generated client retries by
// default for Publish (Aborted, DeadlineExceeded, Internal,
// ResourceExhausted, Unavailable, Unknown) except Canceled, after a jittered
// pause from 100 ms doubling up to 2 s. Every attempt runs under the
// caller's context, and a pause ends with it: a deadline during an attempt
// cancels the attempt, a deadline during a pause returns without another
// attempt. NotFound, InvalidArgument, PermissionDenied and the other codes
// are answered at once.
//
// # Ordering keys (opt-in)
//
// Without [Options.Ordering] (the default) messages carry no ordering key.
// With it, each message carries the job id as its ordering key
// ([events.Event.OrderingKey]), and a subscription with message ordering
// enabled delivers the events of one job in the order Pub/Sub received
// them: the order in which geminihook published them, which is the order
// in which their deliveries arrived and were claimed. Gemini does not
// order its deliveries (a retry of an older event may arrive after a newer
// one), so this is publish order, not the order of the events' own times
// (ce-time). Pub/Sub orders messages of one key published in the same
// region; one deployment of the function publishes from its region.
//
// The library's batching publisher pauses a key after a failed publish
// until the caller resumes it (ResumePublish), so that a later message of
// the key cannot overtake the failed one. Publishing here is one unary
// call per event, with no state kept between calls, so there is no
// client-side pause to resume: a failed publish returns its error (the
// handler answers 503 and Gemini retries the delivery), the next publish
// of the same key goes out as usual, and a failed key never holds up
// another job's key. The price is that a later event of a job whose
// publish failed may be published, and delivered, before the retry of the
// failed one: the retry arrives later in the key's order. Consumers that
// need the job's own order compare ce-time (or react only to terminal
// outcomes, of which a job has one).
//
// # Errors and delivery semantics
//
// Every failure is one of the package's sentinel errors, wrapping the cause
// (gRPC status codes are translated, the status stays reachable through the
// chain): [ErrTopicNotFound], [ErrUnavailable], [ErrInvalidMessage],
// [ErrClosed]. A publish reported as failed sends nothing more after it
// returns. One attempt that reached Pub/Sub before the context ended may
// still have been stored there although its answer never came back (a
// lost answer, or a server that stores the message before it notices the
// cancellation); that is the at-least-once case no client can rule out,
// which is why consumers deduplicate on the ce-id attribute.
package publish
