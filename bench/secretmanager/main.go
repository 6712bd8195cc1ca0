// Command secretmanager serves a loopback Secret Manager for the
// benchmarks' function binaries (package benchfn), for drivers that are
// scripts (test/fault/loadbench): Google ships no Secret Manager emulator.
//
//	go run ./bench/secretmanager --addr 127.0.0.1:0 --secret projects/P/secrets/S=VALUE [--secret ...]
//
// Each secret has one enabled version holding VALUE. It prints "listening
// on ADDR" and serves until SIGINT or SIGTERM. Point a function binary at
// it with GEMINIHOOK_BENCH_SECRETMANAGER=ADDR.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/geminihook/geminihook/bench/internal/benchfn"
)

type secretFlags map[string][]byte

func (s secretFlags) String() string { return fmt.Sprint(len(s), " secrets") }

func (s secretFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want projects/P/secrets/S=VALUE")
	}
	s[name] = []byte(value)
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	secrets := secretFlags{}
	flag.Var(secrets, "secret", "`projects/P/secrets/S=VALUE`, repeatable")
	flag.Parse()
	sm, err := benchfn.StartSecretManager(*addr, secrets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "secretmanager:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", sm.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sm.Stop()
}
