// Package eventarc holds the Terraform of an Eventarc trigger on
// geminihook's topic (main.tf) and its tests: the HCL is parsed with
// hcl/v2 and checked, and the request Eventarc sends is decoded with
// events.DecodePush, as examples/push does.
package eventarc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/examples/internal/tfcheck"
)

// TestTrigger: a trigger for messages published on geminihook's topic,
// delivered to the consumer's path on the Cloud Run service as a service
// account that may invoke that service and no other.
func TestTrigger(t *testing.T) {
	m := tfcheck.Load(t, ".")
	for _, p := range m.Problems() {
		t.Error(p)
	}
	tr := m.Resource(t, "google_eventarc_trigger", "gemini_events")
	inv := m.Resource(t, "google_cloud_run_v2_service_iam_member", "trigger_invoker")
	topic := tfcheck.Attr(tr, "transport", "pubsub", "topic")
	topicSrc := string(m.Files["main.tf"][topic.Range().Start.Byte:topic.Range().End.Byte])
	checks := []struct {
		what string
		ok   bool
	}{
		{"matches Pub/Sub messagePublished", tfcheck.String(tfcheck.Attr(tr, "matching_criteria", "attribute")) == "type" &&
			tfcheck.String(tfcheck.Attr(tr, "matching_criteria", "value")) == "google.cloud.pubsub.topic.v1.messagePublished"},
		{"on geminihook's topic, by full name", tfcheck.Refers(topic, "var.topic") && tfcheck.Refers(topic, "var.project_id") &&
			topicSrc == `"projects/${var.project_id}/topics/${var.topic}"`},
		{"to the Cloud Run service", tfcheck.Refers(tfcheck.Attr(tr, "destination", "cloud_run_service", "service"), "var.service") &&
			tfcheck.Refers(tfcheck.Attr(tr, "destination", "cloud_run_service", "region"), "var.region")},
		{"at the consumer's path", tfcheck.Refers(tfcheck.Attr(tr, "destination", "cloud_run_service", "path"), "var.path") &&
			tfcheck.String(tfcheck.Attr(m.Variables["path"], "default")) == "/events"},
		{"as its own service account", tfcheck.Refers(tfcheck.Attr(tr, "service_account"), "google_service_account.trigger.email")},
		{"which may invoke the service", tfcheck.String(tfcheck.Attr(inv, "role")) == "roles/run.invoker" &&
			tfcheck.Refers(tfcheck.Attr(inv, "member"), "google_service_account.trigger.email") &&
			tfcheck.Refers(tfcheck.Attr(inv, "name"), "var.service")},
		{"Eventarc API on", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_project_service", "eventarc"), "service")) == "eventarc.googleapis.com"},
		{"Pub/Sub may mint the trigger's tokens", tfcheck.String(tfcheck.Attr(m.Resource(t, "google_service_account_iam_member", "trigger_token_creator"), "role")) == "roles/iam.serviceAccountTokenCreator"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("main.tf: %s: not so", c.what)
		}
	}
}

// TestEventarcRequestDecodes: the request Eventarc POSTs for a message of
// the topic (a binary-mode CloudEvent of its own, whose data is the push
// body) decodes with events.DecodePush to the event geminihook published,
// user_metadata attributes and the replay mark included.
func TestEventarcRequestDecodes(t *testing.T) {
	ev, err := events.Parse([]byte(`{"type":"video.generated","data":{"id":"models/veo/operations/9","output_file_uri":"https://x/v.mp4","user_metadata":{"tenant":"acme"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.WebhookID, ev.Scheme, ev.ReceivedAt = "msg_eventarc", "v1a", time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	m, err := ev.MessageWith([]string{"tenant"})
	if err != nil {
		t.Fatal(err)
	}
	m.Attributes[events.AttrReplay] = "r-9"
	body, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(m.Data), "attributes": m.Attributes,
			"messageId": "17", "message_id": "17", "publishTime": "2026-01-22T12:00:01Z", "publish_time": "2026-01-22T12:00:01Z",
		},
		"subscription": "projects/p/subscriptions/eventarc-us-central1-gemini-job-events-sub-123",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
	for k, v := range map[string]string{
		"Content-Type":   "application/json; charset=utf-8",
		"Ce-Id":          "17",
		"Ce-Source":      "//pubsub.googleapis.com/projects/p/topics/gemini-job-events",
		"Ce-Specversion": "1.0",
		"Ce-Type":        "google.cloud.pubsub.topic.v1.messagePublished",
		"Ce-Time":        "2026-01-22T12:00:01Z",
	} {
		r.Header.Set(k, v)
	}
	got, err := events.DecodePush(r)
	if err != nil {
		t.Fatal(err)
	}
	want := *ev
	want.Metadata, want.Replay = map[string]string{"tenant": "acme"}, "r-9"
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("DecodePush(Eventarc request) =\n%+v\nwant\n%+v", *got, want)
	}
}
