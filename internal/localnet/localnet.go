// Package localnet keeps geminihook's local tools on this machine and
// tells "nothing listens there" apart from slower failures: the loopback
// check that guards `geminihook load` and serve's unauthenticated
// in-process Pub/Sub server, and a quick TCP probe run before the gRPC and
// HTTP clients, which would otherwise retry for a long time before saying
// that nothing answers.
package localnet

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"
)

// DialTimeout bounds the connection attempt of Probe.
const DialTimeout = 2 * time.Second

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Probe dials addr (host:port) once, for at most DialTimeout, and closes
// the connection. It returns the dial error when nothing accepted it.
func Probe(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: DialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// IsRefused reports whether err (from an HTTP client, a dial, ...) is a
// failed dial: nothing accepted the connection, as opposed to a server
// that answered badly or too late.
func IsRefused(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}
