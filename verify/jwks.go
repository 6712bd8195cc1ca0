package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits and defaults of the JWKS key source.
const (
	// MaxJWKSBytes bounds a JWKS response body; a larger one is an error,
	// never truncated. Google's set is a few KiB.
	MaxJWKSBytes = 256 << 10
	// MaxJWKSKeys bounds the entries of a JWKS document.
	MaxJWKSKeys = 64
	// MinRSABits and MaxRSABits bound the modulus of an accepted RSA key;
	// keys outside are ignored.
	MinRSABits = 2048
	MaxRSABits = 8192
	// DefaultJWKSMaxAge is how long a fetched set is fresh when the response
	// has no Cache-Control max-age.
	DefaultJWKSMaxAge = time.Hour
	// MaxJWKSMaxAge caps a max-age announced by the server, so a removed key
	// does not stay trusted for longer than a day.
	MaxJWKSMaxAge = 24 * time.Hour
	// DefaultJWKSCooldown is the least time between two fetches: a flood of
	// requests with unknown key ids costs at most one fetch per cooldown.
	DefaultJWKSCooldown = time.Minute
	// DefaultJWKSTimeout bounds one fetch.
	DefaultJWKSTimeout = 5 * time.Second
)

// Ed25519Key is an Ed25519 public key of a JWKS, with its key id ("" when
// the JWK has none).
type Ed25519Key struct {
	ID  string
	Key ed25519.PublicKey
}

// KeySet holds the usable keys of one JWKS document: RSA keys for RS256 by
// key id, and Ed25519 keys. It is immutable and safe for concurrent use.
type KeySet struct {
	rsa map[string]*rsa.PublicKey
	ed  []Ed25519Key
}

// RSA returns the RSA key with the given key id, or nil.
func (ks *KeySet) RSA(kid string) *rsa.PublicKey {
	if ks == nil {
		return nil
	}
	return ks.rsa[kid]
}

// Ed25519 returns the Ed25519 keys in document order. Callers must not
// modify the result.
func (ks *KeySet) Ed25519() []Ed25519Key {
	if ks == nil {
		return nil
	}
	return ks.ed
}

// Len is the number of usable keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.rsa) + len(ks.ed)
}

// jwk holds the JWK members we read; everything else is ignored.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
}

// ParseJWKS reads a JWK Set document (RFC 7517). It keeps RSA keys with a
// key id, a modulus of [MinRSABits] to [MaxRSABits] bits, an odd exponent ≥ 3,
// and alg RS256 or none given; and OKP keys of curve Ed25519 (alg EdDSA,
// Ed25519 or none). Keys with use other than "sig", other key types and
// curves, and a repeated key id are skipped, not fatal. Errors wrap
// [ErrInvalidJWKS]: not a JSON object with a "keys" array, more than
// [MaxJWKSBytes] or [MaxJWKSKeys], or no usable key at all (so a broken set never
// replaces a working one).
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalidJWKS, MaxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWKS, err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no \"keys\" array", ErrInvalidJWKS)
	}
	if len(doc.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrInvalidJWKS, len(doc.Keys), MaxJWKSKeys)
	}
	ks := &KeySet{rsa: make(map[string]*rsa.PublicKey)}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			if k.Kid == "" || (k.Alg != "" && k.Alg != "RS256") {
				continue
			}
			if _, dup := ks.rsa[k.Kid]; dup {
				continue
			}
			if pub := rsaKey(k.N, k.E); pub != nil {
				ks.rsa[k.Kid] = pub
			}
		case "OKP":
			if k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA" && k.Alg != "Ed25519") {
				continue
			}
			x, err := decodeB64URL(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			dup := false
			for _, e := range ks.ed {
				dup = dup || (k.Kid != "" && e.ID == k.Kid)
			}
			if !dup {
				ks.ed = append(ks.ed, Ed25519Key{ID: k.Kid, Key: ed25519.PublicKey(x)})
			}
		}
	}
	if ks.Len() == 0 {
		return nil, fmt.Errorf("%w: no usable RS256 or Ed25519 key", ErrInvalidJWKS)
	}
	return ks, nil
}

