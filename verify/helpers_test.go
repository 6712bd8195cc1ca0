package verify_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// t0 is the fixed "now" of most tests.
var t0 = time.Unix(1767000000, 0)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a Verifier trusting signer A (NewSigner) for all three schemes,
// with a counting JWKS server and a settable clock at t0.
type env struct {
	v     *verify.Verifier
	a, b  *verifytest.Signer
	srv   *verifytest.JWKSServer
	clock *clock
}

// testAudience is the JWT audience of newEnv's Verifier and signers.
const testAudience = "https://hooks.example.test/gemini"

// noAudience as Options.Audience makes newEnv build a Verifier without an
// audience (JWT off).
const noAudience = "\x00none"

func newEnv(t *testing.T, o verify.Options) *env {
	t.Helper()
	e := &env{a: verifytest.NewSigner(), b: verifytest.NewSecondSigner(), clock: newClock(t0)}
	switch o.Audience {
	case "":
		o.Audience = testAudience
	case noAudience:
		o.Audience = ""
	}
	e.a.Audience, e.b.Audience = testAudience, testAudience
	e.srv = verifytest.NewJWKSServer(verifytest.JWKS(e.a))
	t.Cleanup(e.srv.Close)
	if o.Secrets == nil {
		o.Secrets = verify.StaticSecrets(verifytest.Secret)
	}
	if o.JWKSURL == "" {
		o.JWKSURL = e.srv.URL
	}
	o.Now = e.clock.Now
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

// cloneHeader copies h and applies set (a value of "\x00" deletes).
func cloneHeader(h http.Header, set map[string]string) http.Header {
	c := h.Clone()
	for k, v := range set {
		if v == "\x00" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
	}
	return c
}
