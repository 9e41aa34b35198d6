package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

func testProvisioningTokens(t *testing.T, open Opener) {
	t.Run("claim once", func(t *testing.T) { testTokenClaim(t, open(t)) })
	t.Run("expired", func(t *testing.T) { testTokenExpired(t, open(t)) })
	t.Run("invalid", func(t *testing.T) { testTokenInvalid(t, open(t)) })
	t.Run("concurrent claims: exactly one wins", func(t *testing.T) { testTokenRace(t, open(t)) })
}

func testTokenClaim(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	token, err := s.CreateProvisioningToken(ctx, w.communityA, &w.customer, w.user, time.Hour)
	if err != nil || len(token) < 43 {
		t.Fatalf("token %q, %v", token, err)
	}
	var stored []byte
	if err := s.DB().QueryRow(ctx, "SELECT token_hash FROM provisioning_tokens").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); !bytes.Equal(stored, sum[:]) {
		t.Error("the stored hash is not the token's SHA-256")
	}
	now := time.Now()
	claim, err := s.ClaimProvisioningToken(ctx, token, w.user, now)
	if err != nil {
		t.Fatal(err)
	}
	if claim.CommunityID != w.communityA || claim.CustomerID == nil || *claim.CustomerID != w.customer ||
		claim.CreatedBy == nil || *claim.CreatedBy != w.user || !claim.ExpiresAt.After(now) || !claim.ExpiresAt.Equal(claim.CreatedAt.Add(time.Hour)) {
		t.Errorf("claim = %+v", claim)
	}
	_, err = s.ClaimProvisioningToken(ctx, token, w.user, now)
	claimErr(t, "second claim", err, sqlcore.ErrTokenUsed)
	_, err = s.ClaimProvisioningToken(ctx, "not-a-token", w.user, now)
	claimErr(t, "unknown token", err, sqlcore.ErrTokenUnknown)
}

func testTokenExpired(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	token, err := s.CreateProvisioningToken(ctx, w.communityB, nil, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ClaimProvisioningToken(ctx, token, w.user, time.Now().Add(time.Hour))
	claimErr(t, "claim after expiry", err, sqlcore.ErrTokenExpired)
	claim, err := s.ClaimProvisioningToken(ctx, token, "", time.Now())
	if err != nil || claim.CustomerID != nil || claim.CreatedBy != nil {
		t.Errorf("an expired claim attempt must not use the token up: %+v, %v", claim, err)
	}
}

func testTokenInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	cases := map[string]struct {
		community string
		customer  *string
		by        string
		ttl       time.Duration
	}{
		"no lifetime":          {w.communityA, nil, "", 0},
		"negative lifetime":    {w.communityA, nil, "", -time.Hour},
		"unknown community":    {newUUID(), nil, "", time.Hour},
		"community not a UUID": {"green-meadows", nil, "", time.Hour},
		"unknown customer":     {w.communityA, ptr(newUUID()), "", time.Hour},
		"unknown author":       {w.communityA, nil, "nobody", time.Hour},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.CreateProvisioningToken(ctx, c.community, c.customer, c.by, c.ttl)
			opsIs(t, "create", err, telemetry.ErrInvalid)
		})
	}
}

func testTokenRace(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	token, err := s.CreateProvisioningToken(ctx, w.communityA, nil, w.user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  [racers]error
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.ClaimProvisioningToken(ctx, token, w.user, time.Now())
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, sqlcore.ErrTokenUsed):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d claims succeeded, want exactly 1", won)
	}
}

func claimErr(t *testing.T, what string, err, reason error) {
	t.Helper()
	if !errors.Is(err, telemetry.ErrNotFound) || !errors.Is(err, reason) {
		t.Errorf("%s: %v, want not found because %v", what, err, reason)
	}
}

func testRevokedTokens(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	exp := t0.Add(time.Hour)
	for _, jti := range []string{"jti-1", "jti-1", "jti-2"} {
		if err := s.RevokeToken(ctx, jti, exp); err != nil {
			t.Fatalf("revoke %s: %v", jti, err)
		}
	}
	// A later revocation of the same token keeps the later expiry; an earlier one does not shorten it.
	if err := s.RevokeToken(ctx, "jti-2", exp.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "jti-2", t0); err != nil {
		t.Fatal(err)
	}
	opsIs(t, "revoke without an id", s.RevokeToken(ctx, "", exp), telemetry.ErrInvalid)
	cases := []struct {
		jti  string
		at   time.Time
		want bool
	}{
		{"jti-1", t0, true},
		{"jti-1", exp.Add(-time.Millisecond), true},
		{"jti-1", exp, false},
		{"jti-2", exp.Add(30 * time.Minute), true},
		{"jti-3", t0, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s at %s", c.jti, c.at.Format(time.TimeOnly)), func(t *testing.T) {
			if got, err := s.IsRevoked(ctx, c.jti, c.at); err != nil || got != c.want {
				t.Errorf("IsRevoked = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	purged, err := s.PurgeRevoked(ctx, exp)
	if err != nil || purged != 1 {
		t.Errorf("purged %d, %v; want jti-1 only", purged, err)
	}
	if got, _ := s.IsRevoked(ctx, "jti-2", exp); !got {
		t.Error("purge removed a revocation still in force")
	}
	if purged, err := s.PurgeRevoked(ctx, exp); err != nil || purged != 0 {
		t.Errorf("purging again removed %d, %v", purged, err)
	}
}
