package terraform_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
)

// The function's limits in Terraform: the body bound and the timeouts.

// Terraform's max_body_bytes validation must allow exactly what the
// function allows: up to events.MaxBodyBytes (config.go refuses more).
func TestMaxBodyBytesBoundIsTheFunctions(t *testing.T) {
	m := mustLoad(t)
	bound := int64(events.MaxBodyBytes)
	accepts := func(n int64) bool {
		return validationAccepts(t, m, "max_body_bytes", cty.NumberIntVal(n))
	}
	if !accepts(bound) {
		t.Errorf("max_body_bytes validation refuses %d, events.MaxBodyBytes", bound)
	}
	if accepts(bound + 1) {
		t.Errorf("max_body_bytes validation accepts %d, above events.MaxBodyBytes = %d, which the function refuses", bound+1, bound)
	}
	if def, _ := m.variables["max_body_bytes"].Body.Attributes["default"].Expr.Value(nil); !accepts(mustInt(t, def)) || mustInt(t, def) != geminihook.DefaultMaxBodyBytes {
		t.Errorf("max_body_bytes default %v: want geminihook.DefaultMaxBodyBytes %d, accepted by the validation", def, geminihook.DefaultMaxBodyBytes)
	}
	for _, b := range m.variables["max_body_bytes"].Body.Blocks {
		if msg, _ := literalString(b.Body.Attributes["error_message"]); b.Type == "validation" && !strings.Contains(msg, strconv.Itoa(events.MaxBodyBytes)) {
			t.Errorf("the validation's error message does not name the bound %d: %q", events.MaxBodyBytes, msg)
		}
	}
}

// -------------------------------------------------------------- timeouts ---

// Cloud Run's request timeout sits just above the function's own deadline
// (GEMINIHOOK_REQUEST_TIMEOUT), derived from it: the function answers
// every request itself, and no slow client holds a connection for long.
func TestFunctionTimeoutIsJustAboveTheRequestTimeout(t *testing.T) {
	m := mustLoad(t)
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	expr := sc.Attributes["timeout_seconds"].Expr
	for _, rt := range []int64{1, 8, 30, 60} {
		got := mustInt(t, evalWith(t, m, expr, map[string]cty.Value{"request_timeout_seconds": cty.NumberIntVal(rt)}, nil))
		if margin := got - rt; margin < 1 || margin > 5 {
			t.Errorf("request_timeout_seconds = %d: timeout_seconds = %d, want 1 to 5 s above it", rt, got)
		}
	}
	def := mustInt(t, evalWith(t, m, expr, nil, nil))
	if want := int64(geminihook.DefaultRequestTimeout.Seconds()) + 2; def != want {
		t.Errorf("by default timeout_seconds = %d, want %d (the function's default deadline + 2 s)", def, want)
	}
	if m.variables["function_timeout_seconds"] != nil {
		t.Error("variable function_timeout_seconds is back: the timeout follows request_timeout_seconds")
	}
}

// ----------------------------------------------------------------- pub/sub ---

// The example subscriptions (pull) get exactly-once delivery exactly when
// enable_exactly_once_delivery says so, message ordering with
// message_ordering (TestMessageOrdering); the inspection subscriptions
// neither: they are read by people, with gcloud.
func TestExampleSubscriptionOptions(t *testing.T) {
	m := mustLoad(t)
	sub := mustResource(t, m, "google_pubsub_subscription.example")
	if block(sub, "push_config") != nil {
		t.Fatal("the example subscriptions push: exactly-once delivery is for pull subscriptions")
	}
	a := sub.Attributes["enable_exactly_once_delivery"]
	if a == nil {
		t.Fatal("the example subscriptions do not set enable_exactly_once_delivery")
	}
	for _, on := range []bool{false, true} {
		if got := evalWith(t, m, a.Expr, map[string]cty.Value{"enable_exactly_once_delivery": cty.BoolVal(on)}, nil); !got.RawEquals(cty.BoolVal(on)) {
			t.Errorf("enable_exactly_once_delivery = %v: the example subscriptions set %#v", on, got)
		}
	}
	if d, _ := m.variables["enable_exactly_once_delivery"].Body.Attributes["default"].Expr.Value(nil); !d.RawEquals(cty.False) {
		t.Errorf("enable_exactly_once_delivery defaults to %#v, want false", d)
	}
	for _, addr := range []string{"google_pubsub_subscription.quarantine", "google_pubsub_subscription.dead_letter"} {
		b := mustResource(t, m, addr)
		if b.Attributes["enable_exactly_once_delivery"] != nil || b.Attributes["enable_message_ordering"] != nil {
			t.Errorf("%s sets exactly-once or ordering", addr)
		}
	}
	// Every subscription of the module pulls; a push subscription would
	// need a dead-letter policy of its own (the README's recipe has one).
	for _, addr := range sortedKeys(m.resources) {
		if strings.HasPrefix(addr, "google_pubsub_subscription.") && block(m.resources[addr].Body, "push_config") != nil && block(m.resources[addr].Body, "dead_letter_policy") == nil {
			t.Errorf("%s pushes without a dead-letter policy", addr)
		}
	}
}

// Every topic retains its messages for topic_message_retention_duration,
// so that a seek reaches back that far; empty leaves retention unset.
func TestTopicRetention(t *testing.T) {
	m := mustLoad(t)
	n := 0
	for _, addr := range sortedKeys(m.resources) {
		if !strings.HasPrefix(addr, "google_pubsub_topic.") {
			continue
		}
		n++
		a := m.resources[addr].Body.Attributes["message_retention_duration"]
		if a == nil {
			t.Errorf("%s sets no message_retention_duration", addr)
			continue
		}
		if got := evalWith(t, m, a.Expr, nil, nil); got.IsNull() || got.AsString() != "604800s" {
			t.Errorf("%s retains %#v by default, want 604800s", addr, got)
		}
		if got := evalWith(t, m, a.Expr, map[string]cty.Value{"topic_message_retention_duration": cty.StringVal("86400s")}, nil); got.AsString() != "86400s" {
			t.Errorf("%s retains %#v with 86400s", addr, got)
		}
		if got := evalWith(t, m, a.Expr, map[string]cty.Value{"topic_message_retention_duration": cty.StringVal("")}, nil); !got.IsNull() {
			t.Errorf("%s retains %#v with \"\", want it unset", addr, got)
		}
	}
	if n < 3 {
		t.Errorf("%d topics", n)
	}
	for v, ok := range map[string]bool{"": true, "600s": true, "604800s": true, "2678400s": true, "599s": false, "2678401s": false, "7d": false, "1h": false, "s": false} {
		if got := validationAccepts(t, m, "topic_message_retention_duration", cty.StringVal(v)); got != ok {
			t.Errorf("topic_message_retention_duration %q accepted: %v, want %v", v, got, ok)
		}
	}
}
