// Command function is the geminihook Cloud Function as the benchmarks run
// it: registered with functions-framework-go under the name Target and
// served as the Cloud Function's generated main serves its target, on
// 127.0.0.1:$PORT (default 8080), with FUNCTION_TARGET=GeminiWebhookBench
// and the configuration of the README
// (GOOGLE_CLOUD_PROJECT, FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
// GEMINIHOOK_…).
//
// It differs from the deployed entry point (the root package's init and
// function.go) in one place: where the cloud clients come from. The
// deployed function builds them in NewFromEnv, whose Secret Manager client
// has Google's endpoint and no way to point it at loopback (there is no
// Secret Manager emulator). This binary builds the same three clients the
// same way (firestore.NewClientWithDatabase and pubsub.NewClient on the
// emulators named by the environment) except that the Secret Manager client
// is dialed to the loopback server at $GEMINIHOOK_BENCH_SECRETMANAGER that
// the driver starts (package benchfn), and hands them to
// geminihook.NewService, the composition NewFromEnv uses. As deployed, the
// Service is built, and warmed up, in the background from the start of the
// process.
//
// GEMINIHOOK_BENCH_WARM chooses what happens around that build, for the
// cold-start comparison:
//
//	start   (default) as the deployed function: the build and then
//	        Service.WarmUp (secrets, route tokens, JWKS, a ledger read, the
//	        Pub/Sub connection) start from init, in a goroutine, when the
//	        process starts; no warm-up if a request came during the build
//	build   the first request builds the Service, and WarmUp runs in the
//	        background while that request goes on
//	off     the first request builds the Service, no warm-up: the entry
//	        point before the warm start
//
// With GEMINIHOOK_BENCH_STATS set, the Firestore and Pub/Sub connections
// count their calls and the side port reports them (benchfn).
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	geminihook "github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/bench/internal/benchfn"
)

// Target is the name this binary registers: the root package's init has
// registered geminihook.EntryPoint already (to the deployed lazy build).
const Target = "GeminiWebhookBench"

func init() {
	functions.HTTP(Target, serve)
	if mode := os.Getenv(envWarm); mode == "" || mode == "start" {
		go handler(context.Background())
	}
}

// envWarm chooses the warm-up (see the package documentation).
const envWarm = "GEMINIHOOK_BENCH_WARM"

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		log.Fatalf("funcframework.StartHostPort: %v", err)
	}
}

var lazy struct {
	mu  sync.Mutex
	h   http.Handler
	err error
}

// handler builds the Service on first use, as function.go does.
func handler(ctx context.Context) (http.Handler, error) {
	lazy.mu.Lock()
	defer lazy.mu.Unlock()
	if lazy.h != nil || lazy.err != nil {
		return lazy.h, lazy.err
	}
	// The clients outlive the request that happened to build them.
	ctx = context.WithoutCancel(ctx)
	cfg, err := geminihook.LoadConfig(os.Getenv)
	if err != nil {
		lazy.err = err
		return nil, err
	}
	c, err := benchfn.Setup(ctx, cfg.ProjectID, cfg.Database)
	if err != nil {
		lazy.err = err
		return nil, err
	}
	s, err := geminihook.NewService(cfg, geminihook.Parts{
		Clients: geminihook.Clients{Firestore: c.Firestore, PubSub: c.PubSub, SecretManager: c.SecretManager},
		Logger:  geminihook.NewLogger(os.Stdout, cfg),
	})
	if err != nil {
		c.Close()
		lazy.err = err
		return nil, err
	}
	lazy.h = s
	switch mode := os.Getenv(envWarm); mode {
	case "off":
	case "build":
		go s.WarmUp(ctx)
	case "", "start":
		// As function.go: no warm-up once a request has come.
		if requests.Load() == 0 {
			go s.WarmUp(ctx)
		}
	default:
		log.Printf("%s=%q: want start, build or off", envWarm, mode)
	}
	return s, nil
}

// requests counts the requests served (function.go's lazy.requests).
var requests atomic.Int64

func serve(w http.ResponseWriter, r *http.Request) {
	requests.Add(1)
	h, err := handler(r.Context())
	if err != nil {
		log.Printf("geminihook cannot start: %v", err)
		http.Error(w, "temporarily unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}
