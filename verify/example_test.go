package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Verifying the Standard Webhooks reference delivery with its secret.
func Example() {
	v, err := verify.New(verify.Options{
		Secrets: verify.StaticSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		Now:     func() time.Time { return time.Unix(1614265330, 0) }, // the delivery's own time
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := http.Header{}
	h.Set(verify.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(verify.HeaderTimestamp, "1614265330")
	h.Set(verify.HeaderSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	msg, err := v.Verify(context.Background(), h, []byte(`{"test": 2432232314}`))
	fmt.Println(msg.ID, msg.Scheme, msg.Timestamp.Format(time.RFC3339), err)

	_, err = v.Verify(context.Background(), h, []byte(`{"test": 2432232315}`))
	fmt.Println(errors.Is(err, verify.ErrNoMatchingSignature))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek v1 2021-02-25T15:02:10Z <nil>
	// true
}

// Per-request webhooks: Ed25519 (v1a) and RS256 JWT signatures checked with
// the keys of a JWK Set, here served by verifytest.
func Example_jwks() {
	signer := verifytest.NewSigner()
	signer.Audience = "https://hooks.example.test/gemini" // JWTs are accepted only for an audience of ours
	jwks := verifytest.NewJWKSServer(verifytest.JWKS(signer))
	defer jwks.Close()

	v, err := verify.New(verify.Options{JWKSURL: jwks.URL, Audience: signer.Audience})
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"type":"video.generated","data":{"id":"op_1"}}`)
	for _, scheme := range []string{"v1a", "jwt"} {
		msg, err := v.Verify(context.Background(), signer.Header(scheme, "msg_1", time.Now(), body), body)
		fmt.Println(msg.Scheme, msg.KeyID, err)
	}
	fmt.Println("JWKS fetches:", jwks.Requests())
	// Output:
	// v1a test-ed25519-1 <nil>
	// jwt test-rsa-1 <nil>
	// JWKS fetches: 1
}

// The errors map to HTTP answers in one place.
func ExampleVerifier_Verify_statusCodes() {
	status := func(err error) int {
		switch {
		case err == nil:
			return http.StatusOK
		case errors.Is(err, verify.ErrMissingHeaders), errors.Is(err, verify.ErrInvalidHeaders):
			return http.StatusBadRequest
		case errors.Is(err, verify.ErrKeysUnavailable):
			return http.StatusServiceUnavailable
		default: // ErrNoMatchingSignature, ErrSchemeDisabled, ErrTimestampTooOld, ErrTimestampTooNew
			return http.StatusUnauthorized
		}
	}
	v, _ := verify.New(verify.Options{Secrets: verify.StaticSecrets(verifytest.Secret)})
	_, err := v.Verify(context.Background(), http.Header{}, nil)
	fmt.Println(status(err))
	_, err = v.Verify(context.Background(), verifytest.Headers("msg_1", time.Now().Add(-time.Hour), "v1,AAAA"), nil)
	fmt.Println(status(err))
	// Output:
	// 400
	// 401
}
