// Package api owns Evara's HTTP surface: the fiber application, its routes
// and middleware, and the one error handler that turns errors into
// `{"detail","code","correlation_id"}` responses (SPEC §7).
//
// It does not import actors or persistence: what it needs from them it
// declares as small interfaces (HealthReporter, …), implemented and wired
// by internal/app. A Server is safe for concurrent use; whoever calls Serve
// must call Shutdown.
package api
