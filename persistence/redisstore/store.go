package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Options configures a Store or a Local; the zero value works.
type Options struct {
	// Prefix goes in front of every key, so that several deployments (or
	// tests) can share one Redis. Default "evara:".
	Prefix string
	// Logger receives the few events worth logging. Default: discard.
	Logger *slog.Logger
	// Now is the clock for expiries computed in the process (revocation
	// TTLs; everything in a Local). Rate limits in Redis use the Redis
	// server's clock so that all replicas agree. Default time.Now.
	Now func() time.Time
}

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "evara:"

// openTimeout bounds the connectivity check in Open.
const openTimeout = 5 * time.Second

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is the Redis-backed implementation. It is safe for concurrent use;
// whoever opens it must Close it.
type Store struct {
	rdb     *redis.Client
	limiter *redis_rate.Limiter
	prefix  string
	now     func() time.Time
	log     *slog.Logger
}

// Open parses url (redis://[user:password@]host:port/db or rediss://…),
// connects and pings within a timeout. The URL carries credentials, so
// neither errors nor logs ever contain it: they name the address and the
// database only.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("redis: the URL cannot be parsed") // the URL holds credentials: never echo it
	}
	// Honour callers' deadlines on every command (Degrading relies on it to
	// bound a call to a Redis that has stopped answering).
	ro.ContextTimeoutEnabled = true
	rdb := redis.NewClient(ro)

	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis: ping %s db %d: %w", ro.Addr, ro.DB, err)
	}
	opts.Logger.Info("redis connected", "addr", ro.Addr, "db", ro.DB, "prefix", opts.Prefix)
	return &Store{
		rdb:     rdb,
		limiter: redis_rate.NewLimiter(rdb),
		prefix:  opts.Prefix,
		now:     opts.Now,
		log:     opts.Logger,
	}, nil
}

// Close closes the connection pool. Calls after Close fail.
func (s *Store) Close() error {
	return s.rdb.Close()
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}
