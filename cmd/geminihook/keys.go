package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/geminihook/geminihook/internal/route"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Key ids of the keys that `keys` makes, and the ones `send` signs with by
// default, so that the printed commands need no --kid.
const (
	defaultRSAKeyID     = "geminihook-local-rsa"
	defaultEd25519KeyID = "geminihook-local-ed25519"
)

// maxRSABits is the largest RSA key keys makes.
const maxRSABits = 4096

// Names of the files `keys` writes.
const (
	fileSecret  = "secret.txt"
	fileEd25519 = "ed25519.seed"
	fileRSA     = "rsa.pem"
	fileJWKS    = "jwks.json"
	fileRoute   = "route-token.txt"
)

// localAudience is the JWT audience that keys suggests for local runs
// (serve --audience, send --audience); production uses the function's own.
const localAudience = "geminihook-local"

const keysAbout = `
Makes the key material for local tests of all three signature schemes and
writes it into --out DIR:

  secret.txt     a whsec_ secret for v1 (HMAC-SHA256)       private
  ed25519.seed   base64 of an Ed25519 seed for v1a            private
  rsa.pem        a PKCS #8 RSA private key for RS256 JWTs     private
  jwks.json      the JWK Set with both public keys            public
  route-token.txt  a route token for per-request webhooks     private

Then it prints the serve and send commands that use them: serve hosts
jwks.json itself (--jwks-file) and verifies against it, as production
verifies against Google's JWKS, and accepts v1a and JWT deliveries only at
/r/<route token>, as production does. These keys are for local tests only:
keep them out of version control (.gitignore lists keys/ and
geminihook-keys/). Existing files are not overwritten unless --force is
given.`

const keysExamples = `  geminihook keys --out ./keys
  geminihook serve --secret-file ./keys/secret.txt --jwks-file ./keys/jwks.json --route-token-file ./keys/route-token.txt --audience ` + localAudience + `
  geminihook send --url http://127.0.0.1:8080/r/$(cat ./keys/route-token.txt) --scheme v1a --ed25519-seed ./keys/ed25519.seed --all
  geminihook send --url http://127.0.0.1:8080/r/$(cat ./keys/route-token.txt) --scheme jwt --rsa-key ./keys/rsa.pem --audience ` + localAudience + ` --type video.generated`

// keysOptions are the parsed flags of keys.
type keysOptions struct {
	out     string
	force   bool
	rsaBits int
	kid     string
}

func runKeys(ctx context.Context, args []string, e env) error {
	o, err := parseKeys(args, e)
	if err != nil {
		return err
	}
	k, err := newKeys(o.rsaBits, o.kid)
	if err != nil {
		return err
	}
	if err := k.write(o.out, o.force); err != nil {
		return err
	}
	dir := o.out
	kidFlag := ""
	if o.kid != defaultRSAKeyID {
		kidFlag = " --kid " + shellQuote(o.kid)
	}
	fmt.Fprintf(e.stdout, `Wrote the local test keys into %s:
  %-13s whsec_ secret for v1 (HMAC)
  %-13s Ed25519 seed (base64) for v1a
  %-13s RSA private key for RS256 JWTs (kid %s)
  %-13s public JWK Set of both
  %-13s route token: per-request deliveries go to /r/<token>

Serve with all three schemes on (jwks.json hosted by serve itself):
  geminihook serve --secret-file %s --jwks-file %s --route-token-file %s --audience %s

Send with each scheme (v1 at /, v1a and jwt at /r/<token>):
  geminihook send --secret-file %s --all
  geminihook send --url %s --scheme v1a --ed25519-seed %s --all
  geminihook send --url %s --scheme jwt --rsa-key %s%s --audience %s --all
`, dir, fileSecret, fileEd25519, fileRSA, o.kid, fileJWKS, fileRoute,
		shellQuote(filepath.Join(dir, fileSecret)), shellQuote(filepath.Join(dir, fileJWKS)),
		shellQuote(filepath.Join(dir, fileRoute)), localAudience,
		shellQuote(filepath.Join(dir, fileSecret)),
		shellQuote(defaultURL+"r/"+k.route), shellQuote(filepath.Join(dir, fileEd25519)),
		shellQuote(defaultURL+"r/"+k.route), shellQuote(filepath.Join(dir, fileRSA)), kidFlag, localAudience)
	return nil
}

