package sqlcore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Provisioning tokens and revoked JWT ids.

// Why a provisioning token cannot be claimed. Each is returned joined with
// telemetry.ErrNotFound; the texts say which without saying anything else
// (not the community, not who claimed it). They are telemetry's sentinels,
// so that callers which may not import the store can tell them apart.
var (
	ErrTokenUnknown = telemetry.ErrTokenUnknown
	ErrTokenUsed    = telemetry.ErrTokenUsed
	ErrTokenExpired = telemetry.ErrTokenExpired
)

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateProvisioningToken issues a one-time token for provisioning a device
// into a community (and customer) that expires after ttl. The token is
// returned once; only its SHA-256 is stored, so the database never holds a
// usable token.
func (s *Store) CreateProvisioningToken(ctx context.Context, communityID string, customerID *string, createdBy string, ttl time.Duration) (string, error) {
	if ttl < time.Millisecond {
		return "", errors.Join(telemetry.ErrInvalid, errors.New("a provisioning token must live at least a millisecond"))
	}
	community, ok := opsID(communityID)
	if !ok {
		return "", errors.Join(telemetry.ErrInvalid, errors.New("provisioning token: the community id is not a UUID"))
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	now := opsNow()
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO provisioning_tokens (token_hash, community_id, customer_id, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`),
		tokenHash(token), community, Opt(customerID), OptText(createdBy), s.d.Time(now), s.d.Time(now.Add(ttl)))
	if err != nil {
		return "", s.translate(err, "provisioning token")
	}
	return token, nil
}

// ClaimProvisioningToken claims a token for the user userID at now, once:
// of two concurrent claims exactly one succeeds. An unknown, already
// claimed or expired token is ErrNotFound, joined with ErrTokenUnknown,
// ErrTokenUsed or ErrTokenExpired.
func (s *Store) ClaimProvisioningToken(ctx context.Context, token, userID string, now time.Time) (telemetry.ProvisioningClaim, error) {
	now = opsTime(now)
	hash := tokenHash(token)
	c := telemetry.ProvisioningClaim{ClaimedAt: now}
	err := s.db.QueryRow(ctx, s.q(`UPDATE provisioning_tokens SET used_at = $2, used_by = $3
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING community_id, customer_id, created_by, created_at, expires_at`),
		hash, s.d.Time(now), OptText(userID)).
		Scan(S(&c.CommunityID), NS(&c.CustomerID), NS(&c.CreatedBy), T(&c.CreatedAt), T(&c.ExpiresAt))
	if err == nil || !s.d.IsNoRows(err) {
		return c, s.translate(err, "provisioning token")
	}
	var used *time.Time
	var expires time.Time
	err = s.db.QueryRow(ctx, s.q(`SELECT used_at, expires_at FROM provisioning_tokens WHERE token_hash = $1`), hash).
		Scan(NT(&used), T(&expires))
	switch {
	case s.d.IsNoRows(err):
		return c, errors.Join(telemetry.ErrNotFound, ErrTokenUnknown)
	case err != nil:
		return c, s.translate(err, "provisioning token")
	case used != nil:
		return c, errors.Join(telemetry.ErrNotFound, ErrTokenUsed)
	case !expires.After(now):
		return c, errors.Join(telemetry.ErrNotFound, ErrTokenExpired)
	}
	// Claimable now, yet the claim matched nothing: it changed in between.
	return c, fmt.Errorf("provisioning token changed while claiming: %w", telemetry.ErrConflict)
}

// RevokeToken records that the JWT with this id is refused until it
// expires. Revoking twice is harmless (the later expiry is kept).
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.Join(telemetry.ErrInvalid, errors.New("a token without an id (jti) cannot be revoked"))
	}
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revoked_tokens.expires_at
			THEN excluded.expires_at ELSE revoked_tokens.expires_at END`),
		jti, s.d.Time(opsTime(expiresAt)))
	return s.translate(err, "revoked token")
}

// IsRevoked reports whether the token with this id is revoked at now; a
// revocation past the token's expiry no longer counts.
func (s *Store) IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	var revoked bool
	err := s.db.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1 AND expires_at > $2)`),
		jti, s.d.Time(opsTime(now))).Scan(&revoked)
	return revoked, s.translate(err, "revoked token")
}

// PurgeRevoked removes the revocations of tokens expired at now and
// reports how many it removed.
func (s *Store) PurgeRevoked(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, s.q(`DELETE FROM revoked_tokens WHERE expires_at <= $1`), s.d.Time(opsTime(now)))
	return n, s.translate(err, "revoked token")
}
