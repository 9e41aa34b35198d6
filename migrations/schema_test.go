package migrations_test

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/migrations"
)

// The schema must enforce what it claims, identically in both engines. The
// statements below are written once and run on both: the column names and
// the literal formats (UUID text, RFC 3339 UTC with milliseconds) are shared.

const (
	distributorA = "11111111-1111-4111-8111-111111111111"
	distributorB = "22222222-2222-4222-8222-222222222222"
	communityA   = "33333333-3333-4333-8333-333333333333" // of distributorA
)

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// migrated applies every migration and the tenancy fixtures.
func migrated(t *testing.T, e migrations.Engine, db *sql.DB) {
	t.Helper()
	if _, err := migrations.Up(t.Context(), e, db, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	exec(t, db,
		"INSERT INTO distributors (id, name) VALUES ('"+distributorA+"', 'A'), ('"+distributorB+"', 'B')",
		"INSERT INTO communities (id, name, region_id, distributor_id, slug) VALUES ('"+communityA+"', 'Lake View', 1, '"+distributorA+"', 'lake-view')",
		"INSERT INTO users_profiles (id, email, role) VALUES ('user-1', 'Asha@example.com', 'superadmin')",
	)
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// insertNode adds a node of communityA and an alert rule on it.
func insertNode(t *testing.T, db *sql.DB) (node, rule string) {
	t.Helper()
	node, rule = newUUID(), newUUID()
	exec(t, db,
		fmt.Sprintf(`INSERT INTO nodes (id, node_key, label, category, analytics_type, community_id, distributor_id)
			VALUES ('%s', 'key-%s', 'Tank', 'OHT', 'EvaraTank', '%s', '%s')`, node, node, communityA, distributorA),
		fmt.Sprintf(`INSERT INTO alert_rules (id, node_id, name, metric, condition, threshold, severity)
			VALUES ('%s', '%s', 'low level', 'water_level', '<', 10, 'critical')`, rule, node),
	)
	return node, rule
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// enforcementCase is a few statements: all succeed but the last, which
// fails with an error containing one of wantErr (or succeeds when there is
// none). {node}, {rule}, {node2} and {rule2} are two fresh nodes of
// communityA with a rule each, {now} the current time, {new} a fresh UUID.
type enforcementCase struct {
	name    string
	steps   []string
	wantErr []string
	only    migrations.Engine // run on this engine only
}

func enforcementCases() []enforcementCase {
	const (
		alert   = `INSERT INTO alerts (id, rule_id, node_id, kind, metric, severity, value, threshold) VALUES ('{new}', '{rule}', '{node}', 'rule', 'water_level', 'critical', 5, 10)`
		offline = `INSERT INTO alerts (id, node_id, kind, severity) VALUES ('{new}', '{node}', 'device_offline', 'warning')`
		reading = `INSERT INTO readings (node_id, entry_id, created_at, field1, retention_days) VALUES ('{node}', 7, '{now}', 1.5, 30)`
		node    = `INSERT INTO nodes (id, node_key, label, category, analytics_type, status, lat, lng) VALUES ('{new}', 'k-{new}', 'x', '%s', 'EvaraTank', '%s', %s, 78.4)`
	)
	var (
		unique = []string{"unique constraint"}
		check  = []string{"check constraint"}
		fk     = []string{"foreign key constraint"}
	)
	return []enforcementCase{
		{"a reading is stored once", []string{reading, reading}, unique, ""},
		{"the same entry at another node is another reading", []string{reading, strings.Replace(reading, "'{node}'", "'{node2}'", 1)}, nil, ""},
		{"one unresolved alert per node and rule", []string{alert, alert}, unique, ""},
		{"an acknowledged alert is still unresolved", []string{alert, "UPDATE alerts SET status = 'acknowledged', acknowledged_at = '{now}' WHERE node_id = '{node}'", alert}, unique, ""},
		{"a resolved alert and a new open one", []string{alert, "UPDATE alerts SET status = 'resolved', resolved_at = '{now}' WHERE node_id = '{node}'", alert}, nil, ""},
		{"another rule on the same metric is another cause", []string{alert, strings.Replace(alert, "'{rule}'", "'{rule2}'", 1)}, nil, ""},
		{"one unresolved offline alert per node", []string{offline, offline}, unique, ""},
		{"a resolved alert needs resolved_at", []string{alert, "UPDATE alerts SET status = 'resolved' WHERE node_id = '{node}'"}, check, ""},
		{"audit logs refuse UPDATE", []string{"INSERT INTO audit_logs (user_id, action_type) VALUES ('user-1', 'login')", "UPDATE audit_logs SET action_type = 'nothing'"}, []string{"append-only"}, ""},
		{"audit logs refuse DELETE", []string{"INSERT INTO audit_logs (user_id, action_type) VALUES ('user-1', 'login')", "DELETE FROM audit_logs"}, []string{"append-only"}, ""},
		{"node category", []string{fmt.Sprintf(node, "Tank", "Online", "17.4")}, check, ""},
		{"node status", []string{fmt.Sprintf(node, "OHT", "online", "17.4")}, check, ""},
		{"node latitude", []string{fmt.Sprintf(node, "OHT", "Online", "91")}, check, ""},
		{"a valid node", []string{fmt.Sprintf(node, "Sump", "Maintenance", "17.4")}, nil, ""},
		{"field mapping is an object", []string{"UPDATE nodes SET field_mapping = '[1]' WHERE id = '{node}'"}, check, ""},
		{"poll interval at least 1 s", []string{"UPDATE nodes SET poll_interval_seconds = 0 WHERE id = '{node}'"}, check, ""},
		{"a node's distributor is its community's", []string{"UPDATE nodes SET distributor_id = '" + distributorB + "' WHERE id = '{node}'"}, fk, ""},
		{"rule condition", []string{"UPDATE alert_rules SET condition = '=>' WHERE id = '{rule}'"}, check, ""},
		{"plan retention is a partition class", []string{"INSERT INTO plans (id, name, retention_days) VALUES ('gold', 'Gold', 60)"}, check, ""},
		{"reading retention is a partition class", []string{strings.Replace(reading, "30)", "60)", 1)}, []string{"check constraint", "no partition"}, ""},
		{"maintenance window ends after it starts", []string{"INSERT INTO maintenance_windows (id, node_id, starts_at, ends_at) VALUES ('{new}', '{node}', '2026-05-02T00:00:00.000Z', '2026-05-01T00:00:00.000Z')"}, check, ""},
		{"maintenance window has one target", []string{"INSERT INTO maintenance_windows (id, starts_at, ends_at) VALUES ('{new}', '2026-05-01T00:00:00.000Z', '2026-05-02T00:00:00.000Z')"}, check, ""},
		{"a distributor has a distributor", []string{"INSERT INTO users_profiles (id, role) VALUES ('{new}', 'distributor')"}, check, ""},
		{"emails are unique regardless of case", []string{"INSERT INTO users_profiles (id, email) VALUES ('{new}', 'asha@EXAMPLE.com')"}, unique, ""},
		{"slugs are lower-case words", []string{"INSERT INTO communities (id, name, slug) VALUES ('{new}', 'X', 'Lake View')"}, check, ""},
		{"timestamps have one text format", []string{strings.Replace(reading, "'{now}'", "'2026-11-25 10:00:00'", 1)}, check, migrations.EngineSQLite},
	}
}

func TestSchemaEnforces(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		migrated(t, e, db)
		for _, tc := range enforcementCases() {
			if tc.only != "" && tc.only != e {
				continue
			}
			t.Run(tc.name, func(t *testing.T) { runSteps(t, db, tc) })
		}
	})
}

func runSteps(t *testing.T, db *sql.DB, tc enforcementCase) {
	n1, r1 := insertNode(t, db)
	n2, r2 := insertNode(t, db)
	vars := strings.NewReplacer("{node}", n1, "{rule}", r1, "{node2}", n2, "{rule2}", r2, "{now}", stamp(time.Now()))
	for i, step := range tc.steps {
		step = vars.Replace(strings.ReplaceAll(step, "{new}", newUUID()))
		_, err := db.ExecContext(t.Context(), step)
		last := i == len(tc.steps)-1
		switch {
		case err != nil && (!last || len(tc.wantErr) == 0):
			t.Fatalf("step %d: %v", i+1, err)
		case last && len(tc.wantErr) > 0 && err == nil:
			t.Fatalf("accepted, want an error with %q", tc.wantErr)
		case last && len(tc.wantErr) > 0 && !slices.ContainsFunc(tc.wantErr, func(w string) bool { return strings.Contains(strings.ToLower(err.Error()), w) }):
			t.Fatalf("error %v, want one with %q", err, tc.wantErr)
		}
	}
}

// TestDuplicatesAreSkipped: writers insert re-fetched readings and repeated
// alerts with ON CONFLICT DO NOTHING (no conflict target, same text in both
// engines), and nothing is stored twice.
func TestDuplicatesAreSkipped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		migrated(t, e, db)
		node, rule := insertNode(t, db)
		now := stamp(time.Now())
		for range 2 {
			exec(t, db,
				fmt.Sprintf(`INSERT INTO readings (node_id, entry_id, created_at, field1, retention_days) VALUES ('%s', 1, '%s', 2.5, 30) ON CONFLICT DO NOTHING`, node, now),
				fmt.Sprintf(`INSERT INTO alerts (id, rule_id, node_id, kind, metric, severity) VALUES ('%s', '%s', '%s', 'rule', 'water_level', 'critical') ON CONFLICT DO NOTHING`, newUUID(), rule, node),
			)
		}
		if r, a := count(t, db, "SELECT count(*) FROM readings"), count(t, db, "SELECT count(*) FROM alerts"); r != 1 || a != 1 {
			t.Fatalf("%d readings and %d alerts stored, want one each", r, a)
		}
	})
}

