package publish_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/publish"
)

// fakeClient returns a Pub/Sub client connected to an in-process pstest
// server, standing in for pubsub.NewClient(ctx, project) in production.
func fakeClient(ctx context.Context) (*pubsub.Client, func()) {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	client, err := pubsub.NewClient(ctx, "my-project", option.WithGRPCConn(conn))
	if err != nil {
		log.Fatal(err)
	}
	return client, func() { client.Close(); conn.Close(); srv.Close() }
}

// The root package builds one Publisher at start-up, publishes each verified
// delivery under the request's deadline and answers 503 on any error.
func Example() {
	ctx := context.Background()
	client, done := fakeClient(ctx)
	defer done()

	p, err := publish.New(client, publish.Options{
		Topic:  "gemini-events",
		Topics: map[events.Kind]string{events.KindVideo: "gemini-video"},
	})
	if err != nil {
		log.Fatal(err) // the root reports this as a configuration error
	}
	defer p.Close() // waits for publishes in flight; before the client closes

	// Local serve only: in production Terraform creates the topics.
	if err := publish.EnsureTopics(ctx, client, p.Topics()...); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Topics())

	reqCtx, cancel := context.WithTimeout(ctx, 8*time.Second) // the request deadline
	defer cancel()
	id, err := p.Publish(reqCtx, events.KindVideo, events.Message{
		Data:       []byte(`{"type":"video.generated"}`),
		Attributes: map[string]string{"ce-id": "msg_1", "job_kind": "video"},
	})
	if err != nil {
		fmt.Println(http.StatusServiceUnavailable)
		return
	}
	fmt.Println("published", id)
	// Output:
	// [projects/my-project/topics/gemini-events projects/my-project/topics/gemini-events-quarantine projects/my-project/topics/gemini-video]
	// published m0
}

// A topic that does not exist fails fast with ErrTopicNotFound (no retries);
// the handler answers 503 so that Gemini retries the delivery later.
func Example_missingTopic() {
	ctx := context.Background()
	client, done := fakeClient(ctx)
	defer done()

	p, err := publish.New(client, publish.Options{Topic: "not-created"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	_, err = p.Quarantine(ctx, events.Message{Data: []byte("not json")})
	fmt.Println(errors.Is(err, publish.ErrTopicNotFound), errors.Is(err, publish.ErrUnavailable))
	// Output:
	// true false
}
