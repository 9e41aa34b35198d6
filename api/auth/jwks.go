package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// maxJWKSBytes caps a JWKS response body.
const maxJWKSBytes = 1 << 20

// minRSABits refuses RSA keys too short to trust.
const minRSABits = 2048

// jwksCache holds the keys of one JWKS URL.
//
// keyfunc/jwkset do the key lookup, the alg/key match and the fetching and
// parsing of the set; the refresh schedule is ours. jwkset's own refresh
// goroutine can be cancelled but not waited for, and its unknown-kid refresh
// waits on the rate limiter (queueing requests behind it); here Close waits
// for the goroutine (STYLE: Stop = cancel, then wait) and an unknown kid over
// the rate is refused at once. Each refresh runs jwkset.NewStorageFromHTTP
// without a RefreshInterval (one synchronous fetch, no goroutine) into the
// same store, which replaces its keys only when the whole set parsed.
type jwksCache struct {
	url     string
	client  *http.Client
	owned   *http.Transport // set when we made the client: closed by close
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	store jwkset.Storage
	kf    keyfunc.Keyfunc

	limiter   *rate.Limiter // unknown-kid refreshes
	refreshMu sync.Mutex    // one fetch at a time
}

func newJWKSCache(opts Options) *jwksCache {
	store := jwkset.NewMemoryStorage()
	// keyfunc.New fails only without a storage.
	kf, _ := keyfunc.New(keyfunc.Options{Storage: store})
	var client http.Client
	var owned *http.Transport
	if opts.HTTPClient != nil {
		client = *opts.HTTPClient
	} else {
		owned = http.DefaultTransport.(*http.Transport).Clone()
		client = http.Client{Transport: owned}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = limitedBody{base: base, max: maxJWKSBytes}
	return &jwksCache{
		url:     opts.JWKSURL,
		client:  &client,
		owned:   owned,
		timeout: opts.JWKSTimeout,
		log:     opts.Logger,
		now:     opts.Now,
		store:   store,
		kf:      kf,
		limiter: rate.NewLimiter(rate.Every(opts.JWKSMinRefreshInterval), 1),
	}
}

// run refreshes the set every interval until ctx is cancelled.
func (j *jwksCache) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := j.refresh(ctx); err != nil && ctx.Err() == nil {
				j.log.Warn("auth: JWKS refresh failed", "err", err)
			}
		}
	}
}

// close releases the idle connections of a client we made.
func (j *jwksCache) close() {
	if j.owned != nil {
		j.owned.CloseIdleConnections()
	}
}

// refresh fetches the set once, bounded by the timeout.
func (j *jwksCache) refresh(ctx context.Context) error {
	j.refreshMu.Lock()
	defer j.refreshMu.Unlock()
	_, err := jwkset.NewStorageFromHTTP(j.url, jwkset.HTTPClientStorageOptions{
		Client:      j.client,
		Ctx:         ctx,
		HTTPTimeout: j.timeout,
		Storage:     j.store,
	})
	return err
}

// key returns the public key for t's kid, pinned to alg: RS256 needs an RSA
// key of at least 2048 bits, ES256 an EC P-256 key, and a key that names its
// own alg must name this one. An unknown kid refreshes the set at most once
// per JWKSMinRefreshInterval.
func (j *jwksCache) key(ctx context.Context, t *jwt.Token, alg string) (any, error) {
	if kid, _ := t.Header["kid"].(string); kid == "" {
		return nil, refuse(ReasonUnknownKey)
	}
	lookup := j.kf.KeyfuncCtx(ctx)
	key, err := lookup(t)
	if errors.Is(err, jwkset.ErrKeyNotFound) && j.limiter.AllowN(j.now(), 1) {
		if rerr := j.refresh(ctx); rerr != nil {
			j.log.Warn("auth: JWKS refresh for an unknown kid failed", "err", rerr)
		}
		key, err = lookup(t)
	}
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return nil, refuse(ReasonUnknownKey)
	case err != nil: // the key names another alg
		return nil, refuse(ReasonBadAlgorithm)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg == jwt.SigningMethodRS256.Alg() && k.N.BitLen() >= minRSABits {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, refuse(ReasonBadAlgorithm)
}

// limitedBody caps response bodies so that a hostile or broken JWKS endpoint
// cannot make us read without bound; a truncated set fails to parse.
type limitedBody struct {
	base http.RoundTripper
	max  int64
}

func (l limitedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, l.max), resp.Body}
	return resp, nil
}
