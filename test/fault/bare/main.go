// Command bare is the baseline receiver for `geminihook load
// --no-verify-delivery`: bench.Bare, the same baseline function as the
// handler benchmarks: it reads the body (at most 1 MiB, as geminihook's
// default limit) and answers 200 with no body, nothing else. Comparing a
// load against it with the same load against `geminihook serve` shows what
// verification, the ledger and the publish cost on top of HTTP.
//
// Usage:
//
//	go run ./test/fault/bare [--addr 127.0.0.1:0] [--funcframework]
//
// It prints "listening on http://ADDR/" and serves until SIGINT or
// SIGTERM. By default it serves through a net/http.Server with the same
// settings as `geminihook serve`; --funcframework serves through
// functions-framework-go instead (the stack of the deployed function),
// which needs a fixed port, so port 0 is resolved to a free port first.
// The address must be on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminihook/geminihook/bench"
	"github.com/geminihook/geminihook/internal/localnet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0: any free port)")
	ff := flag.Bool("funcframework", false, "serve through functions-framework-go instead of net/http.Server")
	flag.Parse()
	if err := run(*addr, *ff); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(addr string, ff bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if !localnet.IsLoopbackHost(host) {
		return fmt.Errorf("--addr %q: loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	if ff {
		// functions-framework listens itself: hand the port over.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		functions.HTTP("Bare", bench.Bare)
		os.Setenv("FUNCTION_TARGET", "Bare")
		return funcframework.StartHostPort(host, port)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(bench.Bare),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
