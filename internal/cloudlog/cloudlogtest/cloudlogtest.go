// Package cloudlogtest helps tests read the log lines that the code under
// test writes from several goroutines (a handler, a background refresh, a
// warm-up).
package cloudlogtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer for a logger's writer that is safe for
// concurrent writers and readers. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
