// Package loadtest drives a geminihook receiver the way Gemini would, at
// volume, and checks what reached Pub/Sub: the engine of `geminihook load`
// and of the fault suite in test/fault.
//
// Run sends Options.N deliveries signed with the v1 scheme (HMAC-SHA256),
// the nine documented event types round robin. A share of them
// (Options.Duplicates) are extra sends of an authentic delivery with the
// same webhook-id and body, started at the same moment as it, as a sender
// racing its own retry would; a share (Options.Forged) are forgeries, cycling
// through a wrong secret, a body changed after signing and a correctly
// signed but stale timestamp, each with a webhook-id of its own. Every
// send is retried on 408, 409, 425, 429, 5xx and transport errors with
// exponential backoff (Retry-After honoured up to Options.MaxBackoff), each
// attempt re-signed with the current time, until it gets a 2xx, a final
// 4xx, Options.MaxAttempts attempts or Options.Deadline.
//
// A Collector, subscribed to the receiver's topics before the first send,
// counts what was published by CloudEvents id (ce-id) and Pub/Sub message
// id: a second message id for one ce-id is a doubled publish, while a
// redelivery of one message id is Pub/Sub's at-least-once and not the
// receiver's doing. NewReport joins the two into the figures that matter:
// lost, doubled and forged published, which must all be zero.
//
// Everything is bounded: N, concurrency, attempts, per-attempt timeout,
// per-delivery deadline, and the receiver must be on a loopback address.
package loadtest

import (
	"errors"
	"fmt"
)

// The errors of the package; every error it returns wraps one of these (or
// subscription.ErrTopicNotFound, from Subscribe). They say what went wrong
// in words a command can show as they are.
var (
	// ErrInvalidOptions means Options (or SubscribeOptions) break a limit
	// or are missing a required field; an *OptionError says which.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrNotLoopback means the receiver URL is not on a loopback address:
	// this package only loads local servers.
	ErrNotLoopback = errors.New("not a loopback address")
	// ErrUnreachable means nothing accepted a TCP connection at the
	// receiver's address before the first send.
	ErrUnreachable = errors.New("receiver unreachable")
	// ErrPubSub means a Pub/Sub call of the Collector failed (creating or
	// deleting a subscription, receiving); it wraps the cause.
	ErrPubSub = errors.New("Pub/Sub")
)

// OptionError is an Options field that Validate and Run refuse: which
// field, its value and what is wanted instead. It wraps ErrInvalidOptions,
// or ErrNotLoopback for a URL off loopback.
type OptionError struct {
	// Field is the name of the Options field: "N", "Concurrency", "URL",
	// "Secret", ...
	Field string
	// Value is the refused value as %v prints it; "" for a secret, which
	// is never shown.
	Value string
	// Want says what is wrong and the form wanted, e.g. "want 1 to 100000".
	Want string
	err  error
}

func (e *OptionError) Error() string {
	what := e.Field
	if e.Value != "" {
		what += " " + e.Value
	}
	return fmt.Sprintf("%v: %s: %s", e.err, what, e.Want)
}

func (e *OptionError) Unwrap() error { return e.err }
