package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// Customers are read with node:read — every role sees the customers its
// scope holds (a customer itself, with its devices) — and created or
// onboarded with customer:manage (community admins in their community,
// distributors in theirs, superadmins anywhere).
func (s *Server) customerRoutes() {
	s.handle(fiber.MethodGet, "/customers", PermNodeRead, "the customers in the caller's scope (?q= ?community_id= ?limit= ?offset=)", s.getCustomers)
	s.handle(fiber.MethodPost, "/customers", PermCustomers, "create a customer", s.postCustomer)
	s.handle(fiber.MethodPost, "/customers/onboard", PermCustomers, "create a customer and link its login by email", s.postOnboard)
	s.handle(fiber.MethodGet, "/customers/:id", PermNodeRead, "a customer with its devices", s.getCustomer)
}

// Customer is the dashboard's customer (SPEC §7); joining_date is a date
// ("2026-03-01") and devices the ids of its nodes the caller may see.
type Customer struct {
	ID            string             `json:"id"`
	FullName      string             `json:"full_name"`
	DisplayName   *string            `json:"display_name"`
	Email         *string            `json:"email"`
	ContactNumber *string            `json:"contact_number"`
	CommunityID   *string            `json:"community_id"`
	DistributorID *string            `json:"distributor_id"`
	PlanID        string             `json:"plan_id"`
	Status        string             `json:"status"`
	JoiningDate   string             `json:"joining_date"`
	CreatedAt     time.Time          `json:"created_at"`
	Devices       []telemetry.NodeID `json:"devices"`
}

func customerOf(c telemetry.Customer) Customer {
	devices := c.Devices
	if devices == nil {
		devices = []telemetry.NodeID{}
	}
	return Customer{ID: c.ID, FullName: c.FullName, DisplayName: c.DisplayName, Email: c.Email, ContactNumber: c.ContactNumber,
		CommunityID: c.CommunityID, DistributorID: c.DistributorID, PlanID: c.PlanID, Status: c.Status,
		JoiningDate: c.JoiningDate.Format(time.DateOnly), CreatedAt: c.CreatedAt, Devices: devices}
}

func (s *Server) getCustomers(c *fiber.Ctx) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	q, err := search(c)
	if err != nil {
		return err
	}
	community := strings.Clone(c.Query("community_id"))
	if community != "" && uuid.Validate(community) != nil {
		return invalid("community_id", "must be a UUID")
	}
	ctx, cancel := reqContext()
	defer cancel()
	list, total, err := s.store.ListCustomers(ctx, scopeOf(c), telemetry.CustomerFilter{CommunityID: community, Query: q, Page: pg})
	if err != nil {
		return err
	}
	out := make([]Customer, len(list))
	for i, cu := range list {
		out[i] = customerOf(cu)
	}
	setTotal(c, total)
	return c.JSON(out)
}

