// Package redisstore owns Evara's shared, short-lived state in Redis
// (SPEC §6): revoked token IDs, GCRA rate limits shared by every replica,
// and a snapshot of each device's latest reading for fast warm-up after the
// device moves to another member. Dashboard-stat caches are not here yet.
//
// Three types answer the same calls:
//
//   - Store talks to Redis (go-redis/v9; limits through go-redis/redis_rate).
//   - Local keeps the same state in process memory, for a single replica
//     without REDIS_URL and as the fallback while Redis is down.
//   - Degrading puts a Store in front of a Local: when Redis fails it answers
//     from the Local instead of returning errors ("Redis down ⇒ degrade to
//     local, never to errors"), logs once per transition, and writes the
//     revocations this replica made back to Redis when it recovers (see
//     Degrading for the window in which other replicas do not see them).
//
// Callers declare their own, smaller interfaces; the whole method set that
// all three types share is
//
//	type Shared interface {
//		Revoke(ctx context.Context, jti string, until time.Time) error
//		IsRevoked(ctx context.Context, jti string) (bool, error)
//		Allow(ctx context.Context, key string, limit Limit) (Decision, error)
//		PutLatest(ctx context.Context, node string, payload []byte, ttl time.Duration) error
//		GetLatest(ctx context.Context, node string) ([]byte, bool, error)
//	}
//
// Keys live under Options.Prefix ("evara:" by default): <prefix>revoked:<sha256
// of the jti> and <prefix>latest:<node>; rate-limit state is at
// rate:<prefix>rl:<key>, because redis_rate puts its own "rate:" in front.
// The jti itself is never stored, only its SHA-256.
//
// Store, Local and Degrading are safe for concurrent use. None of them starts
// a goroutine. Whoever opens a Store must Close it (after the Degrading that
// wraps it is no longer used); Local and Degrading hold no resources.
package redisstore
