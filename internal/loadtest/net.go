package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// CheckLoopbackURL returns nil when u is an absolute http URL whose host
// is localhost or a loopback IP; else an error wrapping ErrInvalidOptions
// (malformed) or ErrNotLoopback.
func CheckLoopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%w: URL %q: want an absolute http URL such as http://127.0.0.1:8080/", ErrInvalidOptions, u)
	}
	if !IsLoopbackHost(p.Hostname()) {
		return fmt.Errorf("%w: %s is not a loopback host (127.0.0.0/8, ::1, localhost)", ErrNotLoopback, p.Hostname())
	}
	return nil
}

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Probe dials the receiver's host:port once and returns ErrUnreachable
// (wrapping the dial error) when nothing accepts the connection.
func Probe(ctx context.Context, rawURL string) error {
	p, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: URL %q: %v", ErrInvalidOptions, rawURL, err)
	}
	host := p.Host
	if p.Port() == "" {
		port := "80"
		if p.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, host, err)
	}
	c.Close()
	return nil
}

// isRefused reports whether err is a failed dial: nothing accepted the
// connection.
func isRefused(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
