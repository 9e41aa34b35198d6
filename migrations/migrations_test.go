package migrations_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/evaratech/evara/migrations"
)

// TestMain checks that nothing here leaves a goroutine behind (every pool a
// test opens is closed by its cleanup).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every test runs against both engines: SQLite in a temporary file, and
// PostgreSQL (EVARA_TEST_DATABASE_URL) in a schema of its own.

type engine struct {
	name   migrations.Engine
	open   func(t *testing.T) *sql.DB
	always bool // runs without any service
}

func engines() []engine {
	return []engine{
		{name: migrations.EngineSQLite, open: openSQLite, always: true},
		{name: migrations.EnginePostgres, open: openPostgres},
	}
}

func forEachEngine(t *testing.T, fn func(t *testing.T, e migrations.Engine, db *sql.DB)) {
	for _, e := range engines() {
		t.Run(string(e.name), func(t *testing.T) { fn(t, e.name, e.open(t)) })
	}
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "evara.db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresURL returns EVARA_TEST_DATABASE_URL, skipping the test without
// it (failing it when EVARA_TEST_REQUIRE_SERVICES=1).
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("EVARA_TEST_DATABASE_URL")
	if url == "" {
		unavailable(t, "EVARA_TEST_DATABASE_URL is not set")
	}
	return url
}

func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("PostgreSQL required: %s", why)
	}
	t.Skipf("PostgreSQL unavailable: %s", why)
}

// openPostgres creates a fresh schema, dropped when the test ends, and
// returns a pool whose sessions use it.
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	schema := newSchema(t)
	return openSchema(t, schema)
}

func newSchema(t *testing.T) string {
	t.Helper()
	url := postgresURL(t)
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		unavailable(t, err.Error())
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "evara_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Dropping the test's own schema; CASCADE takes its tables with it.
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		admin.Close()
	})
	return schema
}

func openSchema(t *testing.T, schema string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() }) // before the schema is dropped (cleanups run last-in first-out)
	return db
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func allVersions(t *testing.T, e migrations.Engine) []int64 {
	t.Helper()
	var v []int64
	for i := int64(1); i <= migrations.Latest(e); i++ {
		v = append(v, i)
	}
	if len(v) == 0 {
		t.Fatalf("no migrations embedded for %s", e)
	}
	return v
}

func TestBothEnginesHaveTheSameMigrations(t *testing.T) {
	pg, lite := migrations.Latest(migrations.EnginePostgres), migrations.Latest(migrations.EngineSQLite)
	if pg < 2 || pg != lite {
		t.Fatalf("latest: postgres %d, sqlite %d", pg, lite)
	}
	if migrations.Latest("oracle") != 0 {
		t.Error("an unknown engine has migrations")
	}
}

func TestUp(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		ctx := t.Context()
		all := allVersions(t, e)

		st, err := migrations.GetStatus(ctx, e, db)
		if err != nil {
			t.Fatal(err)
		}
		if st.Current != 0 || st.Latest != migrations.Latest(e) || !slices.Equal(st.Pending, all) || len(st.Applied) != 0 {
			t.Fatalf("empty database: %+v", st)
		}
		if tables(t, db) != 0 {
			t.Fatal("GetStatus created tables")
		}
		if err := migrations.Check(ctx, e, db); !errors.Is(err, migrations.ErrSchemaPending) || !strings.Contains(err.Error(), "pending migrations 1, 2") {
			t.Fatalf("Check on an empty database: %v", err)
		}

		applied, err := migrations.Up(ctx, e, db, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(all, applied); diff != "" {
			t.Fatalf("first Up applied (-want +got):\n%s", diff)
		}
		again, err := migrations.Up(ctx, e, db, testLogger(t))
		if err != nil || len(again) != 0 {
			t.Fatalf("second Up applied %v, err %v", again, err)
		}

		st, err = migrations.GetStatus(ctx, e, db)
		if err != nil {
			t.Fatal(err)
		}
		if st.Current != st.Latest || len(st.Pending) != 0 || len(st.Applied) != len(all) {
			t.Fatalf("after Up: %+v", st)
		}
		for _, a := range st.Applied {
			if !strings.HasSuffix(a.File, ".sql") || time.Since(a.AppliedAt).Abs() > time.Hour {
				t.Errorf("applied migration %+v", a)
			}
		}
		if err := migrations.Check(ctx, e, db); err != nil {
			t.Fatalf("Check after Up: %v", err)
		}
	})
}

func TestSchemaTooNew(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		ctx := t.Context()
		if _, err := migrations.Up(ctx, e, db, testLogger(t)); err != nil {
			t.Fatal(err)
		}
		// A newer evara has been here.
		newer := migrations.Latest(e) + 1
		if _, err := db.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, TRUE)", newer); err != nil {
			t.Fatal(err)
		}
		before, nTables := versionRows(t, db), tables(t, db)

		applied, err := migrations.Up(ctx, e, db, testLogger(t))
		if !errors.Is(err, migrations.ErrSchemaTooNew) || len(applied) != 0 {
			t.Fatalf("Up on a newer schema: applied %v, err %v", applied, err)
		}
		if !strings.Contains(err.Error(), "upgrade evara") {
			t.Errorf("message does not say what to do: %v", err)
		}
		if err := migrations.Check(ctx, e, db); !errors.Is(err, migrations.ErrSchemaTooNew) {
			t.Fatalf("Check on a newer schema: %v", err)
		}
		st, err := migrations.GetStatus(ctx, e, db)
		if err != nil || st.Current != newer || st.Applied[len(st.Applied)-1].File != "" {
			t.Fatalf("status of a newer schema: %+v, %v", st, err)
		}
		if diff := cmp.Diff(before, versionRows(t, db)); diff != "" || tables(t, db) != nTables {
			t.Fatalf("Up changed a newer schema (-before +after):\n%s", diff)
		}
	})
}

// TestConcurrentUp runs Up from ten pools at once, each its own set of
// sessions as separate processes would have: every call succeeds and each
// migration is applied by exactly one of them. (cmd/evara runs the same with
// ten real processes.)
func TestConcurrentUp(t *testing.T) {
	schema := newSchema(t)
	const n = 10
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		dbs[i] = openSchema(t, schema)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []int64
		errs    []error
	)
	start := make(chan struct{})
	for _, db := range dbs {
		wg.Go(func() {
			<-start
			got, err := migrations.Up(t.Context(), migrations.EnginePostgres, db, testLogger(t))
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, got...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(applied)
	if diff := cmp.Diff(allVersions(t, migrations.EnginePostgres), applied); diff != "" {
		t.Fatalf("versions applied across all calls (-want +got):\n%s", diff)
	}
	counts := map[int64]int{}
	for _, v := range versionRows(t, dbs[0]) {
		counts[v]++
	}
	for v, c := range counts {
		if c != 1 {
			t.Errorf("version %d recorded %d times", v, c)
		}
	}
}

// versionRows returns goose's version table, row by row.
func versionRows(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT version_id FROM goose_db_version ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var v []int64
	for rows.Next() {
		var x int64
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		v = append(v, x)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// tables counts the tables of the database (SQLite) or of the test's schema.
func tables(t *testing.T, db *sql.DB) int {
	t.Helper()
	q := "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
	if isSQLite(db) {
		q = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	}
	var n int
	if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func isSQLite(db *sql.DB) bool {
	_, ok := db.Driver().(*stdlib.Driver)
	return !ok
}
