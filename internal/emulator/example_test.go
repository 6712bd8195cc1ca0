package emulator_test

import (
	"context"
	"fmt"
	"testing"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc"

	"github.com/geminihook/geminihook/internal/emulator"
)

// A Counter counts every call that passes through its interceptors, per full
// gRPC method name.
func ExampleCounter() {
	var calls emulator.Counter
	invoke := calls.UnaryInterceptor()
	done := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	for range 2 {
		_ = invoke(context.Background(), "/google.firestore.v1.Firestore/Commit", nil, nil, nil, done)
	}
	fmt.Println(calls.Count("Commit"), calls.Snapshot())
	// Output: 2 map[/google.firestore.v1.Firestore/Commit:2]
}

// A test gets the shared emulator, its own project and a client that counts
// its calls, without touching FIRESTORE_EMULATOR_HOST.
func ExampleFirestore() {
	test := func(t *testing.T) {
		emu := emulator.Firestore(t) // skipped under -short; fails, naming what to install, when not installed
		var calls emulator.Counter
		client, err := firestore.NewClient(t.Context(), emulator.ProjectID(t), emu.ClientOptions(t, &calls)...)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if _, err := client.Collection("c").Doc("d").Create(t.Context(), map[string]any{"n": 1}); err != nil {
			t.Fatal(err)
		}
		if n := calls.Count("/Commit"); n != 1 {
			t.Errorf("Commit calls = %d, want 1", n)
		}
	}
	_ = test
}