// parseKeys parses and checks keys' command line.
func parseKeys(args []string, e env) (keysOptions, error) {
	fs := newFlagSet("keys", "[--out DIR] [--force]", keysAbout, keysExamples, e)
	var o keysOptions
	fs.StringVar(&o.out, "out", "geminihook-keys", "directory to write the key files into (created, mode 0700)")
	fs.BoolVar(&o.force, "force", false, "overwrite existing key files")
	fs.IntVar(&o.rsaBits, "rsa-bits", 2048, fmt.Sprintf("RSA modulus size in bits (%d to %d)", verify.MinRSABits, maxRSABits))
	fs.StringVar(&o.kid, "kid", defaultRSAKeyID, "key id of the RSA key in jwks.json and in the JWT header (send --kid)")
	if err := parseFlags(fs, args, e); err != nil {
		return o, err
	}
	switch {
	case o.out == "":
		return o, badFlag("out", "must not be empty: want a directory, e.g. ./keys")
	case o.rsaBits < verify.MinRSABits || o.rsaBits > maxRSABits:
		return o, badFlag("rsa-bits", "%d: want %d to %d", o.rsaBits, verify.MinRSABits, maxRSABits)
	case o.kid == "":
		return o, badFlag("kid", "must not be empty: a JWT names its key by kid, e.g. %s", defaultRSAKeyID)
	}
	return o, nil
}

// keySet is the material `keys` makes.
type keySet struct {
	secret string
	route  string
	seed   []byte
	rsa    *rsa.PrivateKey
	kid    string
}

func newKeys(rsaBits int, kid string) (*keySet, error) {
	secret := newSecret()
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed) // never fails (crypto/rand)
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generating the RSA key: %w", err)
	}
	return &keySet{secret: secret, route: route.NewToken(), seed: seed, rsa: key, kid: kid}, nil
}

// signer returns a verifytest.Signer holding all of k.
func (k *keySet) signer() *verifytest.Signer {
	return &verifytest.Signer{
		Secrets:      []string{k.secret},
		Ed25519:      ed25519.NewKeyFromSeed(k.seed),
		Ed25519KeyID: defaultEd25519KeyID,
		RSA:          k.rsa,
		RSAKeyID:     k.kid,
	}
}

// write writes the four files into dir, refusing to replace any of them
// unless force is set. Private files get mode 0600.
func (k *keySet) write(dir string, force bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.rsa)
	if err != nil {
		return fmt.Errorf("encoding the RSA key: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{fileSecret, []byte(k.secret + "\n"), 0o600},
		{fileEd25519, []byte(base64.StdEncoding.EncodeToString(k.seed) + "\n"), 0o600},
		{fileRSA, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600},
		{fileJWKS, append(verifytest.JWKS(k.signer()), '\n'), 0o644},
		{fileRoute, []byte(k.route + "\n"), 0o600},
	}
	if !force {
		for _, f := range files {
			p := filepath.Join(dir, f.name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s already exists: pass --force to replace the keys in %s, or choose another --out", p, dir)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // WriteFile keeps an existing file's mode
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// readEd25519Seed reads a base64 Ed25519 seed file as `keys` writes it.
func readEd25519Seed(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, badFlag("ed25519-seed", "%s: reading the Ed25519 seed: %v (make one with geminihook keys)", path, err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, badFlag("ed25519-seed", "%s: want the base64 of a %d-byte Ed25519 seed, as geminihook keys writes", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// readRSAKey reads a PEM RSA private key (PKCS #8 or PKCS #1).
func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, badFlag("rsa-key", "%s: reading the RSA key: %v (make one with geminihook keys)", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, badFlag("rsa-key", "%s: not PEM; want an RSA private key as geminihook keys writes", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, badFlag("rsa-key", "%s: want a PKCS #8 or PKCS #1 RSA private key, as geminihook keys writes", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, badFlag("rsa-key", "%s: holds another kind of key; want an RSA private key, as geminihook keys writes", path)
	}
	return rk, nil
}
