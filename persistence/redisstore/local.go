package redisstore

import (
	"context"
	"sync"
	"time"
)

// Local sweeps expired entries at least this often, and sooner when the
// number of entries has doubled since the last sweep, so memory stays within
// about twice what is live without a goroutine of its own.
const (
	localSweepEvery = 30 * time.Second
	localMinSweepAt = 1024
)

// Local is the in-process implementation: the same calls as Store, with state
// in memory. One replica's Local knows nothing of another's, so a limit
// enforced by Locals is per replica. It is safe for concurrent use (one mutex;
// every call is O(1) apart from an occasional sweep) and needs no Close.
type Local struct {
	now func() time.Time

	mu        sync.Mutex
	revoked   map[jtiHash]time.Time // until
	revision  uint64                // counts revocations, for Degrading's replay
	tats      map[string]time.Time  // GCRA theoretical arrival time per key
	latest    map[string]latestEntry
	nextSweep time.Time
	sweepAt   int // sweep when the entry count reaches this
}

type latestEntry struct {
	payload []byte
	expires time.Time // zero: never
}

// NewLocal returns an empty Local. Of opts only Now is used.
func NewLocal(opts Options) *Local {
	opts = opts.withDefaults()
	return &Local{
		now:     opts.Now,
		revoked: map[jtiHash]time.Time{},
		tats:    map[string]time.Time{},
		latest:  map[string]latestEntry{},
		sweepAt: localMinSweepAt,
	}
}

// Revoke records that jti is refused until until.
func (l *Local) Revoke(_ context.Context, jti string, until time.Time) error {
	if jti == "" {
		return ErrEmptyJTI
	}
	l.revokeHash(hashJTI(jti), until)
	return nil
}

func (l *Local) revokeHash(h jtiHash, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	if !until.After(now) {
		return
	}
	if cur, ok := l.revoked[h]; !ok || until.After(cur) {
		l.revoked[h] = until
	}
	l.revision++
}

// revocations returns the live revocations and the revision they are at.
func (l *Local) revocations() (map[jtiHash]time.Time, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	out := make(map[jtiHash]time.Time, len(l.revoked))
	for h, until := range l.revoked {
		if until.After(now) {
			out[h] = until
		}
	}
	return out, l.revision
}

func (l *Local) revisionNow() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revision
}

// IsRevoked reports whether jti is revoked and the revocation has not expired.
func (l *Local) IsRevoked(_ context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	until, ok := l.revoked[hashJTI(jti)]
	return ok && until.After(now), nil
}

// Allow counts one call against key under limit (GCRA, the same arithmetic
// as the Redis script, on the Options.Now clock).
func (l *Local) Allow(_ context.Context, key string, limit Limit) (Decision, error) {
	limit, err := limit.normalize()
	if err != nil {
		return Decision{}, err
	}
	emission := limit.Period / time.Duration(limit.Rate)
	burstOffset := emission * time.Duration(limit.Burst)

	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	tat := now
	if t, ok := l.tats[key]; ok && t.After(now) {
		tat = t
	}
	newTAT := tat.Add(emission)
	diff := now.Sub(newTAT.Add(-burstOffset)) // how far now is past the earliest allowed moment
	if diff < 0 {
		return Decision{RetryAfter: -diff, ResetAfter: tat.Sub(now)}, nil
	}
	l.tats[key] = newTAT
	return Decision{
		Allowed:    true,
		Remaining:  int(diff / emission),
		ResetAfter: newTAT.Sub(now),
	}, nil
}

// PutLatest stores a copy of payload as node's latest reading for ttl;
// ttl <= 0 keeps it until it is overwritten.
func (l *Local) PutLatest(_ context.Context, node string, payload []byte, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	e := latestEntry{payload: append([]byte(nil), payload...)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	l.latest[node] = e
	return nil
}

// GetLatest returns a copy of node's latest snapshot, and false when there is
// none.
func (l *Local) GetLatest(_ context.Context, node string) ([]byte, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.maintain()
	e, ok := l.latest[node]
	if !ok || e.expired(now) {
		return nil, false, nil
	}
	return append([]byte(nil), e.payload...), true, nil
}

func (e latestEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !e.expires.After(now)
}

// Len reports how many entries (live or not yet swept) the Local holds.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lenLocked()
}

func (l *Local) lenLocked() int { return len(l.revoked) + len(l.tats) + len(l.latest) }

// maintain reads the clock and sweeps when due. l.mu must be held.
func (l *Local) maintain() time.Time {
	now := l.now()
	if now.Before(l.nextSweep) && l.lenLocked() < l.sweepAt {
		return now
	}
	for h, until := range l.revoked {
		if !until.After(now) {
			delete(l.revoked, h)
		}
	}
	for k, tat := range l.tats {
		if !tat.After(now) { // a key whose TAT has passed is back to a full burst
			delete(l.tats, k)
		}
	}
	for k, e := range l.latest {
		if e.expired(now) {
			delete(l.latest, k)
		}
	}
	l.nextSweep = now.Add(localSweepEvery)
	l.sweepAt = max(2*l.lenLocked(), localMinSweepAt)
	return now
}
