package bench

import (
	"bytes"
	_ "embed" // the body below
)

// body is a batch.succeeded envelope of about 1 KiB, the size of a Gemini
// delivery that echoes a few user_metadata entries (the documented
// envelope alone is about 200 bytes).
//
//go:embed testdata/batch_succeeded_1k.json
var body []byte

// Body returns the benchmarks' delivery body: a Gemini batch.succeeded
// envelope of 1,056 bytes. Each call returns a new copy.
func Body() []byte { return bytes.Clone(bytes.TrimSpace(body)) }
