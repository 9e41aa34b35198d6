package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrEmptyJTI is returned for a revocation without a token ID.
var ErrEmptyJTI = errors.New("redisstore: empty jti")

// jtiHash is what is stored in place of a token ID.
type jtiHash [sha256.Size]byte

func hashJTI(jti string) jtiHash { return sha256.Sum256([]byte(jti)) }

func (s *Store) revokedKey(h jtiHash) string {
	return s.prefix + "revoked:" + hex.EncodeToString(h[:])
}

// Revoke records that the token jti is refused until until (the token's own
// exp; callers that verify with leeway add it). A revocation whose until has
// passed is a no-op: the token is refused as expired anyway.
func (s *Store) Revoke(ctx context.Context, jti string, until time.Time) error {
	if jti == "" {
		return ErrEmptyJTI
	}
	return s.revokeHashes(ctx, map[jtiHash]time.Time{hashJTI(jti): until})
}

// revokeHashes writes several revocations in one round trip.
func (s *Store) revokeHashes(ctx context.Context, revs map[jtiHash]time.Time) error {
	now := s.now()
	pipe := s.rdb.Pipeline()
	n := 0
	for h, until := range revs {
		ttl := until.Sub(now)
		if ttl <= 0 {
			continue
		}
		// Round up to Redis's millisecond resolution: never expire early.
		ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
		pipe.Set(ctx, s.revokedKey(h), "1", ttl)
		n++
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: revoke: %w", err)
	}
	return nil
}

// IsRevoked reports whether jti has been revoked and the revocation has not
// expired.
func (s *Store) IsRevoked(ctx context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	err := s.rdb.Get(ctx, s.revokedKey(hashJTI(jti))).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	default:
		return false, fmt.Errorf("redis: is revoked: %w", err)
	}
}
