package api

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/telemetry"
)

// Profile is the dashboard's user profile (SPEC §7): the answer of the
// auth routes and the items of GET /users.
type Profile struct {
	ID            string    `json:"id"`
	Email         *string   `json:"email"`
	DisplayName   *string   `json:"display_name"`
	Role          string    `json:"role"`
	Plan          *string   `json:"plan"`
	CommunityID   *string   `json:"community_id"`
	DistributorID *string   `json:"distributor_id"`
	CreatedAt     time.Time `json:"created_at"`
}

func profileOf(p telemetry.UserProfile) Profile {
	return Profile{ID: p.ID, Email: p.Email, DisplayName: p.DisplayName, Role: string(p.Role), Plan: p.Plan,
		CommunityID: p.CommunityID, DistributorID: p.DistributorID, CreatedAt: p.CreatedAt}
}

// revocationMargin is added to a token's expiry when it is revoked: the
// verifier accepts a token up to its leeway after exp, and the revocation
// must outlive every instant at which the token would still be accepted.
const revocationMargin = auth.DefaultLeeway + time.Minute

func (s *Server) authRoutes() {
	s.handle(fiber.MethodPost, "/auth/sync", PermAuthenticated, "record a login: create the caller's profile (customer) or refresh it", s.postSync)
	s.handle(fiber.MethodGet, "/auth/me", PermAuthenticated, "the caller's profile", s.getMe)
	s.handle(fiber.MethodPost, "/auth/logout", PermAuthenticated, "revoke the caller's token until it expires, on every replica", s.postLogout)
}

// syncBody is POST /auth/sync's optional body. When a body is sent it
// names the display name: an empty object changes nothing and is refused
// as a likely client mistake.
type syncBody struct {
	DisplayName *string `json:"display_name"`
}

// maxDisplayName bounds a display name, in bytes.
const maxDisplayName = 200

// postSync records a login. The profile already exists when this handler
// runs (identifying the caller creates it on a first request, as a
// customer, and audits "user.create"); sync then refreshes the email from
// the token and the display name from the body, and audits the login.
func (s *Server) postSync(c *fiber.Ctx) error {
	p := principalOf(c)
	displayName := ""
	if len(bytes.TrimSpace(c.Body())) > 0 {
		var b syncBody
		if err := decode(c, &b); err != nil {
			return err
		}
		if b.DisplayName == nil || strings.TrimSpace(*b.DisplayName) == "" {
			return invalid("display_name", "is required when a body is sent")
		}
		displayName = strings.TrimSpace(*b.DisplayName)
		if len(displayName) > maxDisplayName || strings.ContainsRune(displayName, 0) {
			return invalid("display_name", "must be at most 200 bytes of text")
		}
	}
	ctx, cancel := reqContext()
	defer cancel()
	profile, created, err := s.store.SyncProfile(ctx, p.UserID(), p.Claims.Email, displayName)
	if err != nil {
		return err
	}
	s.profiles.forget(profile.ID) // the next request sees the new email, name and customer
	s.record(c, "user.login", "user", profile.ID, map[string]any{"created": created, "dev_bypass": p.Claims.DevBypass})
	if profile, err = s.linkOnboarded(ctx, c, p, profile); err != nil {
		return err
	}
	return c.JSON(profileOf(profile))
}

// linkOnboarded links a customer login that has no customer yet to the
// customer onboarded with its email (POST /customers/onboard before the
// person ever signed in). The email is the token's, which the identity
// provider has confirmed. The login is then filed under the customer's
// community, as onboarding a signed-in customer does.
func (s *Server) linkOnboarded(ctx context.Context, c *fiber.Ctx, p *Principal, profile telemetry.UserProfile) (telemetry.UserProfile, error) {
	if profile.Role != telemetry.RoleCustomer || p.Scope.CustomerID != "" || p.Claims.Email == "" || p.Claims.DevBypass {
		return profile, nil
	}
	id, err := s.store.LinkCustomerByEmail(ctx, profile.ID, p.Claims.Email)
	switch {
	case errors.Is(err, telemetry.ErrNotFound):
		return profile, nil
	case err != nil:
		return profile, err
	}
	s.profiles.forget(profile.ID) // its scope is now this customer
	s.record(c, "customer.link", "customer", id, map[string]any{"user_id": profile.ID, "via": "email at sign-in"})
	cu, err := s.store.GetCustomer(ctx, telemetry.Scope{All: true}, id)
	if err != nil {
		return profile, err
	}
	return s.placeLogin(ctx, c, profile, cu.CommunityID), nil
}

// getMe answers the caller's profile as this replica knows it (a role
// changed on another replica shows within the profile cache's TTL).
func (s *Server) getMe(c *fiber.Ctx) error {
	return c.JSON(profileOf(principalOf(c).Profile))
}

// postLogout revokes the caller's token — by its jti, or by the digest of
// the raw token when it has none — until it expires, in the shared cache
// that every replica's verifier asks. A dev-bypass token has no expiry and
// is never checked for revocation: logging it out revokes nothing, which
// the audit entry says (such tokens exist only with EVARA_DEV_BYPASS).
func (s *Server) postLogout(c *fiber.Ctx) error {
	if s.revoker == nil {
		return telemetry.ErrUnavailable
	}
	p := principalOf(c)
	if p.Claims.DevBypass || p.Claims.ExpiresAt.IsZero() {
		s.record(c, "user.logout", "user", p.UserID(), map[string]any{"revoked": false, "reason": "token without expiry (dev bypass)"})
		return c.SendStatus(fiber.StatusNoContent)
	}
	raw, _ := auth.FromHeader(c.Get(fiber.HeaderAuthorization))
	ctx, cancel := reqContext()
	defer cancel()
	until := p.Claims.ExpiresAt.Add(revocationMargin)
	if err := s.revoker.Revoke(ctx, auth.RevocationKey(p.Claims.JTI, raw), until); err != nil {
		return err
	}
	by := "jti"
	if p.Claims.JTI == "" {
		by = "token digest"
	}
	s.record(c, "user.logout", "user", p.UserID(), map[string]any{"revoked": true, "by": by, "until": until.UTC().Format(time.RFC3339)})
	return c.SendStatus(fiber.StatusNoContent)
}
