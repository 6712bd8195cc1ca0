package loadtest

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// MinimalBody is the default Options.Body: Gemini's thin envelope with a
// fresh job id and nothing else in data.
func MinimalBody(typ string, now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{ // strings only: cannot fail
		"type": typ, "version": "v1", "timestamp": now.UTC().Format(time.RFC3339),
		"data": map[string]string{"id": "jobs/" + rand.Text()},
	})
	return b
}
