package migrations_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/evaratech/evara/migrations"
)

// TestLockNeverOutlivesItsRun: whether the migration lock is released or its
// session discarded, no session keeps it, also when the *sql.DB is a view of
// a pgxpool (as the PostgreSQL store opens it), whose connections would
// otherwise go back to the pool with their session locks.
func TestLockNeverOutlivesItsRun(t *testing.T) {
	schema := newSchema(t)
	observer := openSchema(t, schema)
	cfg, err := pgxpool.ParseConfig(postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pooled := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { pooled.Close() })

	for _, way := range []string{"release", "discard"} {
		t.Run(way, func(t *testing.T) {
			key, release, drop, err := migrations.LockSchema(t.Context(), pooled)
			if err != nil {
				t.Fatal(err)
			}
			if held(t, observer, key) != 1 {
				t.Fatal("the lock is not held while locked")
			}
			letGo := release
			if way == "discard" {
				letGo = drop
			}
			if err := letGo(); err != nil {
				t.Fatal(err)
			}
			// A discarded session's server process lets the lock go when it
			// notices the closed connection, a moment later: wait for it.
			n := held(t, observer, key)
			for deadline := time.Now().Add(10 * time.Second); n != 0 && time.Now().Before(deadline); n = held(t, observer, key) {
				time.Sleep(20 * time.Millisecond)
			}
			if n != 0 {
				t.Fatalf("the lock is still held by %d session(s)", n)
			}
		})
	}
	// The pool still works, and Up through it applies and lets go.
	if _, err := migrations.Up(t.Context(), migrations.EnginePostgres, pooled, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := migrations.Up(ctx, migrations.EnginePostgres, observer, testLogger(t)); err != nil {
		t.Fatalf("Up from another pool after a pooled Up: %v", err)
	}
}

// held counts the sessions holding advisory lock key.
func held(t *testing.T, db *sql.DB, key int64) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
