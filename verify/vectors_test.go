package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors.json from verifytest's fixed keys")

// vectorFile is testdata/vectors.json: known answers for all three schemes,
// cross-checked once with Node's crypto (see testdata/README.md).
type vectorFile struct {
	Comment        string          `json:"comment"`
	Ed25519SeedHex string          `json:"ed25519_seed_hex"`
	RSAKeyFile     string          `json:"rsa_key_file"`
	JWKS           json.RawMessage `json:"jwks"`
	Audience       string          `json:"audience"`
	Cases          []vector        `json:"cases"`
}

type vector struct {
	Name      string `json:"name"`
	Scheme    string `json:"scheme"`
	Secret    string `json:"secret,omitempty"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
	KeyID     string `json:"key_id"`
}

// Standard Webhooks reference vector (the example of the Standard Webhooks specification).
const (
	stdSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	stdTS     = "1614265330"
	stdBody   = `{"test": 2432232314}`
	stdSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vecAud    = "https://example.com/gemini-webhook"
)

func genVectors() vectorFile {
	s := verifytest.NewSigner()
	s.Audience = vecAud
	ts := time.Unix(1614265330, 0)
	gemini := `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`
	return vectorFile{
		Comment:        "Known answers for package verify. v1a and jwt are produced by verifytest's fixed keys and were checked once with Node's crypto: see README.md and crosscheck.mjs. Regenerate with: go test ./verify -run TestVectors -update-vectors",
		Ed25519SeedHex: hex.EncodeToString(verifytest.Ed25519Seed),
		RSAKeyFile:     "../verifytest/testdata/rsa1.pem",
		JWKS:           verifytest.JWKS(s),
		Audience:       vecAud,
		Cases: []vector{
			{Name: "standard-webhooks", Scheme: "v1", Secret: stdSecret, ID: stdID, Timestamp: stdTS, Body: stdBody, Signature: stdSig, KeyID: "0"},
			{Name: "v1a-standard-body", Scheme: "v1a", ID: stdID, Timestamp: stdTS, Body: stdBody,
				Signature: s.V1aToken(stdID, ts, []byte(stdBody)), KeyID: verifytest.Ed25519KeyID},
			{Name: "v1a-gemini-body", Scheme: "v1a", ID: "msg_2f1c9a52-7d43-4c8e-9b0a-3e6f5d4c2b1a", Timestamp: stdTS, Body: gemini,
				Signature: s.V1aToken("msg_2f1c9a52-7d43-4c8e-9b0a-3e6f5d4c2b1a", ts, []byte(gemini)), KeyID: verifytest.Ed25519KeyID},
			{Name: "jwt-rs256", Scheme: "jwt", ID: stdID, Timestamp: stdTS, Body: gemini,
				Signature: s.JWTToken(stdID, ts), KeyID: verifytest.RSAKeyID},
		},
	}
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	if *updateVectors {
		b, err := json.MarshalIndent(genVectors(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

func vecHeader(v vector) http.Header {
	h := http.Header{}
	h.Set(verify.HeaderID, v.ID)
	h.Set(verify.HeaderTimestamp, v.Timestamp)
	h.Set(verify.HeaderSignature, v.Signature)
	return h
}

func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	srv := verifytest.NewJWKSServer(vf.JWKS)
	defer srv.Close()
	now := time.Unix(1614265330, 0)
	v, err := verify.New(verify.Options{
		Secrets:  verify.StaticSecrets(stdSecret),
		JWKSURL:  srv.URL,
		Audience: vf.Audience,
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, vec := range vf.Cases {
		t.Run(vec.Name, func(t *testing.T) {
			m, err := v.Verify(context.Background(), vecHeader(vec), []byte(vec.Body))
			if err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			ts, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
			want := verify.Message{ID: vec.ID, Timestamp: time.Unix(ts, 0).UTC(), Scheme: verify.Scheme(vec.Scheme), KeyID: vec.KeyID, BodySigned: vec.Scheme != "jwt"}
			if vec.Scheme == "jwt" {
				sum := sha256.Sum256([]byte(vec.Signature))
				want.TokenID = hex.EncodeToString(sum[:])
			}
			if m != want {
				t.Errorf("Verify = %+v, want %+v", m, want)
			}
			// Each body byte is covered: flipping the last one must fail
			// (for jwt the body is not signed; see package doc).
			if vec.Scheme != "jwt" {
				body := []byte(vec.Body)
				body[len(body)-1] ^= 1
				if _, err := v.Verify(context.Background(), vecHeader(vec), body); !errors.Is(err, verify.ErrNoMatchingSignature) {
					t.Errorf("Verify(changed body) = %v, want ErrNoMatchingSignature", err)
				}
			}
		})
	}

	// The file's keys are verifytest's: the signer must reproduce the
	// Node-checked answers byte for byte.
	t.Run("signer-reproduces", func(t *testing.T) {
		if got := genVectors(); got.Ed25519SeedHex != vf.Ed25519SeedHex || len(got.Cases) != len(vf.Cases) {
			t.Fatalf("generated vectors differ in shape from testdata/vectors.json")
		} else {
			for i := range got.Cases {
				if got.Cases[i] != vf.Cases[i] {
					t.Errorf("case %s: generated %+v, file %+v", vf.Cases[i].Name, got.Cases[i], vf.Cases[i])
				}
			}
		}
		seed, _ := hex.DecodeString(vf.Ed25519SeedHex)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if !pub.Equal(verifytest.NewSigner().Ed25519.Public()) {
			t.Error("seed in file does not match verifytest.Ed25519Seed")
		}
	})
}

// TestStandardVectorFailures: variants of the reference vector that must
// fail.
func TestStandardVectorFailures(t *testing.T) {
	now := time.Unix(1614265330, 0)
	v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(stdSecret), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	lastChanged := stdSig[:len(stdSig)-2] + "0="
	// The same signature bytes, spelled otherwise: a line break that
	// encoding/base64 would skip, and padding bits that it would ignore.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	lineBreak := stdSig[:10] + "\n" + stdSig[10:]
	paddingBits := stdSig[:len(stdSig)-2] + string(alphabet[strings.IndexByte(alphabet, stdSig[len(stdSig)-2])^1]) + "="
	tests := []struct {
		name          string
		id, ts, sig   string
		now           time.Time
		want          error
		omit          string
		wantOK        bool
		bodyOverwrite string
	}{
		{name: "valid", id: stdID, ts: stdTS, sig: stdSig, now: now, wantOK: true},
		{name: "valid-at-plus-5min", id: stdID, ts: stdTS, sig: stdSig, now: now.Add(5 * time.Minute), wantOK: true},
		{name: "valid-at-minus-5min", id: stdID, ts: stdTS, sig: stdSig, now: now.Add(-5 * time.Minute), wantOK: true},
		{name: "last-char-changed", id: stdID, ts: stdTS, sig: lastChanged, now: now, want: verify.ErrNoMatchingSignature},
		{name: "line-break-in-signature", id: stdID, ts: stdTS, sig: lineBreak, now: now, want: verify.ErrNoMatchingSignature},
		{name: "nonzero-padding-bits", id: stdID, ts: stdTS, sig: paddingBits, now: now, want: verify.ErrNoMatchingSignature},
		{name: "v1-comma-alone", id: stdID, ts: stdTS, sig: "v1,", now: now, want: verify.ErrNoMatchingSignature},
		{name: "missing-id", ts: stdTS, sig: stdSig, now: now, omit: verify.HeaderID, want: verify.ErrMissingHeaders},
		{name: "missing-timestamp", id: stdID, sig: stdSig, now: now, omit: verify.HeaderTimestamp, want: verify.ErrMissingHeaders},
		{name: "missing-signature", id: stdID, ts: stdTS, now: now, omit: verify.HeaderSignature, want: verify.ErrMissingHeaders},
		{name: "non-integer-timestamp", id: stdID, ts: "1614265330.5", sig: stdSig, now: now, want: verify.ErrInvalidHeaders},
		{name: "too-old-5min-1s", id: stdID, ts: stdTS, sig: stdSig, now: now.Add(5*time.Minute + time.Second), want: verify.ErrTimestampTooOld},
		{name: "too-new-5min-1s", id: stdID, ts: stdTS, sig: stdSig, now: now.Add(-5*time.Minute - time.Second), want: verify.ErrTimestampTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := tt.now
			v, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(stdSecret), Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, val := range map[string]string{verify.HeaderID: tt.id, verify.HeaderTimestamp: tt.ts, verify.HeaderSignature: tt.sig} {
				if k != tt.omit {
					h.Set(k, val)
				}
			}
			_, err = v.Verify(context.Background(), h, []byte(stdBody))
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	_ = v
	for _, secret := range []string{"", "whsec_"} {
		if _, err := verify.New(verify.Options{Secrets: verify.StaticSecrets(secret)}); !errors.Is(err, verify.ErrInvalidSecret) {
			t.Errorf("New(StaticSecrets(%q)) = %v, want ErrInvalidSecret", secret, err)
		}
	}
}
