// Package migrations will embed the forward-only SQL migrations of both
// engines (postgres/*.sql, sqlite/*.sql), applied under a PostgreSQL
// advisory lock by `evara migrate up` and at start (SPEC §5). It arrives
// with the persistence issue.
package migrations
