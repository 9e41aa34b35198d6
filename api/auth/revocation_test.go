package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/api/auth"
)

// TestRevocationWithoutJTI checks that a token without a jti is revoked by
// the digest of the raw token (what logout revokes), and only that token.
func TestRevocationWithoutJTI(t *testing.T) {
	noJTI := with(validClaims(), "jti", nil)
	revoked := sign(t, jwt.SigningMethodHS256, testSecret, "", noJTI)
	other := sign(t, jwt.SigningMethodHS256, testSecret, "", with(noJTI, "email", "bob@example.com"))
	v := newVerifier(t, auth.Options{HS256Secret: testSecret, Now: func() time.Time { return testNow },
		Revoked: fakeRevocations{revoked: map[string]bool{auth.RevocationKey("", revoked): true}}})
	if _, err := v.Verify(context.Background(), revoked); auth.ReasonOf(err) != auth.ReasonRevoked {
		t.Errorf("revoked token without jti: %v, want %s", err, auth.ReasonRevoked)
	}
	if _, err := v.Verify(context.Background(), other); err != nil {
		t.Errorf("another token without jti: %v, want accepted", err)
	}
	if got := auth.RevocationKey("jti-1", revoked); got != "jti-1" {
		t.Errorf("RevocationKey with a jti = %q, want the jti", got)
	}
}
