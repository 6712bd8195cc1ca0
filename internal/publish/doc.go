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
// [ErrClosed]. A publish reported as failed sends nothing more after it
// returns. One attempt that reached Pub/Sub before the context ended may
// still have been stored there although its answer never came back (a
// lost answer, or a server that stores the message before it notices the
// cancellation); that is the at-least-once case no client can rule out,
// which is why consumers deduplicate on the ce-id attribute.
package publish
