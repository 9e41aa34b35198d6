package api

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// Users are listed with user:read (distributors see their own users and
// those of their communities, superadmins everyone); roles are changed
// with role:change, which only superadmins hold (SPEC §9).
func (s *Server) userRoutes() {
	s.handle(fiber.MethodGet, "/users", PermUsers, "the users in the caller's scope (?limit= ?offset=)", s.getUsers)
	s.handle(fiber.MethodPut, "/users/:id/role", PermRoles, "change a user's role and scope", s.putRole)
}

func (s *Server) getUsers(c *fiber.Ctx) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	list, total, err := s.store.ListProfiles(ctx, scopeOf(c), pg)
	if err != nil {
		return err
	}
	out := make([]Profile, len(list))
	for i, p := range list {
		out[i] = profileOf(p)
	}
	setTotal(c, total)
	return c.JSON(out)
}

// roleBody is PUT /users/:id/role's body: a distributor needs its
// distributor_id, a community admin its community_id (and, optionally,
// that community's distributor_id); a customer may be filed under a
// community; a superadmin has no scope.
type roleBody struct {
	Role          string  `json:"role"`
	DistributorID *string `json:"distributor_id"`
	CommunityID   *string `json:"community_id"`
}

// roleScope is a role with its scope, as the audit log records it.
type roleScope struct {
	Role          string  `json:"role"`
	DistributorID *string `json:"distributor_id"`
	CommunityID   *string `json:"community_id"`
}

func roleScopeOf(p telemetry.UserProfile) roleScope {
	return roleScope{Role: string(p.Role), DistributorID: p.DistributorID, CommunityID: p.CommunityID}
}

// putRole changes a user's role and scope, audits it with before and
// after, and makes this replica forget the user's cached profile, so the
// change applies from the user's next request here (other replicas within
// the profile cache's TTL). A superadmin cannot change its own role: that
// is how the last one would lock everyone out.
func (s *Server) putRole(c *fiber.Ctx) error {
	id := param(c, "id")
	if !text(id, 255) || id == "" {
		return telemetry.ErrNotFound
	}
	var b roleBody
	if err := decode(c, &b); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	if _, err := s.store.GetProfile(ctx, id); err != nil {
		return err
	}
	if err := s.checkRole(ctx, b); err != nil {
		return err
	}
	if id == principalOf(c).UserID() {
		return invalid("role", "you cannot change your own role; ask another superadmin")
	}
	before, after, err := s.store.SetRole(ctx, id, telemetry.Role(b.Role), strings.ToLower(deref(b.DistributorID)), strings.ToLower(deref(b.CommunityID)))
	if err != nil {
		return err
	}
	s.profiles.forget(id)
	s.record(c, "role.change", "user", id, map[string]any{"before": roleScopeOf(before), "after": roleScopeOf(after)})
	return c.JSON(profileOf(after))
}

// checkRole validates a role body: the role, which scope fields it takes,
// and that the distributor and community it names exist.
func (s *Server) checkRole(ctx context.Context, b roleBody) error {
	var v checks
	role := telemetry.Role(b.Role)
	v.check(role.Valid(), "role", "must be superadmin, distributor, community_admin or customer")
	dist, comm := deref(b.DistributorID), deref(b.CommunityID)
	switch role {
	case telemetry.RoleSuperadmin:
		v.check(dist == "", "distributor_id", "a superadmin has no distributor")
		v.check(comm == "", "community_id", "a superadmin has no community")
	case telemetry.RoleDistributor:
		v.check(dist != "", "distributor_id", "is required for a distributor")
		v.check(comm == "", "community_id", "a distributor's scope is its distributor")
	case telemetry.RoleCommunityAdmin:
		v.check(comm != "", "community_id", "is required for a community admin")
	case telemetry.RoleCustomer:
		v.check(dist == "", "distributor_id", "a customer has no distributor")
	}
	if dist != "" {
		_, err := s.store.GetDistributor(ctx, telemetry.Scope{All: true}, dist)
		if err != nil && !errors.Is(err, telemetry.ErrNotFound) {
			return err
		}
		v.check(err == nil, "distributor_id", "no such distributor")
	}
	if comm != "" {
		cm, err := s.communityByID(ctx, comm)
		if err != nil && !errors.Is(err, telemetry.ErrNotFound) {
			return err
		}
		v.check(err == nil, "community_id", "no such community")
		v.check(err != nil || dist == "" || strings.EqualFold(dist, deref(cm.DistributorID)), "community_id", "is not the distributor's")
	}
	return v.err()
}

// communityByID finds any community by its id (not its slug).
func (s *Server) communityByID(ctx context.Context, id string) (telemetry.Community, error) {
	if uuid.Validate(id) != nil || len(id) != 36 {
		return telemetry.Community{}, telemetry.ErrNotFound
	}
	return s.store.GetCommunity(ctx, telemetry.Scope{All: true}, id)
}
