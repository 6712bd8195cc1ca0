// Package test holds geminihook's end-to-end suite: the composed function
// (geminihook.NewService) with its real clients on the official Firestore
// and Pub/Sub emulators, a loopback Secret Manager (secretstest) and an
// httptest JWKS, driven over HTTP on 127.0.0.1 with deliveries signed by
// verifytest.
//
// The suite skips under -short (no emulators there) and, like every
// emulator test, fails rather than skips when CI=true and an emulator is
// missing. Run it with
//
//	go test ./test
//
// The package has no non-test code; this file only documents it.
package test
