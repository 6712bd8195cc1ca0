// Command bare is the cold-start baseline: bench.Bare (read the body,
// answer 200) registered with functions-framework-go under the name Bare
// and served as a Cloud Function's generated main serves its target, on
// 127.0.0.1:$PORT (default 8080). Run it with FUNCTION_TARGET=Bare.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminihook/geminihook/bench"
)

func init() { functions.HTTP("Bare", bench.Bare) }

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		log.Fatalf("funcframework.StartHostPort: %v", err)
	}
}
