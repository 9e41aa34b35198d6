// Package pgstore is Evara's PostgreSQL store (pgx/v5 pool). The queries
// both engines share are persistence/internal/sqlcore's; this package adapts
// pgx to sqlcore.DB and adds what only PostgreSQL does: readings written
// with COPY through a staging table, monthly partitions created ahead of
// the data, and retention by dropping whole partitions.
//
// A Store is safe for concurrent use; whoever opens it must Close it.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/evaratech/evara/migrations"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// Store is the PostgreSQL store.
type Store struct {
	*sqlcore.Store
	pool *pgxpool.Pool
	log  *slog.Logger

	monthsMu sync.Mutex
	months   map[time.Time]bool // months whose reading partitions are known to exist
	classes  classCache
}

// Options tunes the pool.
type Options struct {
	MaxConns int32 // default: pgx's (4 or the number of CPUs); at least 2, since migrating holds a lock on one connection while applying on another
	Logger   *slog.Logger
}

// Open connects, applies pending migrations under the advisory lock (so
// replicas starting together migrate once) and refuses a database whose
// schema is newer than this binary.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: the database URL cannot be parsed") // the URL holds credentials: never echo it
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = max(opts.MaxConns, 2)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := Migrate(ctx, pool, opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{
		Store:  sqlcore.New(newPoolAdapter(pool), Dialect()),
		pool:   pool,
		log:    opts.Logger,
		months: map[time.Time]bool{},
	}, nil
}

// Migrate applies pending migrations through a database/sql view of pool.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if _, err := migrations.Up(ctx, migrations.EnginePostgres, db, log); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Dialect is PostgreSQL's side of the shared queries.
func Dialect() sqlcore.Dialect {
	return sqlcore.Dialect{
		Name:                  "postgres",
		ILike:                 "ILIKE",
		Time:                  func(t time.Time) any { return t.UTC() },
		Strings:               func(v []string) any { return v }, // text[]
		IsUniqueViolation:     hasCode("23505"),
		IsForeignKeyViolation: hasCode("23503"),
		IsCheckViolation:      hasCode("23514", "23502", "22P02"),
		IsNoRows:              func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
	}
}

func hasCode(codes ...string) func(error) bool {
	return func(err error) bool {
		for _, c := range codes {
			if isCode(err, c) {
				return true
			}
		}
		return false
	}
}
