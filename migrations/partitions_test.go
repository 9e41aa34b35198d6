package migrations_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/migrations"
)

// PostgreSQL's readings are partitioned by retention class, then by UTC
// month; retention drops whole partitions.

func migratedPostgres(t *testing.T) (*sql.DB, string) {
	t.Helper()
	db := openPostgres(t)
	migrated(t, migrations.EnginePostgres, db)
	node, _ := insertNode(t, db)
	return db, node
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionNames(month time.Time, classes ...int) []string {
	var names []string
	for _, c := range classes {
		names = append(names, fmt.Sprintf("readings_r%d_%s", c, month.Format("2006_01")))
	}
	return names
}

// queryStrings returns the single-column rows of query, sorted.
func queryStrings(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func existingPartitions(t *testing.T, db *sql.DB) []string {
	return queryStrings(t, db, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent IN ('readings_r30'::regclass, 'readings_r90'::regclass, 'readings_r365'::regclass)`)
}

func insertReading(db *sql.DB, t *testing.T, node string, entry int64, at time.Time, retention int) error {
	_, err := db.ExecContext(t.Context(),
		`INSERT INTO readings (node_id, entry_id, created_at, field1, retention_days) VALUES ($1, $2, $3, 1.0, $4)`,
		node, entry, at, retention)
	return err
}

func TestMigrationCreatesMonthsAround(t *testing.T) {
	db, _ := migratedPostgres(t)
	var want []string
	for m := monthStart(time.Now()).AddDate(0, -1, 0); !m.After(monthStart(time.Now()).AddDate(0, 3, 0)); m = m.AddDate(0, 1, 0) {
		want = append(want, partitionNames(m, 30, 90, 365)...)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, existingPartitions(t, db)); diff != "" {
		t.Fatalf("partitions after the migration (-want +got):\n%s", diff)
	}
}

func TestEnsureReadingPartitions(t *testing.T) {
	db, node := migratedPostgres(t)
	old := monthStart(time.Now()).AddDate(-1, -2, 0) // long before the migration's months
	at := old.Add(10*24*time.Hour + 3*time.Hour)

	if err := insertReading(db, t, node, 1, at, 365); err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Fatalf("a reading without a partition: %v", err)
	}
	ensure := `SELECT * FROM evara_ensure_reading_partitions($1, $2)`
	if diff := cmp.Diff(partitionNames(old, 30, 365, 90), queryStrings(t, db, ensure, at, at)); diff != "" {
		t.Fatalf("created (-want +got):\n%s", diff)
	}
	if err := insertReading(db, t, node, 1, at, 365); err != nil {
		t.Fatalf("a reading of the new month: %v", err)
	}
	if again := queryStrings(t, db, ensure, old, at); len(again) != 0 {
		t.Fatalf("a second call created %v", again)
	}
}

// TestEnsureReadingPartitionsRace: sessions racing to create the same
// months all succeed, and each month is created once.
func TestEnsureReadingPartitionsRace(t *testing.T) {
	db, _ := migratedPostgres(t)
	ensure := `SELECT * FROM evara_ensure_reading_partitions($1, $2)`
	racing := monthStart(time.Now()).AddDate(-2, 0, 0)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			rows, err := db.QueryContext(t.Context(), ensure, racing, racing.AddDate(0, 2, 0))
			if err != nil {
				t.Error(err)
				return
			}
			defer rows.Close()
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					t.Error(err)
				}
				mu.Lock()
				created = append(created, name)
				mu.Unlock()
			}
			if err := rows.Err(); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(created)
	var want []string
	for m := range 3 {
		want = append(want, partitionNames(racing.AddDate(0, m, 0), 30, 90, 365)...)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, created); diff != "" {
		t.Fatalf("racing sessions created (-want +got):\n%s", diff)
	}
}

// TestDropExpiredReadingPartitions: two months after a month ends, the 30-day
// class has expired it, the 90- and 365-day classes have not.
func TestDropExpiredReadingPartitions(t *testing.T) {
	db, node := migratedPostgres(t)
	month := monthStart(time.Now()).AddDate(0, -2, 0)
	at := month.Add(14 * 24 * time.Hour)
	now := month.AddDate(0, 2, 14) // two months later: past 30 days after the month, within 90
	if _, err := db.ExecContext(t.Context(), `SELECT count(*) FROM evara_ensure_reading_partitions($1, $1)`, at); err != nil {
		t.Fatal(err)
	}
	for i, class := range []int{30, 90, 365} {
		if err := insertReading(db, t, node, int64(i+1), at, class); err != nil {
			t.Fatal(err)
		}
	}
	before := existingPartitions(t, db)

	dropped := queryStrings(t, db, `SELECT * FROM evara_drop_expired_reading_partitions($1)`, now)
	if diff := cmp.Diff(partitionNames(month, 30), dropped); diff != "" {
		t.Fatalf("dropped (-want +got):\n%s", diff)
	}
	want := slices.DeleteFunc(before, func(p string) bool { return p == dropped[0] })
	if diff := cmp.Diff(want, existingPartitions(t, db)); diff != "" {
		t.Fatalf("partitions left (-want +got):\n%s", diff)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_class WHERE relname = '`+dropped[0]+`'`); n != 0 {
		t.Fatal("the expired partition was detached but not dropped")
	}
	got := queryStrings(t, db, `SELECT retention_days::text FROM readings`)
	if diff := cmp.Diff([]string{"365", "90"}, got); diff != "" {
		t.Fatalf("readings left by class (-want +got):\n%s", diff)
	}
	if again := queryStrings(t, db, `SELECT * FROM evara_drop_expired_reading_partitions($1)`, now); len(again) != 0 {
		t.Fatalf("a second run dropped %v", again)
	}
}
