// Package migrations owns Evara's database schema: the forward-only SQL
// migrations of both engines (postgres/*.sql and sqlite/*.sql, embedded in
// the binary) and the functions that apply and inspect them (SPEC §5).
//
// Each migration runs in one transaction and is recorded in goose's version
// table (goose_db_version), so the goose CLI can inspect an Evara database
// too. There are no down migrations: a release that must undo something
// ships a new migration.
//
// Up applies what is pending. In PostgreSQL it holds a session advisory lock
// for the whole run, so any number of processes (ten replicas starting at
// once) may call it concurrently: one applies each migration, the others wait
// and then find nothing to do. A binary never applies anything to a schema
// newer than it knows: Up and Check return ErrSchemaTooNew. GetStatus and
// Check only read, and never wait for a running Up.
//
// The embedded store (SQLite) belongs to one process; Up there takes no lock.
//
// The functions take the caller's *sql.DB (pgx's stdlib driver, or
// modernc.org/sqlite) and keep nothing after they return; they are safe for
// concurrent use. Up needs a PostgreSQL pool that allows two connections.
package migrations
