package api

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// One-time provisioning tokens: a distributor issues one for a community
// (and customer), an installer claims it once before it expires. The token
// itself is returned once and never logged or audited; the store keeps
// only its hash.

func (s *Server) provisioningRoutes() {
	s.handle(fiber.MethodPost, "/devices/provision-token", PermNodeProvision,
		"issue a one-time provisioning token for a community (and customer) in scope", s.createProvisionToken)
	// Claiming needs only a login: the token is the authority, handed to an
	// installer (or a customer) who may hold no role over the community.
	s.handle(fiber.MethodPost, "/devices/claim", PermAuthenticated, "claim a provisioning token, once", s.claimProvisionToken)
}

type provisionTokenRequest struct {
	CommunityID string  `json:"community_id"`
	CustomerID  *string `json:"customer_id"`
	TTLMinutes  *int    `json:"ttl_minutes"`
}

// provisionTokenJSON answers a new token; token appears here only.
type provisionTokenJSON struct {
	Token       string    `json:"token"`
	ExpiresAt   time.Time `json:"expires_at"`
	CommunityID string    `json:"community_id"`
	CustomerID  *string   `json:"customer_id"`
}

// Token lifetimes: an hour unless asked, a week at most.
const (
	defaultTokenTTL = 60
	maxTokenTTL     = 7 * 24 * 60
)

func (s *Server) createProvisionToken(c *fiber.Ctx) error {
	var req provisionTokenRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ttl := defaultTokenTTL
	if req.TTLMinutes != nil {
		ttl = *req.TTLMinutes
	}
	var v checks
	v.check(req.CommunityID != "", "community_id", msgRequired)
	v.check(req.CustomerID == nil || *req.CustomerID != "", "customer_id", "must be a customer id or left out")
	v.check(ttl >= 1 && ttl <= maxTokenTTL, "ttl_minutes", "must be from 1 to 10080")
	if err := v.err(); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	comm, err := s.store.GetCommunity(ctx, scope, req.CommunityID)
	if err != nil {
		return err
	}
	var customerID *string
	if req.CustomerID != nil {
		cust, err := s.store.GetCustomer(ctx, scope, *req.CustomerID)
		if err != nil {
			return err
		}
		if cust.CommunityID == nil || !strings.EqualFold(*cust.CommunityID, comm.ID) {
			return invalid("customer_id", "the customer is not in this community")
		}
		customerID = &cust.ID
	}
	user := principalOf(c).UserID()
	token, err := s.store.CreateProvisioningToken(ctx, comm.ID, customerID, user, time.Duration(ttl)*time.Minute)
	if err != nil {
		return err
	}
	expires := s.now().UTC().Add(time.Duration(ttl) * time.Minute).Truncate(time.Second)
	s.record(c, "provisioning_token.create", "community", comm.ID, map[string]any{
		"customer_id": customerID, "ttl_minutes": ttl, "expires_at": expires})
	return c.Status(fiber.StatusCreated).JSON(provisionTokenJSON{Token: token, ExpiresAt: expires, CommunityID: comm.ID, CustomerID: customerID})
}

type claimRequest struct {
	Token string `json:"token"`
}

// claimJSON is what a claimed token grants.
type claimJSON struct {
	CommunityID string    `json:"community_id"`
	CustomerID  *string   `json:"customer_id"`
	ExpiresAt   time.Time `json:"expires_at"`
	ClaimedAt   time.Time `json:"claimed_at"`
}

// maxTokenLength bounds what is hashed: real tokens are 43 characters.
const maxTokenLength = 256

// claimProvisionToken claims a token once: an unknown one is 404, one
// already claimed 409 and an expired one 410.
func (s *Server) claimProvisionToken(c *fiber.Ctx) error {
	var req claimRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Token == "" || len(req.Token) > maxTokenLength {
		return invalid("token", "is required (at most 256 characters)")
	}
	ctx, cancel := reqContext()
	defer cancel()
	claim, err := s.store.ClaimProvisioningToken(ctx, req.Token, principalOf(c).UserID(), s.now())
	switch {
	case errors.Is(err, telemetry.ErrTokenUsed):
		return fiber.NewError(fiber.StatusConflict, "the provisioning token was already claimed")
	case errors.Is(err, telemetry.ErrTokenExpired):
		return fiber.NewError(fiber.StatusGone, "the provisioning token has expired")
	case err != nil:
		return err
	}
	s.record(c, "provisioning_token.claim", "community", claim.CommunityID, map[string]any{"customer_id": claim.CustomerID})
	return c.JSON(claimJSON{CommunityID: claim.CommunityID, CustomerID: claim.CustomerID, ExpiresAt: claim.ExpiresAt, ClaimedAt: claim.ClaimedAt})
}
