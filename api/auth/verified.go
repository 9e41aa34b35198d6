package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTTL bounds how long a verified token is remembered. A key
// removed from the JWKS stops being trusted for tokens already seen
// within this long; a token's own expiry always comes first.
const verifiedTTL = time.Minute

// verifiedLimit bounds the remembered tokens; when full the cache starts
// over rather than grow.
const verifiedLimit = 100_000

// verifiedCache remembers tokens whose signature and claims checked out,
// so that a dashboard polling every few seconds costs one signature check
// per token and minute instead of one per request. Revocation is not
// cached: it is checked on every request. Safe for concurrent use.
//
// Tokens are keyed by their SHA-256: the raw token is often a view of the
// HTTP server's reused buffer (fiber), which must not outlive the request,
// and a fixed-size key bounds the memory whatever tokens callers send.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	claims Claims
	until  time.Time // the token's expiry plus leeway, or verifiedTTL after the check
}

func (c *verifiedCache) get(raw string, now time.Time) (Claims, bool) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return Claims{}, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return Claims{}, false
	}
	return e.claims, true
}

func (c *verifiedCache) put(raw string, claims Claims, until time.Time) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= verifiedLimit {
		c.entries = make(map[[sha256.Size]byte]verifiedEntry)
	}
	c.entries[key] = verifiedEntry{claims: claims, until: until}
}
