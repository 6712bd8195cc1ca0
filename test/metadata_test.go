package test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/events"
)

// TestRoutingOnMetadata: with GEMINIHOOK_METADATA_ATTRIBUTES=tenant, a
// delivery's user_metadata.tenant becomes the attribute meta_tenant, and two
// subscriptions filtered on it each receive exactly their tenant's events
// (on pstest, which applies subscription filters: the official Pub/Sub
// emulator accepts a filter and ignores it). A delivery
// without the key adds no attribute and reaches neither; the event JSON
// still carries the whole user_metadata.
func TestRoutingOnMetadata(t *testing.T) {
	t.Parallel()
	s := newStack(t, setup{
		env:    map[string]string{"GEMINIHOOK_METADATA_ATTRIBUTES": "tenant, job_group"},
		pstest: []pstest.ServerReactorOption{},
	})
	ctx := context.Background()
	subs := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		name := "projects/" + s.project + "/subscriptions/tenant-" + tenant
		if _, err := s.admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: name, Topic: "projects/" + s.project + "/topics/" + topicBatch,
			Filter: `attributes.meta_tenant = "` + tenant + `"`,
		}); err != nil {
			t.Fatal(err)
		}
		subs[tenant] = name
	}
	body := func(tenant string) []byte {
		md := map[string]any{"job_group": "nightly-eval"}
		if tenant != "" {
			md["tenant"] = tenant
		}
		b, _ := json.Marshal(map[string]any{"type": events.TypeBatchSucceeded,
			"data": map[string]any{"id": "batch_" + tenant, "user_metadata": md}})
		return b
	}
	want := map[string][]string{}
	for _, tenant := range []string{"acme", "globex", "acme", "", "globex", "acme"} {
		id := newID()
		if r := s.send("v1", id, body(tenant)); r.status != 200 {
			t.Fatalf("tenant %q: %d %q", tenant, r.status, r.body)
		}
		want[tenant] = append(want[tenant], id)
	}
	for _, tenant := range []string{"acme", "globex"} {
		got := map[string]bool{}
		deadline := time.Now().Add(10 * time.Second)
		for len(got) < len(want[tenant]) && time.Now().Before(deadline) {
			res, err := s.admin.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: subs[tenant], MaxMessages: 100,
				//lint:ignore SA1019 the emulator honours it; without it an empty pull waits 4 s
				ReturnImmediately: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, rm := range res.ReceivedMessages {
				ev, err := events.Decode(rm.Message.Data, rm.Message.Attributes)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Metadata["tenant"] != tenant || ev.Metadata["job_group"] != "nightly-eval" {
					t.Errorf("subscription of %s got an event with Metadata %v", tenant, ev.Metadata)
				}
				got[ev.WebhookID] = true
				s.admin.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: subs[tenant], AckIds: []string{rm.AckId}})
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, id := range want[tenant] {
			if !got[id] {
				t.Errorf("subscription of %s did not get %s", tenant, id)
			}
		}
		if len(got) != len(want[tenant]) {
			t.Errorf("subscription of %s got %d events, want %d", tenant, len(got), len(want[tenant]))
		}
	}
	// The unfiltered subscription sees all six; the one without a tenant
	// has no meta_tenant attribute but the rest of its metadata.
	for _, m := range s.messages(6) {
		if m.msg.Attributes[events.AttrID] == want[""][0] {
			if _, ok := m.msg.Attributes["meta_tenant"]; ok || m.msg.Attributes["meta_job_group"] != "nightly-eval" {
				t.Errorf("delivery without a tenant: attributes %v", m.msg.Attributes)
			}
		}
	}
}
