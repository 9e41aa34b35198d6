package auth

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/internal/telemetry"
)

// DefaultMintTTL is the lifetime of a minted token when MintOptions.TTL is 0.
const DefaultMintTTL = time.Hour

// MintOptions describe a development token.
type MintOptions struct {
	Subject string // required: the user's id
	Email   string
	// Role is written to the token's role claim for display only; the server
	// takes the role from users_profiles.
	Role     string
	TTL      time.Duration // default 1 h
	Audience string        // default "authenticated"
	Issuer   string        // optional
	Now      func() time.Time
}

// Mint signs an HS256 token with secret for `evara token`: sub, email, role,
// aud, iss (when set), iat, nbf, exp and a random jti, so that a Verifier
// with the same secret accepts it and logout can revoke it.
func Mint(secret []byte, o MintOptions) (string, error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("auth: mint: no secret: %w", telemetry.ErrInvalid)
	}
	if o.Subject == "" {
		return "", fmt.Errorf("auth: mint: subject required: %w", telemetry.ErrInvalid)
	}
	if o.TTL < 0 {
		return "", fmt.Errorf("auth: mint: negative ttl: %w", telemetry.ErrInvalid)
	}
	if o.TTL == 0 {
		o.TTL = DefaultMintTTL
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now().Truncate(time.Second)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.Subject,
			Audience:  jwt.ClaimStrings{o.Audience},
			Issuer:    o.Issuer,
			IssuedAt:  jwt.NewNumericDate(t),
			NotBefore: jwt.NewNumericDate(t),
			ExpiresAt: jwt.NewNumericDate(t.Add(o.TTL)),
			ID:        rand.Text(),
		},
		Email: o.Email,
		Role:  o.Role,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
