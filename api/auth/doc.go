// Package auth owns the token side of SPEC §9: it verifies the bearer tokens
// the dashboard sends (HS256 with the Supabase secret and/or ES256/RS256 keys
// from a JWKS URL), mints development tokens for `evara token`, recognises the
// old dashboard's dev-bypass tokens when they are explicitly allowed, and
// extracts tokens from the Authorization and Sec-WebSocket-Protocol headers.
//
// It does not own roles or scope. A token says who the caller is (sub, email);
// what the caller may do comes from users_profiles, never from the token
// (Supabase's user_metadata is editable by users). [Claims.Role] is carried for
// logging only. Revocation (logout) is delegated to a [RevocationChecker]
// provided by the caller; this package stores nothing.
//
// Every refusal is an error wrapping [ErrUnauthorized] whose text is a short,
// stable reason (see [Reason]); token text never appears in an error or a log
// line. A failing RevocationChecker yields an error wrapping
// telemetry.ErrUnavailable instead, so that callers can degrade.
//
// Concurrency: a [Verifier] is safe for concurrent use by any number of
// goroutines. When Options.JWKSURL is set, NewVerifier starts one goroutine
// that refreshes the key set periodically; whoever calls NewVerifier must call
// [Verifier.Close] to stop it (Close cancels it and waits for it to return).
// Close is idempotent; a closed Verifier still verifies with the keys it holds.
// All other functions in the package are pure and safe for concurrent use.
package auth
