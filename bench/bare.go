package bench

import (
	"io"
	"net/http"
)

// BareMaxBodyBytes bounds the body Bare reads, as geminihook's default does.
const BareMaxBodyBytes = 1 << 20

// Bare is the baseline function: it reads the whole body into memory
// (bounded by BareMaxBodyBytes, answering 413 past it), as any receiver
// that looks at the body must, and answers 200 with no body. It is what a
// webhook receiver that does nothing else costs.
func Bare(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, BareMaxBodyBytes)); err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	w.WriteHeader(http.StatusOK)
}
