package verifytest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// JWKSHandler serves a JWK Set and counts the requests it answers. Its
// answer (body, status, Cache-Control, delay) can be changed at any time.
// The zero value is not usable; use NewJWKSHandler.
type JWKSHandler struct {
	requests atomic.Int64

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	delay        time.Duration
}

// NewJWKSHandler returns a handler answering 200 with body and no
// Cache-Control.
func NewJWKSHandler(body []byte) *JWKSHandler {
	return &JWKSHandler{body: body, status: http.StatusOK}
}

// ServeHTTP answers any GET with the configured response, after the
// configured delay (cut short when the client goes away).
func (h *JWKSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.mu.Lock()
	body, status, cc, delay := h.body, h.status, h.cacheControl, h.delay
	h.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// Requests returns how many requests were answered (or started) so far.
func (h *JWKSHandler) Requests() int { return int(h.requests.Load()) }

// SetBody changes the served document, for example to JWKS(other signers).
func (h *JWKSHandler) SetBody(b []byte) { h.mu.Lock(); h.body = b; h.mu.Unlock() }

// SetStatus changes the HTTP status (default 200).
func (h *JWKSHandler) SetStatus(code int) { h.mu.Lock(); h.status = code; h.mu.Unlock() }

// SetCacheControl sets the Cache-Control header; empty sends none.
func (h *JWKSHandler) SetCacheControl(v string) { h.mu.Lock(); h.cacheControl = v; h.mu.Unlock() }

// SetMaxAge sends "Cache-Control: public, max-age=<d in seconds>".
func (h *JWKSHandler) SetMaxAge(d time.Duration) {
	h.SetCacheControl("public, max-age=" + strconv.FormatInt(int64(d/time.Second), 10))
}

// SetDelay makes each answer wait d first.
func (h *JWKSHandler) SetDelay(d time.Duration) { h.mu.Lock(); h.delay = d; h.mu.Unlock() }

// JWKSServer is a JWKSHandler on a loopback httptest.Server. URL is the
// JWKS URL to configure. Close it when done.
type JWKSServer struct {
	*httptest.Server
	*JWKSHandler
}

// NewJWKSServer starts a loopback HTTP server serving body as a JWK Set
// (for example JWKS(NewSigner())).
func NewJWKSServer(body []byte) *JWKSServer {
	h := NewJWKSHandler(body)
	return &JWKSServer{Server: httptest.NewServer(h), JWKSHandler: h}
}
