package device

import "time"

// breaker is a device's circuit breaker (SPEC §4): BreakerThreshold
// consecutive failures open it; while open no upstream call is made; after
// BreakerCooldown one half-open probe is allowed, whose success closes it
// and whose failure opens it again for another cooldown.
type breaker struct {
	state    BreakerState
	failures int // consecutive
	openedAt time.Time
	opened   int64 // times it opened
}

// allow reports whether a fetch may be made at now, moving an open
// breaker whose cooldown has passed to half-open.
func (b *breaker) allow(now time.Time) bool {
	switch b.state {
	case BreakerOpen:
		if now.Sub(b.openedAt) < BreakerCooldown {
			return false
		}
		b.state = BreakerHalfOpen
	}
	return true
}

// success records a successful fetch; it reports whether that closed an
// open or half-open breaker.
func (b *breaker) success() (closed bool) {
	closed = b.state != BreakerClosed
	b.state, b.failures = BreakerClosed, 0
	return closed
}

// failure records a failed fetch at now; it reports whether that opened
// the breaker.
func (b *breaker) failure(now time.Time) (opened bool) {
	b.failures++
	if b.state == BreakerHalfOpen || (b.state == BreakerClosed && b.failures >= BreakerThreshold) {
		b.state, b.openedAt = BreakerOpen, now
		b.opened++
		return true
	}
	return false
}
