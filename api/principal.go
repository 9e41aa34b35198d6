package api

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/telemetry"
)

// Authenticator verifies a bearer token (auth.Verifier).
type Authenticator interface {
	Verify(ctx context.Context, raw string) (auth.Claims, error)
}

// ProfileStore is what identifying callers needs from the store.
type ProfileStore interface {
	GetProfile(ctx context.Context, id string) (telemetry.UserProfile, error)
	// SyncProfile creates the profile of a first login (role customer) or
	// refreshes email and display name; created reports the first.
	SyncProfile(ctx context.Context, sub, email, displayName string) (telemetry.UserProfile, bool, error)
	// CustomerIDForUser is the customer row linked to a login, ErrNotFound when none.
	CustomerIDForUser(ctx context.Context, userID string) (string, error)
	// PromoteByEmail gives the profile with this email the role.
	PromoteByEmail(ctx context.Context, email string, role telemetry.Role) (telemetry.UserProfile, error)
}

// Principal is an identified caller: who the token says it is, and what
// users_profiles says it may see.
type Principal struct {
	Claims  auth.Claims
	Profile telemetry.UserProfile
	Scope   telemetry.Scope
}

// UserID is the caller's id (the token's sub).
func (p *Principal) UserID() string { return p.Profile.ID }

const principalKey = "evara.principal"

// principalOf is the caller of an authenticated route (nil on public ones).
func principalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(principalKey).(*Principal)
	return p
}

// profileTTL bounds how long a role change on another replica takes to
// reach this one (a change on this replica applies at once).
const (
	profileTTL        = 5 * time.Second
	profileCacheLimit = 100_000
)

// profileCache keeps resolved principals' profiles and scopes for a few
// seconds: identifying a caller is then a token verification and a map
// lookup, not two queries per request. Safe for concurrent use.
type profileCache struct {
	mu      sync.Mutex
	entries map[string]cachedProfile
}

type cachedProfile struct {
	profile telemetry.UserProfile
	scope   telemetry.Scope
	until   time.Time
}

func (pc *profileCache) get(id string, now time.Time) (cachedProfile, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[id]
	if !ok || now.After(e.until) {
		return cachedProfile{}, false
	}
	return e, true
}

func (pc *profileCache) put(id string, e cachedProfile) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil || len(pc.entries) >= profileCacheLimit {
		pc.entries = map[string]cachedProfile{} // bounded: start over rather than grow
	}
	pc.entries[id] = e
}

func (pc *profileCache) forget(id string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.entries, id)
}

// resolve turns verified claims into a principal. A first login creates
// the profile (as SyncProfile does for POST /auth/sync), so that a caller
// who skipped the sync is still a customer who sees nothing rather than an
// error. Emails listed in Options.BootstrapSuperadmins become superadmins.
func (s *Server) resolve(ctx context.Context, reqID string, claims auth.Claims) (*Principal, error) {
	now := s.now()
	if e, ok := s.profiles.get(claims.Subject, now); ok {
		return &Principal{Claims: claims, Profile: e.profile, Scope: e.scope}, nil
	}
	profile, err := s.store.GetProfile(ctx, claims.Subject)
	if errors.Is(err, telemetry.ErrNotFound) {
		var created bool
		profile, created, err = s.store.SyncProfile(ctx, claims.Subject, claims.Email, "")
		if err == nil && created {
			s.recordAs(reqID, claims.Subject, "user.create", "user", claims.Subject, map[string]any{"via": "first request"})
		}
	}
	if err != nil {
		return nil, err
	}
	if profile, err = s.bootstrap(ctx, reqID, profile); err != nil {
		return nil, err
	}
	return s.cachePrincipal(ctx, claims, profile)
}

func (s *Server) cachePrincipal(ctx context.Context, claims auth.Claims, profile telemetry.UserProfile) (*Principal, error) {
	customerID := ""
	if profile.Role == telemetry.RoleCustomer {
		id, err := s.store.CustomerIDForUser(ctx, profile.ID)
		if err != nil && !errors.Is(err, telemetry.ErrNotFound) {
			return nil, err
		}
		customerID = id
	}
	scope := ScopeOf(profile, customerID)
	s.profiles.put(profile.ID, cachedProfile{profile: profile, scope: scope, until: s.now().Add(profileTTL)})
	return &Principal{Claims: claims, Profile: profile, Scope: scope}, nil
}

// bootstrap promotes a profile whose email is in BootstrapSuperadmins.
func (s *Server) bootstrap(ctx context.Context, reqID string, p telemetry.UserProfile) (telemetry.UserProfile, error) {
	if p.Role == telemetry.RoleSuperadmin || p.Email == nil || !s.bootstrapEmails[strings.ToLower(*p.Email)] {
		return p, nil
	}
	promoted, err := s.store.PromoteByEmail(ctx, *p.Email, telemetry.RoleSuperadmin)
	if err != nil {
		return p, err
	}
	s.recordAs(reqID, p.ID, "role.change", "user", p.ID, map[string]any{
		"before": string(p.Role), "after": string(telemetry.RoleSuperadmin), "via": "EVARA_BOOTSTRAP_SUPERADMINS"})
	return promoted, nil
}
