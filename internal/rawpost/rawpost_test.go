package rawpost

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		switch {
		case err != nil:
			w.WriteHeader(400)
		case r.Header.Get("X-Test") != "yes" || string(b) != "hello":
			w.WriteHeader(422)
		default:
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		r    Request
		want int
	}{
		{Request{Path: "/", Header: http.Header{"X-Test": {"yes"}}, ContentLength: 5, First: []byte("hello")}, 204},
		{Request{Path: "/", Header: http.Header{"X-Test": {"no"}}, ContentLength: 5, First: []byte("hello")}, 422},
		{Request{Path: "/", Header: http.Header{"X-Test": {"yes"}}, ContentLength: 9, First: []byte("hello"), CloseWrite: true}, 400},
	} {
		got, took, err := Post(addr, tt.r)
		if err != nil || got != tt.want || took > 5*time.Second {
			t.Errorf("Post(%+v) = %d, %v, %v; want %d", tt.r, got, took, err, tt.want)
		}
	}
}
