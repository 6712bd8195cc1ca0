// Command function is the built geminihook Cloud Function: the root
// package's init registers its entry point (geminihook.EntryPoint) with
// functions-framework-go, and main serves it as the Cloud Function's
// generated main does, on 127.0.0.1:$PORT (default 8080). Run it with
// FUNCTION_TARGET=GeminiWebhook and the configuration of the README
// (GOOGLE_CLOUD_PROJECT, FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
// GEMINIHOOK_…). The handler is built on the first request, as deployed.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/geminihook/geminihook" // registers GeminiWebhook
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		log.Fatalf("funcframework.StartHostPort: %v", err)
	}
}