// rsaKey builds an RSA public key from base64url n and e, or nil when they
// are malformed or outside the accepted sizes.
func rsaKey(n64, e64 string) *rsa.PublicKey {
	nb, err := decodeB64URL(n64)
	if err != nil {
		return nil
	}
	eb, err := decodeB64URL(e64)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < MinRSABits || n.BitLen() > MaxRSABits {
		return nil
	}
	var e int64
	for _, b := range eb {
		e = e<<8 | int64(b)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil
	}
	return &rsa.PublicKey{N: n, E: int(e)}
}

// decodeB64URL decodes base64url, tolerating padding that some JWKS
// producers add.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// JWKSOptions configures [NewJWKS]. Zero values select the defaults.
type JWKSOptions struct {
	// URL of the JWK Set: an absolute http or https URL. Required.
	URL string
	// HTTPClient fetches the set; nil uses a client of its own with
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Now is the clock for max-age and cooldown; nil means time.Now.
	Now func() time.Time
	// MaxAge applies when a response has no Cache-Control max-age; zero
	// means DefaultJWKSMaxAge.
	MaxAge time.Duration
	// Cooldown is the least time between two fetches; zero means
	// DefaultJWKSCooldown.
	Cooldown time.Duration
	// Timeout bounds one fetch; zero means DefaultJWKSTimeout.
	Timeout time.Duration
}

// JWKS is a cached, self-refreshing JWK Set fetched over HTTP. The set is
// fresh for the response's Cache-Control max-age (no-store and no-cache
// count as 0; capped at MaxJWKSMaxAge; DefaultJWKSMaxAge when absent). Any
// fetch, whether caused by expiry or by Refresh, happens at most once per
// cooldown and once at a time: concurrent callers share one fetch. When a
// fetch fails the last good set stays in use. Safe for concurrent use.
type JWKS struct {
	url      string
	client   *http.Client
	now      func() time.Time
	maxAge   time.Duration
	cooldown time.Duration
	timeout  time.Duration

	cur atomic.Pointer[cachedSet] // last good set, nil until the first success

	mu          sync.Mutex
	attempted   bool      // a fetch has started at least once
	lastAttempt time.Time // start of the last fetch
	lastErr     error     // result of the last fetch
	flight      *flight   // the fetch in progress, or nil
}

type cachedSet struct {
	set     *KeySet
	expires time.Time
}

type flight struct {
	done   chan struct{}
	loaded bool
	err    error
}

// NewJWKS returns a JWKS for o.URL. It does no I/O: the first Keys call
// fetches. It fails with [ErrInvalidOptions] when the URL is not an absolute
// http(s) URL or a duration is negative.
func NewJWKS(o JWKSOptions) (*JWKS, error) {
	if err := checkJWKSURL(o.URL); err != nil {
		return nil, err
	}
	if o.MaxAge < 0 || o.Cooldown < 0 || o.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative JWKS duration", ErrInvalidOptions)
	}
	j := &JWKS{
		url:      o.URL,
		client:   o.HTTPClient,
		now:      o.Now,
		maxAge:   o.MaxAge,
		cooldown: o.Cooldown,
		timeout:  o.Timeout,
	}
	if j.client == nil {
		j.client = &http.Client{}
	}
	if j.now == nil {
		j.now = time.Now
	}
	if j.maxAge == 0 {
		j.maxAge = DefaultJWKSMaxAge
	}
	if j.cooldown == 0 {
		j.cooldown = DefaultJWKSCooldown
	}
	if j.timeout == 0 {
		j.timeout = DefaultJWKSTimeout
	}
	return j, nil
}

