package main

import (
	"testing"

	"github.com/geminihook/geminihook/examples/internal/tfcheck"
)

// TestTerraform: the subscription the consumer is written for: exactly-once
// delivery, ordering as the function's GEMINIHOOK_ORDERING, acknowledged
// messages retained for seeking, a dead-letter topic that Pub/Sub's service
// agent may publish to, the consumer's permissions, and a TTL policy on the
// dedup collection the consumer writes by default.
func TestTerraform(t *testing.T) {
	m := tfcheck.Load(t, "terraform")
	for _, p := range m.Problems() {
		t.Error(p)
	}
	sub := m.Resource(t, "google_pubsub_subscription", "pull")
	for _, attr := range []string{"enable_exactly_once_delivery", "retain_acked_messages"} {
		if v := tfcheck.Literal(tfcheck.Attr(sub, attr)); v.IsNull() || !v.True() {
			t.Errorf("subscription %s = %#v, want true", attr, v)
		}
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"ordering follows var.message_ordering", tfcheck.Refers(tfcheck.Attr(sub, "enable_message_ordering"), "var.message_ordering")},
		{"on var.topic", tfcheck.Refers(tfcheck.Attr(sub, "topic"), "var.topic")},
		{"dead-letter topic", tfcheck.Refers(tfcheck.Attr(sub, "dead_letter_policy", "dead_letter_topic"), "google_pubsub_topic.dead_letter")},
		{"retention for seek", tfcheck.String(tfcheck.Attr(sub, "message_retention_duration")) == "604800s"},
		{"service agent publishes dead letters", tfcheck.Refers(tfcheck.Attr(m.Resource(t, "google_pubsub_topic_iam_member", "dead_letter_publisher"), "member"), "local.pubsub_agent") &&
			tfcheck.String(tfcheck.Attr(m.Resource(t, "google_pubsub_topic_iam_member", "dead_letter_publisher"), "role")) == "roles/pubsub.publisher"},
		{"service agent acknowledges what it moves", tfcheck.Refers(tfcheck.Attr(m.Resource(t, "google_pubsub_subscription_iam_member", "dead_letter_subscriber"), "subscription"), "google_pubsub_subscription.pull")},
		{"consumer subscribes", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_pubsub_subscription_iam_member", "consumer"), "role")) == "roles/pubsub.subscriber"},
		{"consumer writes its dedup collection", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_project_iam_member", "consumer_dedup"), "role")) == "roles/datastore.user"},
		{"TTL on the dedup collection", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_firestore_field", "dedup_expire_at"), "collection")) == DefaultDedupCollection &&
			tfcheck.Block(m.Resource(t, "google_firestore_field", "dedup_expire_at"), "ttl_config") != nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("terraform/main.tf: %s: not so", c.what)
		}
	}
}
