// Package test holds geminihook's end-to-end suite: the composed function
// (geminihook.NewService) with its real clients on the official Firestore
// and Pub/Sub emulators, a loopback Secret Manager (secretstest) and an
// httptest JWKS, driven over HTTP on 127.0.0.1 with deliveries signed by
// verifytest.
//
// The suite skips under -short (counted in the summary internal/emulator
// prints) and, like every emulator test, fails rather than skips when an
// emulator or Java is missing, naming what to install. Run it with
//
//	go test ./test
//
// The package has no non-test code; this file only documents it.
package test
