package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Limit is a GCRA limit: Rate events per Period on average, with up to
// Burst of them at once. The caller's 100 requests/min per user is
// Limit{Rate: 100, Period: time.Minute, Burst: 100}.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int // <= 0 means Burst = Rate
}

// Decision is the answer to one Allow.
type Decision struct {
	Allowed bool
	// Remaining is how many more calls would be allowed right now.
	Remaining int
	// RetryAfter is how long to wait before the next call can be allowed
	// (the Retry-After of a 429); zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to a full burst.
	ResetAfter time.Duration
}

// ErrInvalidLimit is returned for a Limit without a positive Rate and
// Period, or one whose emission interval (Period/Rate) is under a
// nanosecond, or whose Burst times that interval overflows a Duration.
var ErrInvalidLimit = errors.New("redisstore: invalid rate limit")

func (l Limit) normalize() (Limit, error) {
	if l.Rate <= 0 || l.Period <= 0 {
		return l, ErrInvalidLimit
	}
	if l.Burst <= 0 {
		l.Burst = l.Rate
	}
	emission := l.Period / time.Duration(l.Rate)
	if emission == 0 || time.Duration(l.Burst) > math.MaxInt64/emission {
		return l, ErrInvalidLimit
	}
	return l, nil
}

func (s *Store) rateKey(key string) string { return s.prefix + "rl:" + key }

// Allow counts one call against key under limit, using the Redis server's
// clock so that every replica sharing this Redis enforces one limit.
func (s *Store) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	limit, err := limit.normalize()
	if err != nil {
		return Decision{}, err
	}
	res, err := s.limiter.Allow(ctx, s.rateKey(key), redis_rate.Limit{
		Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period,
	})
	if err != nil {
		return Decision{}, fmt.Errorf("redis: rate limit: %w", err)
	}
	d := Decision{
		Allowed:    res.Allowed > 0,
		Remaining:  res.Remaining,
		RetryAfter: max(res.RetryAfter, 0), // redis_rate says -1 when allowed
		ResetAfter: max(res.ResetAfter, 0),
	}
	return d, nil
}
