package verifytest

import (
	"crypto/rand"
	"encoding/hex"
)

// NewWebhookID returns a fresh webhook-id in the form Gemini sends:
// "msg_" followed by a random (version 4) UUID.
func NewWebhookID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return "msg_" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
