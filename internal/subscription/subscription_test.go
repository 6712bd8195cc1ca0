package subscription

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestTempAndDelete(t *testing.T) {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	defer srv.Close()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, topic := range []string{"projects/p/topics/a", "projects/other/topics/b"} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
			t.Fatal(err)
		}
	}

	subs, err := Temp(ctx, c, []string{"a", "projects/other/topics/b"}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].Topic != "projects/p/topics/a" || subs[1].Topic != "projects/other/topics/b" {
		t.Fatalf("Temp = %+v, want one subscription per topic, ids resolved in project p", subs)
	}
	for _, s := range subs {
		got, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: s.Name})
		if err != nil {
			t.Fatalf("GetSubscription(%s) = %v", s.Name, err)
		}
		if !strings.HasPrefix(s.Name, "projects/p/subscriptions/test-") || got.GetAckDeadlineSeconds() != 10 || got.GetExpirationPolicy().GetTtl().AsDuration() != expiry {
			t.Errorf("subscription %s: ack deadline %ds, expiry %v; want test-… in project p, 10s, %v", s.Name, got.GetAckDeadlineSeconds(), got.GetExpirationPolicy().GetTtl().AsDuration(), expiry)
		}
	}
	if err := Delete(c, subs); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if err := Delete(c, subs); err != nil {
		t.Errorf("Delete of subscriptions already gone = %v, want nil", err)
	}
	_, err = c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subs[0].Name})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetSubscription after Delete = %v, want NotFound", err)
	}

	// A missing topic: ErrTopicNotFound, and nothing left behind.
	_, err = Temp(ctx, c, []string{"a", "missing"}, "test", 0)
	if !errors.Is(err, ErrTopicNotFound) || !strings.Contains(err.Error(), "projects/p/topics/missing does not exist") {
		t.Errorf("Temp with a missing topic = %v, want ErrTopicNotFound naming it", err)
	}
	it := c.TopicAdminClient.ListTopicSubscriptions(ctx, &pubsubpb.ListTopicSubscriptionsRequest{Topic: "projects/p/topics/a"})
	if name, err := it.Next(); err == nil {
		t.Errorf("subscription %s left behind by a failed Temp", name)
	}
}
