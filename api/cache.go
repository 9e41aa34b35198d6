package api

import (
	"context"
	"sync"
	"time"
)

// ttlCache keeps answers of hot read routes for a short time, so that a
// dashboard polling every few seconds from many browsers costs one query
// per key and period instead of one per request. Concurrent misses of one
// key wait for a single load. Entries expire after ttl; the cache holds at
// most limit keys and starts over when full. Safe for concurrent use.
type ttlCache[V any] struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]*ttlEntry[V]
}

type ttlEntry[V any] struct {
	ready chan struct{} // closed once value and err are set
	value V
	err   error
	until time.Time
}

func newTTLCache[V any](ttl time.Duration, limit int, now func() time.Time) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, limit: limit, now: now, entries: map[string]*ttlEntry[V]{}}
}

// get returns the cached value of key, or loads it once for all callers
// waiting on key. Errors are not cached.
func (c *ttlCache[V]) get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && (e.until.IsZero() || now.Before(e.until)) {
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.value, e.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	if len(c.entries) >= c.limit {
		c.entries = map[string]*ttlEntry[V]{}
	}
	e = &ttlEntry[V]{ready: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	e.value, e.err = load(ctx)
	c.mu.Lock()
	if e.err != nil {
		if c.entries[key] == e {
			delete(c.entries, key)
		}
	} else {
		e.until = c.now().Add(c.ttl)
	}
	c.mu.Unlock()
	close(e.ready)
	return e.value, e.err
}

// forget drops every entry: after a change this replica made, its next
// answers are fresh.
func (c *ttlCache[V]) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*ttlEntry[V]{}
}
