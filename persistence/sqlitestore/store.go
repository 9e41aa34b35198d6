// Package sqlitestore is Evara's embedded store: one SQLite file (through
// modernc.org/sqlite, no cgo), the default when no DATABASE_URL is set. The
// queries are persistence/internal/sqlcore's; this package opens the file
// with the right pragmas, migrates it and adapts database/sql to sqlcore.DB.
//
// A Store is safe for concurrent use; whoever opens it must Close it.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/migrations"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// FileName is the store's file inside the data directory.
const FileName = "evara.db"

// Store is the embedded store.
type Store struct {
	*sqlcore.Store
	db *sql.DB
}

// OpenDB opens the SQLite file at path for Evara: WAL (readers never wait
// for the writer), a busy timeout (a second writer waits instead of
// failing), immediate transactions (a writer takes the lock up front, so two
// transactions never deadlock upgrading), and foreign keys enforced.
func OpenDB(path string) (*sql.DB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q: '?' and '#' cannot appear in the file name", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: data directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return db, nil
}

// Open opens (creating if needed) the store in dataDir and applies pending
// migrations; it refuses a file whose schema is newer than this binary.
func Open(ctx context.Context, dataDir string, log *slog.Logger) (*Store, error) {
	db, err := OpenDB(filepath.Join(dataDir, FileName))
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, migrations.EngineSQLite, db, log); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: migrate: %w", err), db.Close())
	}
	return &Store{Store: sqlcore.New(newAdapter(db), Dialect()), db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// WriteReadings stores readings, skipping entries already stored.
func (s *Store) WriteReadings(ctx context.Context, rows []telemetry.Reading) error {
	return s.WriteReadingsBatched(ctx, rows)
}

// Dialect is SQLite's side of the shared queries.
func Dialect() sqlcore.Dialect {
	return sqlcore.Dialect{
		Name:                  "sqlite",
		ILike:                 "LIKE", // case-insensitive for ASCII in SQLite
		Rebind:                sqlcore.RebindQuestion,
		Time:                  func(t time.Time) any { return t.UTC().Format(sqlcore.SQLiteTime) },
		Strings:               func(v []string) any { return sqlcore.JSONArg{V: v} }, // a JSON array in TEXT
		IsUniqueViolation:     hasCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY),
		IsForeignKeyViolation: hasCode(sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_TRIGGER),
		IsCheckViolation:      hasCode(sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL),
		IsNoRows:              func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
	}
}

func hasCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var se *sqlite.Error
		if !errors.As(err, &se) {
			return false
		}
		for _, c := range codes {
			if se.Code() == c {
				return true
			}
		}
		return false
	}
}

// ExpireReadings deletes readings past their plan's retention. SQLite has
// no partitions, so retention here is a DELETE per class on the time index;
// it reports the classes it trimmed and how many rows.
func (s *Store) ExpireReadings(ctx context.Context, now time.Time) ([]string, error) {
	var trimmed []string
	for _, days := range []int{30, 90, 365} {
		cutoff := now.AddDate(0, 0, -days).UTC().Format(sqlcore.SQLiteTime)
		res, err := s.db.ExecContext(ctx, `DELETE FROM readings WHERE retention_days = ? AND created_at < ?`, days, cutoff)
		if err != nil {
			return trimmed, fmt.Errorf("sqlite: retention: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			trimmed = append(trimmed, fmt.Sprintf("r%d: %d rows", days, n))
		}
	}
	return trimmed, nil
}