func (s *Server) getCustomer(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	cu, err := s.store.GetCustomer(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(customerOf(cu))
}

// customerBody is the body of POST /customers and /customers/onboard.
type customerBody struct {
	FullName      string  `json:"full_name"`
	DisplayName   *string `json:"display_name"`
	Email         *string `json:"email"`
	ContactNumber *string `json:"contact_number"`
	CommunityID   *string `json:"community_id"`
	DistributorID *string `json:"distributor_id"`
	PlanID        *string `json:"plan_id"`
	Status        *string `json:"status"`
	JoiningDate   *string `json:"joining_date"` // YYYY-MM-DD; default today
}

func (s *Server) postCustomer(c *fiber.Ctx) error {
	var b customerBody
	if err := decode(c, &b); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	cu, err := s.customerFrom(ctx, c, b)
	if err != nil {
		return err
	}
	if err := s.store.CreateCustomer(ctx, &cu); err != nil {
		return err
	}
	out := customerOf(cu)
	s.record(c, "customer.create", "customer", cu.ID, map[string]any{"after": out})
	return c.Status(fiber.StatusCreated).JSON(out)
}

// Onboarded is the answer of POST /customers/onboard: the new customer
// and the login it was linked to, null when no one has signed in with its
// email yet (the link is then made at that person's first POST /auth/sync).
type Onboarded struct {
	Customer Customer `json:"customer"`
	User     *Profile `json:"user"`
}

// postOnboard creates a customer and links its login by email. An email
// that belongs to a signed-in customer not yet linked to another customer
// is linked at once (and that login's community set to the customer's,
// so community and distributor admins see it among their users); an
// email of a staff login, or of a login already linked, is a 409 and
// nothing is written; an unknown email is linked at first sign-in.
func (s *Server) postOnboard(c *fiber.Ctx) error {
	var b customerBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Email == nil || strings.TrimSpace(*b.Email) == "" {
		return invalid("email", "is required: the customer's login is found by it")
	}
	ctx, cancel := reqContext()
	defer cancel()
	cu, err := s.customerFrom(ctx, c, b)
	if err != nil {
		return err
	}
	login, err := s.loginFor(ctx, *cu.Email)
	if err != nil {
		return err
	}
	if login != nil {
		cu.UserID = &login.ID
	}
	if err := s.store.CreateCustomer(ctx, &cu); err != nil {
		return err
	}
	out := Onboarded{Customer: customerOf(cu)}
	if login != nil {
		s.profiles.forget(login.ID) // its scope is now this customer
		updated := s.placeLogin(ctx, c, *login, cu.CommunityID)
		p := profileOf(updated)
		out.User = &p
	}
	s.record(c, "customer.onboard", "customer", cu.ID, map[string]any{"after": out.Customer, "user_id": deref(cu.UserID)})
	return c.Status(fiber.StatusCreated).JSON(out)
}

// loginFor is the profile an onboarded customer is linked to: nil when no
// one has signed in with email yet.
func (s *Server) loginFor(ctx context.Context, email string) (*telemetry.UserProfile, error) {
	p, err := s.store.GetProfileByEmail(ctx, email)
	switch {
	case errors.Is(err, telemetry.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case p.Role != telemetry.RoleCustomer:
		return nil, errors.Join(telemetry.ErrConflict, errors.New("the login with this email is a "+string(p.Role)+", not a customer"))
	}
	_, err = s.store.CustomerIDForUser(ctx, p.ID)
	switch {
	case err == nil:
		return nil, errors.Join(telemetry.ErrConflict, errors.New("the login with this email is already linked to a customer"))
	case !errors.Is(err, telemetry.ErrNotFound):
		return nil, err
	}
	return &p, nil
}

// placeLogin files a newly linked customer login under the customer's
// community. The link itself is made; a failure here only leaves the login
// out of the community's user list, so it is logged, not returned.
func (s *Server) placeLogin(ctx context.Context, c *fiber.Ctx, p telemetry.UserProfile, community *string) telemetry.UserProfile {
	if community == nil || strings.EqualFold(deref(p.CommunityID), *community) {
		return p
	}
	_, after, err := s.store.SetRole(ctx, p.ID, telemetry.RoleCustomer, "", *community)
	if err != nil {
		s.log.Warn("onboarded login not filed under its community", "request_id", requestID(c), "user_id", p.ID, "err", err)
		return p
	}
	s.profiles.forget(p.ID)
	return after
}

// customerFrom validates a customer body against the caller's scope and
// the reference data; it writes nothing. A community outside the caller's
// scope is refused like one that does not exist.
func (s *Server) customerFrom(ctx context.Context, c *fiber.Ctx, b customerBody) (telemetry.Customer, error) {
	var v checks
	name := strings.TrimSpace(b.FullName)
	v.check(name != "" && text(name, 200), "full_name", "is required: text of at most 200 bytes")
	v.check(b.DisplayName == nil || text(*b.DisplayName, 200), "display_name", "must be text of at most 200 bytes")
	v.check(b.ContactNumber == nil || text(*b.ContactNumber, 50), "contact_number", "must be text of at most 50 bytes")
	v.check(b.Email == nil || *b.Email == "" || validEmail(strings.TrimSpace(*b.Email)), "email", "must be an email address")
	v.check(b.Status == nil || oneOf(*b.Status, "pending", "active", "inactive", "suspended"), "status",
		"must be pending, active, inactive or suspended")
	cu := telemetry.Customer{FullName: name, DisplayName: trimmed(b.DisplayName), Email: trimmed(b.Email),
		ContactNumber: trimmed(b.ContactNumber), PlanID: deref(b.PlanID), Status: deref(b.Status)}
	if b.JoiningDate != nil {
		d, err := time.Parse(time.DateOnly, *b.JoiningDate)
		v.check(err == nil, "joining_date", "must be a date: YYYY-MM-DD")
		cu.JoiningDate = d
	}
	if b.PlanID != nil && !text(*b.PlanID, 40) {
		v.check(false, "plan_id", "no such plan")
	} else if b.PlanID != nil {
		if _, err := s.store.GetPlan(ctx, *b.PlanID); errors.Is(err, telemetry.ErrNotFound) {
			v.check(false, "plan_id", "no such plan")
		} else if err != nil {
			return cu, err
		}
	}
	community, err := s.customerCommunity(ctx, c, b.CommunityID)
	var fe *ValidationError
	switch {
	case errors.As(err, &fe):
		v = append(v, fe.Fields...)
	case err != nil:
		return cu, err
	case community != nil:
		cu.CommunityID, cu.DistributorID = &community.ID, community.DistributorID
		v.check(b.DistributorID == nil || strings.EqualFold(*b.DistributorID, deref(community.DistributorID)),
			"distributor_id", "must be the community's distributor")
	default:
		v.check(b.DistributorID == nil, "distributor_id", "a customer without a community has no distributor")
	}
	return cu, v.err()
}

// customerCommunity is the community a new customer joins: one the
// caller's scope holds. A community admin's defaults to its own; a
// distributor must name one; a superadmin may leave it out.
func (s *Server) customerCommunity(ctx context.Context, c *fiber.Ctx, named *string) (*telemetry.Community, error) {
	p := principalOf(c)
	id := deref(named)
	if id == "" {
		switch {
		case p.Profile.Role == telemetry.RoleSuperadmin:
			return nil, nil
		case p.Scope.CommunityID != "":
			id = p.Scope.CommunityID
		default:
			return nil, invalid("community_id", "is required")
		}
	}
	if uuid.Validate(id) != nil {
		return nil, invalid("community_id", "must be a UUID")
	}
	cm, err := s.store.GetCommunity(ctx, p.Scope, id)
	if errors.Is(err, telemetry.ErrNotFound) {
		return nil, invalid("community_id", "no such community in your scope")
	}
	if err != nil {
		return nil, err
	}
	return &cm, nil
}
