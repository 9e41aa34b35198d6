// Package sqlcore holds what PostgreSQL and SQLite share: every query that
// both dialects accept is written here once, against the small DB
// interface, and the two stores (persistence/pgstore, persistence/sqlitestore)
// only adapt their driver to DB and supply a Dialect for what differs —
// placeholders, case-insensitive matching, time and array encoding — plus
// the engine-specific fast paths (COPY, partitions).
//
// A Store is safe for concurrent use as far as its DB is.
package sqlcore
