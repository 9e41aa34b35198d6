// Package persistence is the home of Evara's stores (SPEC §5): pgstore
// (PostgreSQL through pgx), sqlitestore (the embedded default) and
// redisstore (cache, revocations, shared rate limits), with one contract
// test suite that both relational stores pass.
//
// The stores arrive with the persistence issue; this package itself holds
// no code. Stores never import api or actors: those declare the interfaces
// that the stores implement.
package persistence
