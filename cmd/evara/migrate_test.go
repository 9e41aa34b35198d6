package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/evaratech/evara/migrations"
)

// TestMigrateConcurrently starts ten `evara migrate up` at once against one
// empty PostgreSQL schema, as ten replicas starting together would: all
// succeed, and every migration is applied by exactly one of them.
func TestMigrateConcurrently(t *testing.T) {
	admin, schema, schemaURL := postgresSchema(t)
	latest := migrations.Latest(migrations.EnginePostgres)
	env := []string{"DATABASE_URL=" + schemaURL, "EVARA_LOG_FORMAT=json"}

	const n = 10
	procs := make([]*exec.Cmd, n)
	outputs := make([]*strings.Builder, n)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range procs {
		cmd := exec.CommandContext(ctx, binary, "migrate", "up")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
		outputs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outputs[i], outputs[i]
		procs[i] = cmd
	}
	for _, cmd := range procs { // start all before waiting for any
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	applied := 0
	for i, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outputs[i])
		}
		applied += strings.Count(outputs[i].String(), `"msg":"migration applied"`)
	}
	if applied != int(latest) {
		t.Errorf("%d migrations applied across the processes, want %d", applied, latest)
	}

	assertAppliedOnce(t, admin, schema, latest)

	out, stderr, code := evara(t, env, "migrate", "status")
	want := fmt.Sprintf("current %d, latest %d, pending none", latest, latest)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "00001_schema.sql") {
		t.Fatalf("status: exit %d, stdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}

// TestMigrateEmbedded: without a database URL, migrate works on the embedded
// store's file in the data directory.
func TestMigrateEmbedded(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := []string{"EVARA_DATA_DIR=" + dataDir}
	latest := migrations.Latest(migrations.EngineSQLite)

	out, _, code := evara(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("current 0, latest %d, pending 1, 2", latest)) {
		t.Fatalf("status of a new store: exit %d:\n%s", code, out)
	}
	out, stderr, code := evara(t, env, "migrate", "up")
	if code != 0 || !strings.Contains(out, "applied 1, 2") || !strings.Contains(stderr, "migration applied") {
		t.Fatalf("up: exit %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "evara.db")); err != nil {
		t.Fatal(err)
	}
	if out, _, code = evara(t, env, "migrate", "up"); code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second up: exit %d: %s", code, out)
	}
	out, _, code = evara(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("current %d, latest %d, pending none", latest, latest)) || !strings.Contains(out, "00002_seed.sql") {
		t.Fatalf("status: exit %d:\n%s", code, out)
	}
}

func TestMigrateUsage(t *testing.T) {
	env := []string{"EVARA_DATA_DIR=" + t.TempDir()}
	for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "up", "now"}} {
		_, stderr, code := evara(t, env, args...)
		if code != 1 || !strings.Contains(stderr, "migrate up") || !strings.Contains(stderr, "migrate status") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// assertAppliedOnce checks goose's version table: its version 0, then every
// migration of ours, each recorded exactly once.
func assertAppliedOnce(t *testing.T, admin *sql.DB, schema string, latest int64) {
	t.Helper()
	rows, err := admin.QueryContext(t.Context(), `SELECT version_id, count(*) FROM `+schema+`.goose_db_version GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int64
	for rows.Next() {
		var v, c int64
		if err := rows.Scan(&v, &c); err != nil {
			t.Fatal(err)
		}
		if c != 1 {
			t.Errorf("version %d recorded %d times", v, c)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(versions) != int(latest)+1 || versions[len(versions)-1] != latest { // goose's version 0, then ours
		t.Fatalf("versions recorded: %v", versions)
	}
}

// postgresSchema creates an empty schema, dropped when the test ends, and
// returns an admin pool, the schema and a DATABASE_URL whose sessions use it.
func postgresSchema(t *testing.T) (admin *sql.DB, schema, schemaURL string) {
	t.Helper()
	base := os.Getenv("EVARA_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("EVARA_TEST_DATABASE_URL is required")
		}
		t.Skip("EVARA_TEST_DATABASE_URL is not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema = "evara_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil { // the test's own schema
			t.Errorf("drop test schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("EVARA_TEST_DATABASE_URL must be a URL here: %v", err)
	}
	q := u.Query()
	q.Set("options", "-csearch_path="+schema) // encoded as -csearch_path%3D<schema>
	u.RawQuery = q.Encode()
	return admin, schema, u.String()
}