func checkJWKSURL(s string) error {
	if !SafeJWKSURL(s) {
		return fmt.Errorf("%w: JWKS URL must be an absolute https URL (http only for a loopback host)", ErrInvalidOptions)
	}
	return nil
}

// SafeJWKSURL reports whether s may be fetched for keys: an absolute https
// URL without user information, or http to a loopback host (local runs and
// tests). Keys fetched over plain http from elsewhere could be replaced on
// the way.
func SafeJWKSURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// Keys returns the current key set. When the cached set has expired (or
// none is cached) and the cooldown allows, it fetches first; if that fails
// the stale set is returned. With nothing cached and no successful fetch
// the error wraps [ErrKeysUnavailable] (and the fetch error).
func (j *JWKS) Keys(ctx context.Context) (*KeySet, error) {
	if c := j.cur.Load(); c != nil && j.now().Before(c.expires) {
		return c.set, nil
	}
	_, err := j.fetch(ctx)
	if c := j.cur.Load(); c != nil {
		return c.set, nil
	}
	if err == nil {
		j.mu.Lock()
		err = j.lastErr
		j.mu.Unlock()
	}
	if err == nil {
		err = errors.New("no key set fetched yet")
	}
	return nil, fmt.Errorf("%w: JWKS: %w", ErrKeysUnavailable, err)
}

// Refresh fetches the set now unless a fetch happened within the cooldown;
// it reports whether a new set was loaded. A caller arriving while a fetch
// is in flight waits for that fetch and shares its result. It implements
// [Refresher]. Errors wrap [ErrKeysUnavailable] (transport, status other than
// 200) or [ErrInvalidJWKS] (body), or are ctx's error; the previous set stays
// in use.
func (j *JWKS) Refresh(ctx context.Context) (bool, error) {
	return j.fetch(ctx)
}

// fetch starts a fetch, joins the one in flight, or does nothing within the
// cooldown (false, nil).
func (j *JWKS) fetch(ctx context.Context) (bool, error) {
	j.mu.Lock()
	f := j.flight
	if f == nil {
		now := j.now()
		if j.attempted && now.Sub(j.lastAttempt) < j.cooldown {
			j.mu.Unlock()
			return false, nil
		}
		f = &flight{done: make(chan struct{})}
		j.flight, j.attempted, j.lastAttempt = f, true, now
		// The fetch outlives a caller that gives up: its result still
		// serves everyone else, and the timeout bounds it.
		go j.run(context.WithoutCancel(ctx), f)
	}
	j.mu.Unlock()
	select {
	case <-f.done:
		return f.loaded, f.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (j *JWKS) run(ctx context.Context, f *flight) {
	set, maxAge, err := j.get(ctx)
	j.mu.Lock()
	if err == nil {
		j.cur.Store(&cachedSet{set: set, expires: j.now().Add(maxAge)})
	}
	j.lastErr = err
	f.loaded, f.err = err == nil, err
	j.flight = nil
	j.mu.Unlock()
	close(f.done)
}

// get performs one HTTP fetch and parse.
func (j *JWKS) get(ctx context.Context) (*KeySet, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w: JWKS answered %s", ErrKeysUnavailable, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading JWKS: %v", ErrKeysUnavailable, err)
	}
	set, err := ParseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	return set, maxAge(resp.Header.Values("Cache-Control"), j.maxAge), nil
}

// maxAge reads the freshness lifetime from Cache-Control values: max-age=N
// seconds (capped at MaxJWKSMaxAge), 0 for no-store or no-cache, def when
// absent or unparseable.
func maxAge(values []string, def time.Duration) time.Duration {
	age, found := def, false
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				if found {
					continue
				}
				n, err := strconv.ParseUint(strings.Trim(arg, `"`), 10, 32)
				if err != nil {
					continue
				}
				found = true
				age = min(time.Duration(n)*time.Second, MaxJWKSMaxAge)
			}
		}
	}
	return age
}
