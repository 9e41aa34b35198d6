package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// querier reads the version table: the caller's *sql.DB, or the *sql.Conn
// that holds the migration lock.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The version table is read directly rather than through goose's Provider:
// the Provider creates the table when it is missing and waits for the
// migration lock, and status must do neither. The table is looked for where
// goose looks: in PostgreSQL, the first schema of the search_path.
const (
	pgTableExists     = `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = '` + versionTable + `')`
	sqliteTableExists = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '` + versionTable + `')`
	// goose writes tstamp as a timestamp without time zone from now(): the
	// session's wall clock. In SQLite it is datetime('now'), UTC.
	pgApplied = `SELECT version_id, tstamp AT TIME ZONE current_setting('TimeZone') FROM ` + versionTable +
		` WHERE is_applied AND version_id > 0 ORDER BY version_id, id`
	sqliteApplied = `SELECT version_id, strftime('%Y-%m-%dT%H:%M:%SZ', tstamp) FROM ` + versionTable +
		` WHERE is_applied AND version_id > 0 ORDER BY version_id, id`
)

// readStatus compares the version table with the embedded migrations.
func readStatus(ctx context.Context, engine Engine, q querier, known []migration) (Status, error) {
	applied, err := readApplied(ctx, engine, q)
	if err != nil {
		return Status{}, err
	}
	st := Status{Applied: applied}
	files := make(map[int64]string, len(known))
	for _, m := range known {
		files[m.version] = m.file
		st.Latest = max(st.Latest, m.version)
	}
	done := make(map[int64]bool, len(applied))
	for i, a := range applied {
		st.Applied[i].File = files[a.Version]
		st.Current = max(st.Current, a.Version)
		done[a.Version] = true
	}
	for _, m := range known {
		if !done[m.version] {
			st.Pending = append(st.Pending, m.version)
		}
	}
	return st, nil
}

// readApplied lists the applied versions; none when the table is missing.
func readApplied(ctx context.Context, engine Engine, q querier) ([]Applied, error) {
	existsQuery, listQuery := sqliteTableExists, sqliteApplied
	if engine == EnginePostgres {
		existsQuery, listQuery = pgTableExists, pgApplied
	}
	var exists bool
	if err := q.QueryRowContext(ctx, existsQuery).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrations: look for %s: %w", versionTable, err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, listQuery)
	if err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", versionTable, err)
	}
	defer rows.Close()
	var applied []Applied
	for rows.Next() {
		var a Applied
		var at any // time.Time from pgx, RFC 3339 text from SQLite
		if err := rows.Scan(&a.Version, &at); err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", versionTable, err)
		}
		if a.AppliedAt, err = appliedAt(at); err != nil {
			return nil, fmt.Errorf("migrations: version %d: %w", a.Version, err)
		}
		applied = append(applied, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", versionTable, err)
	}
	return applied, nil
}

func appliedAt(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(time.RFC3339, v)
	case []byte:
		return time.Parse(time.RFC3339, string(v))
	case nil:
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("unexpected applied-at value %T", v)
}
