// Package storetest is the contract test suite that both relational stores
// pass: one set of tests, run against PostgreSQL (a schema per test) and
// SQLite (a file per test), so that the two engines cannot drift apart.
//
// A store's test calls Run with a function that opens a fresh, migrated,
// empty store. The suite also provides helpers for the services the tests
// need (PostgreSQL through EVARA_TEST_DATABASE_URL).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// Store is everything the contract covers, one interface per group of
// tables (each declared beside its tests).
type Store interface {
	NodeStore
	ReadingStore
	TenancyStore
	OpsStore
	AnalyticsStore

	// DB and Dialect let the tests arrange rows the contract has no call for.
	DB() sqlcore.DB
	Dialect() sqlcore.Dialect
}

// NodeStore covers nodes and their configs.
type NodeStore interface {
	CreateNode(ctx context.Context, n *telemetry.Node) error
	GetNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error)
	ListNodes(ctx context.Context, scope telemetry.Scope, f telemetry.NodeFilter) ([]telemetry.Node, int, error)
	UpdateNode(ctx context.Context, scope telemetry.Scope, n telemetry.Node) (telemetry.Node, error)
	DeleteNode(ctx context.Context, scope telemetry.Scope, id telemetry.NodeID) error
	SetNodeStatus(ctx context.Context, id telemetry.NodeID, status telemetry.Status, lastSeen *time.Time) error
	RuntimeNodes(ctx context.Context) ([]telemetry.Node, error)
	CountNodesByStatus(ctx context.Context, scope telemetry.Scope) (telemetry.StatusCounts, error)
}

// ReadingStore covers readings.
type ReadingStore interface {
	WriteReadings(ctx context.Context, rows []telemetry.Reading) error
	LatestReading(ctx context.Context, node telemetry.NodeID) (telemetry.Reading, error)
	Readings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery) ([]telemetry.Reading, error)
}

func newUUID() string { return sqlcore.NewID() }

// rebind adapts a test's own SQL ($N placeholders) to the store's engine.
func rebind(s Store, query string) string {
	if r := s.Dialect().Rebind; r != nil {
		return r(query)
	}
	return query
}

// Opener opens a fresh, migrated, empty store that lives until the test ends.
type Opener func(t *testing.T) Store

// Run runs the whole contract against stores from open.
func Run(t *testing.T, open Opener) {
	t.Run("Nodes", func(t *testing.T) { testNodes(t, open) })
	t.Run("Readings", func(t *testing.T) { testReadings(t, open) })
	t.Run("Tenancy", func(t *testing.T) { testTenancy(t, open) })
	t.Run("Ops", func(t *testing.T) { testOps(t, open) })
	t.Run("Analytics", func(t *testing.T) { testAnalytics(t, open) })
	t.Run("CustomerLinks", func(t *testing.T) { testCustomerLinks(t, open) })
}

// PostgresURL returns the test database URL, skipping the test when none is
// configured — or failing it when EVARA_TEST_REQUIRE_SERVICES=1 (CI).
func PostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("EVARA_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("EVARA_TEST_DATABASE_URL is not set but EVARA_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("EVARA_TEST_DATABASE_URL is not set: skipping PostgreSQL tests")
	}
	return url
}

// FreshSchema creates an empty schema for one test, drops it when the test
// ends, and returns a URL whose connections use it.
func FreshSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "evara_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop test schema: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil { // a throwaway test schema
			t.Errorf("drop test schema: %v", err)
		}
	})
	sep := "?"
	for _, r := range base {
		if r == '?' {
			sep = "&"
		}
	}
	return base + sep + "search_path=" + schema
}
