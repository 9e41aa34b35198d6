package telemetry

import "errors"

// Domain sentinels. Packages wrap them with %w so that callers, and the one
// HTTP error handler, can branch with errors.Is regardless of which component
// produced the error.
var (
	// ErrNotFound: the thing asked for does not exist (or is outside the caller's scope).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change collides with existing state (duplicate key, stale version).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed or out of range.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: a dependency is down; the caller may retry later.
	ErrUnavailable = errors.New("unavailable")
)
