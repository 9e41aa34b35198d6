// Package thingspeak is Evara's client for the ThingSpeak read API (SPEC §3):
// a channel's feed (the newest N entries, a time range, or the entries after
// a known entry_id) and its last entry, with field strings parsed to numbers.
//
// Every failure is an *Error that names the channel and matches one of the
// sentinel kinds with errors.Is (ErrUnauthorized, ErrNotFound,
// ErrRateLimited, ErrUpstream, ErrTimeout, ErrMalformed), so callers such as
// the device actor's circuit breaker can branch on it. A cancelled context is
// reported as the context's own error, not as an upstream failure.
//
// The client never logs, and no error it returns contains the read key.
// A Client is safe for concurrent use and holds no goroutines of its own
// beyond its HTTP transport's keep-alive connections, which
// CloseIdleConnections ends.
//
// The sub-package sim is a ThingSpeak-compatible simulator for tests, demos
// and benchmarks.
package thingspeak