func TestDeletingARuleResolvesItsAlerts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		migrated(t, e, db)
		node, rule := insertNode(t, db)
		_, rule2 := insertNode(t, db)
		exec(t, db,
			// A rule-less alert on the same node and metric: the deleted
			// rule's alert must not collide with it.
			fmt.Sprintf(`INSERT INTO alerts (id, node_id, kind, metric, severity) VALUES ('%s', '%s', 'anomaly', 'water_level', 'info')`, newUUID(), node),
			fmt.Sprintf(`INSERT INTO alerts (id, rule_id, node_id, kind, metric, severity) VALUES ('%s', '%s', '%s', 'rule', 'water_level', 'critical')`, newUUID(), rule, node),
			"DELETE FROM alert_rules WHERE id = '"+rule+"'",
		)
		var status, comment string
		var ruleID sql.NullString
		err := db.QueryRowContext(t.Context(), "SELECT status, rule_id, resolution_comment FROM alerts WHERE kind = 'rule' AND node_id = '"+node+"'").Scan(&status, &ruleID, &comment)
		if err != nil {
			t.Fatal(err)
		}
		if status != "resolved" || ruleID.Valid || comment != "alert rule deleted" {
			t.Fatalf("after deleting its rule the alert is %s, rule %v, comment %q", status, ruleID, comment)
		}
		if n := count(t, db, "SELECT count(*) FROM alert_rules WHERE id = '"+rule2+"'"); n != 1 {
			t.Fatal("another rule was deleted")
		}
	})
}

