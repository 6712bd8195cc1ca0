// Command function is the naive receiver (package naive) as a Cloud
// Function: registered with functions-framework-go as NaiveWebhook and
// served as a Cloud Function's generated main serves its target, on
// 127.0.0.1:$PORT (default 8080), with FUNCTION_TARGET=NaiveWebhook. It
// reads, as a developer's function would:
//
//	GOOGLE_CLOUD_PROJECT     the project
//	WEBHOOK_SECRET           the whsec_ signing secret (Cloud Functions
//	                         injects a Secret Manager secret as a variable)
//	WEBHOOK_TOPIC            the topic id (default gemini-job-events)
//	FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST
//
// and GEMINIHOOK_BENCH_STATS as bench/coldstart/function does (package
// benchfn): the clients come from the same code as geminihook's in the
// benchmarks. The clients and the receiver are built by the first request
// (sync.Once, as Google's Cloud Functions tips recommend for globals).
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/bench/internal/benchfn"
	"github.com/geminihook/geminihook/bench/naive"
)

// Target is the registered name.
const Target = "NaiveWebhook"

func init() { functions.HTTP(Target, serve) }

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		log.Fatalf("funcframework.StartHostPort: %v", err)
	}
}

var (
	once     sync.Once
	receiver http.Handler
	buildErr error
)

func build() {
	ctx := context.Background()
	c, err := benchfn.Setup(ctx, os.Getenv("GOOGLE_CLOUD_PROJECT"), "")
	if err != nil {
		buildErr = err
		return
	}
	topic := os.Getenv("WEBHOOK_TOPIC")
	if topic == "" {
		topic = geminihook.DefaultTopic
	}
	receiver, buildErr = naive.New(c.Firestore, c.PubSub, os.Getenv("WEBHOOK_SECRET"), topic, nil)
}

func serve(w http.ResponseWriter, r *http.Request) {
	once.Do(build)
	if buildErr != nil {
		log.Printf("naive: %v", buildErr)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	receiver.ServeHTTP(w, r)
}
