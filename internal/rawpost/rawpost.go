// Package rawpost writes HTTP requests by hand, for tests of what
// net/http's client will not send: a body that stops short, stalls or
// never comes, a declared length the body does not have, header values
// with control characters.
package rawpost

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request is one hand-written POST.
type Request struct {
	Path   string
	Header http.Header
	// ContentLength is the declared length; First is what is sent of the
	// body (possibly less, or nothing).
	ContentLength int
	First         []byte
	// CloseWrite ends the client's side after First: a truncated body.
	CloseWrite bool
}

// Post sends r to addr (host:port) and returns the status of the answer
// and how long it took from the end of the request's headers. It waits
// for the status line at most 20 s.
func Post(addr string, r Request) (status int, took time.Duration, err error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", r.Path, addr, r.ContentLength)
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	start := time.Now()
	if _, err := c.Write(append([]byte(b.String()), r.First...)); err != nil {
		return 0, 0, err
	}
	if r.CloseWrite {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, time.Since(start), fmt.Errorf("no answer: %w", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, time.Since(start), fmt.Errorf("status line %q", line)
	}
	status, err = strconv.Atoi(f[1])
	return status, time.Since(start), err
}
