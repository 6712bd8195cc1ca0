package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/geminihook/geminihook/internal/localnet"
)

// CheckLoopbackURL returns nil when u is an absolute http URL whose host
// is localhost or a loopback IP; else an *OptionError (field URL) wrapping
// ErrInvalidOptions (malformed) or ErrNotLoopback.
func CheckLoopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return &OptionError{Field: "URL", Value: u, Want: "want an absolute http URL such as http://127.0.0.1:8080/", err: ErrInvalidOptions}
	}
	if !localnet.IsLoopbackHost(p.Hostname()) {
		return &OptionError{Field: "URL", Value: u, Want: p.Hostname() + " is not a loopback host (127.0.0.0/8, ::1, localhost)", err: ErrNotLoopback}
	}
	return nil
}

// Probe dials the receiver's host:port once and returns ErrUnreachable
// (wrapping the dial error) when nothing accepts the connection.
func Probe(ctx context.Context, rawURL string) error {
	p, err := url.Parse(rawURL)
	if err != nil {
		return &OptionError{Field: "URL", Value: rawURL, Want: "want an absolute http URL such as http://127.0.0.1:8080/", err: ErrInvalidOptions}
	}
	host := p.Host
	if p.Port() == "" {
		port := "80"
		if p.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	if err := localnet.Probe(ctx, host); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, host, err)
	}
	return nil
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
