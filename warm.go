package geminihook

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/geminihook/geminihook/internal/ledger"
	"github.com/geminihook/geminihook/verify"
)

// warmUpTimeout bounds WarmUp: a backend that does not answer by then is
// left to the first delivery, which meets it as it would have anyway.
const warmUpTimeout = 10 * time.Second

// warmUpID is the webhook-id of WarmUp's synthetic checks and ledger read.
// The read finds nothing (or a delivery of that id, which it leaves alone).
const warmUpID = "geminihook-warm-up"

// WarmUp does, concurrently, what the first delivery of an instance would
// otherwise do first on cold connections and empty caches, so that the
// first delivery costs about what the next ones do. It reads the v1 signing
// secrets and the route tokens from Secret Manager and fetches the JWKS,
// into the caches the requests use; it readies the ledger (the Firestore
// ledger's WarmUp: a read of a record that does not exist and a commit that
// cannot apply; another ledger's Lookup); and, when the publisher can (a
// WarmUp method, as publish.Publisher has), it opens the Pub/Sub
// connection with a call that publishes nothing. It writes nothing,
// publishes nothing, logs no access line and counts in no metric of ours.
//
// The keys are loaded by verifying a synthetic delivery whose signatures
// (all-zero v1 and v1a tokens, webhook-id "geminihook-warm-up") cannot
// verify: the verifier loads its keys as for any delivery, and the
// second-round refresh that follows a failed check is within the sources'
// cooldown of that first load, so it calls nothing.
//
// A call that fails is left to the first delivery to meet; WarmUp returns
// the errors joined, for a caller that wants to log them, after at most 10
// seconds or when ctx ends. Deliveries may be served while it runs: they
// join the loads and connections it has started.
func (s *Service) WarmUp(ctx context.Context) error {
	h, ok := s.Handler.(*handler)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	verifiers := []Verifier{h.Verifier}
	if h.Routed != h.Verifier {
		verifiers = append(verifiers, h.Routed)
	}
	for _, v := range verifiers {
		if v != nil {
			run(func() error { return warmVerifier(ctx, v) })
		}
	}
	if h.Routes != nil {
		run(func() error { _, err := h.Routes.Secrets(ctx); return err })
	}
	switch l := h.Ledger.(type) {
	case interface {
		WarmUp(context.Context, string) error
	}:
		run(func() error { return l.WarmUp(ctx, warmUpID) })
	case interface {
		Lookup(context.Context, string) (*ledger.Record, error)
	}:
		run(func() error {
			if _, err := l.Lookup(ctx, warmUpID); err != nil && !errors.Is(err, ledger.ErrNotFound) {
				return err
			}
			return nil
		})
	}
	if p, ok := h.Publisher.(interface{ WarmUp(context.Context) error }); ok {
		run(func() error { return p.WarmUp(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// warmVerifier makes v load its keys by checking a delivery that cannot
// verify: a v1 and a v1a token of zeros, each ignored by a verifier that
// does not accept its scheme.
func warmVerifier(ctx context.Context, v Verifier) error {
	h := http.Header{
		"Webhook-Id":        {warmUpID},
		"Webhook-Timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"Webhook-Signature": {"v1," + zeroSig32 + " v1a," + zeroSig64},
	}
	if _, err := v.Verify(ctx, h, nil); err != nil && !errors.Is(err, verify.ErrNoMatchingSignature) {
		return err
	}
	return nil
}

var (
	zeroSig32 = base64.StdEncoding.EncodeToString(make([]byte, 32))
	zeroSig64 = base64.StdEncoding.EncodeToString(make([]byte, 64))
)
