// Package publish sends geminihook's events to Google Cloud Pub/Sub (client
// library cloud.google.com/go/pubsub/v2).
//
// A [Publisher] routes each message to a topic chosen by its [events.Kind]:
// a per-kind override from [Options.Topics], else the default
// [Options.Topic]. Authentic deliveries that cannot be parsed go to the
// quarantine topic through [Publisher.Quarantine]. Topic names are resolved
// once, in [New].
//
// # Unary calls under the request's context, shared when busy
//
// Messages are sent with Publish RPCs of the generated client
// (pubsub.Client.TopicAdminClient.Publish), each made by a calling
// goroutine under the callers' contexts: in the function, the requests'.
// The client's retries of transient failures end with that context (and
// with [Options.Timeout], an upper bound for callers without a deadline),
// so when [Publisher.Publish] returns nothing of the publish is left
// running: no background retry can land the event after the handler has
// answered 503 and released its claim, which would publish it a second
// time once Gemini retries the delivery.
//
// A topic has at most [Options.MaxCalls] calls in flight (4 by default).
// While they are all busy, further publishes wait, and when a call ends,
// the publish that has waited longest sends itself and the others waiting
// with the same ordering key in one request (up to 100 messages, 8 MiB).
// A lone publish, the usual case, goes out at once in a call of its own;
// under load, publishes share calls, which halves the RPCs per event on
// the handler benchmarks. The rules that keep a shared call within the
// requests:
//   - a waiting publish whose context ends leaves the queue and sends
//     nothing;
//   - a shared call runs under the earliest deadline of the publishes it
//     carries (a cancellation of one of them does not cancel the call: the
//     others' messages are on their way), and each of them returns only
//     when the call has ended;
//   - Pub/Sub refuses a request as a whole when one message is invalid, so
//     each publish of a refused shared call is sent again alone and only
//     the invalid one fails with [ErrInvalidMessage].
//
// There is no goroutine of the package's own: each call is made by one of
// the publishes it carries.
//
// The library's batching *pubsub.Publisher is not used. It hands each
// message to a bundler and a worker goroutine that publish under a context
// of their own (its PublishSettings.Timeout counted from the hand-over, not
// from the request), so a publish could outlive its request; and its
// bundler waits up to a delay for a batch to fill, where a webhook request
// waits for the acknowledgement. The package benchmarks
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
// the key cannot overtake the failed one. Publishing here keeps no state
// between calls (a waiting publish only waits for a call slot), so there
// is no client-side pause to resume: a failed publish returns its error (the
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
