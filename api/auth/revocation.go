package auth

import (
	"crypto/sha256"
	"encoding/hex"
)

// RevocationKey is the handle under which a token is revoked: its jti, or,
// for a token without one (Supabase access tokens carry none), "sha256:"
// and the hex digest of the raw token, so that such tokens can be revoked
// too without the token itself being stored anywhere.
func RevocationKey(jti, raw string) string {
	if jti != "" {
		return jti
	}
	sum := sha256.Sum256([]byte(raw))
	return "sha256:" + hex.EncodeToString(sum[:])
}
