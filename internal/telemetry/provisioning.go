package telemetry

import "errors"

// Why a provisioning token cannot be claimed. Stores return them joined
// with ErrNotFound, so that a caller that does not care sees a missing
// token, and one that does (the API: 409 for a used token, 410 for an
// expired one) can tell them apart.
var (
	ErrTokenUnknown = errors.New("provisioning token not recognised")
	ErrTokenUsed    = errors.New("provisioning token already claimed")
	ErrTokenExpired = errors.New("provisioning token expired")
)
