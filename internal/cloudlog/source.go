package cloudlog

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// sourceCache maps a program counter to its encoded sourceLocation member
// (with its leading comma). A process logs from a bounded set of call
// sites, so the map stops growing after warm-up; reads take no lock and
// allocate nothing, and a new call site copies the map once.
var sourceCache struct {
	mu sync.Mutex                         // serializes writers
	m  atomic.Pointer[map[uintptr][]byte] // never mutated once stored
}

// appendSource writes the sourceLocation member of pc, or nothing when the
// runtime cannot name the function of pc.
func appendSource(b []byte, pc uintptr) []byte {
	if m := sourceCache.m.Load(); m != nil {
		if enc, ok := (*m)[pc]; ok {
			return append(b, enc...)
		}
	}
	enc := encodeSource(pc)
	sourceCache.mu.Lock()
	old := sourceCache.m.Load()
	m := make(map[uintptr][]byte, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[pc] = enc
	sourceCache.m.Store(&m)
	sourceCache.mu.Unlock()
	return append(b, enc...)
}

func lenOf(m *map[uintptr][]byte) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// encodeSource encodes the frame of pc as Cloud Logging's
// LogEntrySourceLocation: file and function as the runtime names them,
// line as a decimal string (an int64 in the proto3 JSON mapping).
func encodeSource(pc uintptr) []byte {
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	if f.File == "" && f.Function == "" {
		return nil
	}
	b := append([]byte(nil), `,"`+sourceKey+`":{"file":`...)
	b = appendString(b, f.File)
	b = append(b, `,"line":"`...)
	b = strconv.AppendInt(b, int64(f.Line), 10)
	b = append(b, `","function":`...)
	b = appendString(b, f.Function)
	return append(b, '}')
}
