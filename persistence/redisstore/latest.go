package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func (s *Store) latestKey(node string) string { return s.prefix + "latest:" + node }

// PutLatest stores payload (opaque; the caller encodes it) as node's latest
// reading for ttl; ttl <= 0 keeps it until it is overwritten.
func (s *Store) PutLatest(ctx context.Context, node string, payload []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	if err := s.rdb.Set(ctx, s.latestKey(node), payload, ttl).Err(); err != nil {
		return fmt.Errorf("redis: put latest: %w", err)
	}
	return nil
}

// GetLatest returns node's latest snapshot, and false when there is none.
func (s *Store) GetLatest(ctx context.Context, node string) ([]byte, bool, error) {
	b, err := s.rdb.Get(ctx, s.latestKey(node)).Bytes()
	switch {
	case err == nil:
		return b, true, nil
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("redis: get latest: %w", err)
	}
}
