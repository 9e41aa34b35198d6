package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/lock"
)

// schemaLock is the migration lock of one PostgreSQL schema: a session-level
// advisory lock held by a dedicated connection for a whole Up.
//
// Why not only goose's session locker: goose takes its lock inside
// Provider.Up, after we must already have decided that the schema is not too
// new, so the check and the apply would not be atomic (a newer binary could
// migrate in between); and goose polls with pg_try_advisory_lock at a fixed
// period (one second at best), so ten replicas would take ten seconds to
// pass one by one. pg_advisory_lock waits inside the server and wakes the
// next waiter as soon as the holder is done. goose's own locker still runs
// inside (uncontended, under its own key), guarding any future caller that
// reaches goose without this lock.
//
// Both keys are derived from the schema the migrations apply to (the first
// schema of the search_path), not fixed per database: Evara installations,
// or tests, in different schemas of one database do not wait for each other.
// Session locks need a real session: a transaction-pooling proxy
// (PgBouncer in transaction mode) in front of PostgreSQL breaks them, so
// migrations must connect directly or through session pooling.
type schemaLock struct {
	conn        *sql.Conn
	key         int64
	gooseLocker lock.SessionLocker
}

// lockSchema blocks until it holds the migration lock of db's schema, or
// ctx ends.
func lockSchema(ctx context.Context, db *sql.DB) (*schemaLock, error) {
	// One connection holds the lock while goose works on another.
	if db.Stats().MaxOpenConnections == 1 {
		return nil, errors.New("migrations: the PostgreSQL pool must allow at least two connections")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: connect: %w", err)
	}
	var schema sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, errors.Join(fmt.Errorf("migrations: read current schema: %w", err), discard(conn))
	}
	if !schema.Valid {
		return nil, errors.Join(errors.New("migrations: no schema of the search_path exists"), conn.Close())
	}
	key := lockKey("evara/migrations", schema.String)
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		// A cancelled wait leaves the session in an unknown state.
		return nil, errors.Join(fmt.Errorf("migrations: wait for the migration lock of schema %q: %w", schema.String, err), discard(conn))
	}
	gl, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockKey("evara/goose", schema.String)),
		lock.WithLockTimeout(1, 60), // seconds between tries, tries
	)
	if err != nil {
		l := &schemaLock{conn: conn, key: key}
		return nil, errors.Join(err, l.release())
	}
	return &schemaLock{conn: conn, key: key, gooseLocker: gl}, nil
}

// release unlocks and returns the connection. If the unlock cannot be
// confirmed, the connection is closed instead of going back to the pool:
// ending the session releases its locks, while a pooled session that still
// held the lock would block every later migration.
func (l *schemaLock) release() error {
	// The caller's context may be over; the unlock must still happen.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var unlocked bool
	err := l.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, l.key).Scan(&unlocked)
	if err == nil && unlocked {
		return l.conn.Close()
	}
	if err == nil {
		err = errors.New("the lock was not held")
	}
	return errors.Join(fmt.Errorf("migrations: release the migration lock (closing its session instead): %w", err), discard(l.conn))
}

// discard ends conn's session instead of returning it to the pool, so that
// any lock it may hold goes with it. A driver.ErrBadConn from Raw makes
// database/sql close the connection, but closing a connection borrowed from
// a pgxpool (stdlib.OpenDBFromPool) only hands it back to that pool, session
// and locks intact: so the pgx connection itself is closed first.
func discard(conn *sql.Conn) error {
	_ = conn.Raw(func(dc any) error {
		if pc, ok := dc.(interface{ Conn() *pgx.Conn }); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = pc.Conn().Close(ctx) // the session ends either way
		}
		return driver.ErrBadConn
	})
	if err := conn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return err
	}
	return nil
}

// lockKey derives a 64-bit advisory lock key from a purpose and a schema.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(schema))
	return int64(h.Sum64())
}