func TestSeed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e migrations.Engine, db *sql.DB) {
		migrated(t, e, db)
		rows, err := db.QueryContext(t.Context(), "SELECT id, coalesce(max_devices, 0), retention_days FROM plans ORDER BY retention_days")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plans []string
		for rows.Next() {
			var id string
			var devices, days int
			if err := rows.Scan(&id, &devices, &days); err != nil {
				t.Fatal(err)
			}
			plans = append(plans, fmt.Sprintf("%s %d %d", id, devices, days))
		}
		if diff := cmp.Diff([]string{"base 5 30", "plus 20 90", "pro 0 365"}, plans); diff != "" {
			t.Errorf("plans (-want +got):\n%s", diff)
		}
		if n := count(t, db, "SELECT count(*) FROM regions WHERE city = 'Hyderabad' AND state = 'Telangana'"); n != 20 {
			t.Errorf("%d regions, want 20", n)
		}
		exec(t, db, "INSERT INTO regions (name, city, state) VALUES ('Kokapet', 'Hyderabad', 'Telangana')")
		if id := count(t, db, "SELECT id FROM regions WHERE name = 'Kokapet'"); id != 21 {
			t.Errorf("a new region got id %d, want 21", id)
		}
	})
}

// TestColumnsMatchAcrossEngines: the stores share query text, so every
// table has the same columns in both engines.
func TestColumnsMatchAcrossEngines(t *testing.T) {
	pg, lite := openPostgres(t), openSQLite(t)
	for e, db := range map[migrations.Engine]*sql.DB{migrations.EnginePostgres: pg, migrations.EngineSQLite: lite} {
		if _, err := migrations.Up(t.Context(), e, db, testLogger(t)); err != nil {
			t.Fatal(err)
		}
	}
	pgCols := columns(t, pg, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		JOIN pg_class r ON r.relname = c.table_name AND r.relnamespace = current_schema()::regnamespace
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND NOT r.relispartition`)
	liteCols := columns(t, lite, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	if len(pgCols) < 100 {
		t.Fatalf("only %d PostgreSQL columns found", len(pgCols))
	}
	if diff := cmp.Diff(pgCols, liteCols); diff != "" {
		t.Fatalf("columns differ (-postgres +sqlite):\n%s", diff)
	}
}

func columns(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, table+"."+column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(cols)
	return cols
}
