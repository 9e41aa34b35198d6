package api

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// The tenancy routes: reference data (regions, plans), distributors,
// communities (here) and customers (customers.go).
//
// Permissions (SPEC §9): regions and plans are reference data that every
// signed-in user's forms need and that belong to no tenant, so any valid
// token reads them. Communities are read with node:read — every role sees
// the communities its scope holds (a customer its own), which the
// dashboard needs to label nodes — and created with community:manage
// (superadmins, and distributors under their own distributor). Distributors
// are read with community:manage too: only the roles that file communities
// under a distributor deal with distributors (a distributor sees itself).
func (s *Server) tenancyRoutes() {
	s.handle(fiber.MethodGet, "/regions", PermAuthenticated, "the regions communities are filed under", s.getRegions)
	s.handle(fiber.MethodGet, "/plans", PermAuthenticated, "the subscription plans", s.getPlans)
	s.handle(fiber.MethodGet, "/distributors", PermCommunities, "the distributors in the caller's scope", s.getDistributors)
	s.handle(fiber.MethodGet, "/communities", PermNodeRead, "the communities in the caller's scope (?q= ?limit= ?offset=)", s.getCommunities)
	s.handle(fiber.MethodPost, "/communities", PermCommunities, "create a community", s.postCommunity)
	s.handle(fiber.MethodGet, "/communities/:id", PermNodeRead, "a community, by id or slug", s.getCommunity)
	s.customerRoutes()
}

// tenancyExtras is what the tenancy routes need beyond TenancyStore.
type tenancyExtras interface {
	// GetProfileByEmail finds the login of an onboarded customer.
	GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error)
	// LinkCustomerByEmail links the caller's login to the unlinked customer
	// onboarded with its email (oldest first), ErrNotFound when there is none.
	LinkCustomerByEmail(ctx context.Context, userID, email string) (string, error)
}

// Region is the dashboard's region.
type Region struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	City  string `json:"city"`
	State string `json:"state"`
}

// Plan is the dashboard's plan; max_devices is null when unlimited.
type Plan struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	MaxDevices    *int   `json:"max_devices"`
	RetentionDays int    `json:"retention_days"`
}

// Distributor is the dashboard's distributor.
type Distributor struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	ContactEmail *string   `json:"contact_email"`
	ContactPhone *string   `json:"contact_phone"`
	RegionID     *int      `json:"region_id"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
}

// Community is the dashboard's community (SPEC §7).
type Community struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	RegionID      *int      `json:"region_id"`
	Region        *string   `json:"region"`
	City          *string   `json:"city"`
	Address       *string   `json:"address"`
	ContactEmail  *string   `json:"contact_email"`
	ContactPhone  *string   `json:"contact_phone"`
	Status        string    `json:"status"`
	DistributorID *string   `json:"distributor_id"`
	Slug          string    `json:"slug"`
	NodeCount     int       `json:"node_count"`
	CreatedAt     time.Time `json:"created_at"`
}

func communityOf(c telemetry.Community) Community {
	return Community{ID: c.ID, Name: c.Name, RegionID: c.RegionID, Region: c.Region, City: c.City, Address: c.Address,
		ContactEmail: c.ContactEmail, ContactPhone: c.ContactPhone, Status: c.Status, DistributorID: c.DistributorID,
		Slug: c.Slug, NodeCount: c.NodeCount, CreatedAt: c.CreatedAt}
}

func (s *Server) getRegions(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	regions, err := s.store.ListRegions(ctx)
	if err != nil {
		return err
	}
	out := make([]Region, len(regions))
	for i, r := range regions {
		out[i] = Region(r)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

func (s *Server) getPlans(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	plans, err := s.store.ListPlans(ctx)
	if err != nil {
		return err
	}
	out := make([]Plan, len(plans))
	for i, p := range plans {
		out[i] = Plan(p)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

func (s *Server) getDistributors(c *fiber.Ctx) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	list, total, err := s.store.ListDistributors(ctx, scopeOf(c), pg)
	if err != nil {
		return err
	}
	out := make([]Distributor, len(list))
	for i, d := range list {
		out[i] = Distributor{ID: d.ID, Name: d.Name, ContactEmail: d.ContactEmail, ContactPhone: d.ContactPhone,
			RegionID: d.RegionID, Status: d.Status, CreatedAt: d.CreatedAt}
	}
	setTotal(c, total)
	return c.JSON(out)
}

// maxQuery bounds a ?q= search.
const maxQuery = 200

// search reads ?q=.
func search(c *fiber.Ctx) (string, error) {
	q := strings.TrimSpace(c.Query("q"))
	if !text(q, maxQuery) {
		return "", invalid("q", "must be text of at most 200 bytes")
	}
	return strings.Clone(q), nil
}

func (s *Server) getCommunities(c *fiber.Ctx) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	q, err := search(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	list, total, err := s.store.ListCommunities(ctx, scopeOf(c), telemetry.CommunityFilter{Query: q, Page: pg})
	if err != nil {
		return err
	}
	out := make([]Community, len(list))
	for i, cm := range list {
		out[i] = communityOf(cm)
	}
	setTotal(c, total)
	return c.JSON(out)
}

func (s *Server) getCommunity(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	id := param(c, "id")
	if !text(id, 100) {
		return telemetry.ErrNotFound
	}
	cm, err := s.store.GetCommunity(ctx, scopeOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(communityOf(cm))
}

// communityBody is POST /communities' body. The region is named by
// region_id or by region (its name); when both are sent they must agree.
type communityBody struct {
	Name          string  `json:"name"`
	RegionID      *int    `json:"region_id"`
	Region        *string `json:"region"`
	City          *string `json:"city"`
	Address       *string `json:"address"`
	ContactEmail  *string `json:"contact_email"`
	ContactPhone  *string `json:"contact_phone"`
	Status        *string `json:"status"`
	DistributorID *string `json:"distributor_id"`
	Slug          *string `json:"slug"`
}

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// postCommunity creates a community. A distributor files it under itself
// (a body naming another distributor is refused before anything is
// written); a superadmin may name any existing distributor, or none.
func (s *Server) postCommunity(c *fiber.Ctx) error {
	var b communityBody
	if err := decode(c, &b); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	cm, err := s.communityFrom(ctx, c, b)
	if err != nil {
		return err
	}
	if err := s.store.CreateCommunity(ctx, &cm); err != nil {
		return err
	}
	out := communityOf(cm)
	s.record(c, "community.create", "community", cm.ID, map[string]any{"after": out})
	return c.Status(fiber.StatusCreated).JSON(out)
}

// communityFrom validates a community body against the caller and the
// reference data; it writes nothing.
func (s *Server) communityFrom(ctx context.Context, c *fiber.Ctx, b communityBody) (telemetry.Community, error) {
	var v checks
	name := strings.TrimSpace(b.Name)
	v.check(name != "" && text(name, 200), "name", "is required: text of at most 200 bytes")
	for _, f := range []struct {
		field string
		value *string
	}{{"city", b.City}, {"address", b.Address}, {"contact_phone", b.ContactPhone}, {"region", b.Region}} {
		v.check(f.value == nil || text(*f.value, 500), f.field, "must be text of at most 500 bytes")
	}
	v.check(b.ContactEmail == nil || validEmail(*b.ContactEmail), "contact_email", "must be an email address")
	v.check(b.Status == nil || oneOf(*b.Status, "active", "inactive", "suspended"), "status", "must be active, inactive or suspended")
	v.check(b.Slug == nil || (len(*b.Slug) <= 80 && slugPattern.MatchString(*b.Slug)), "slug", "must be lower-case letters and digits joined by single hyphens, at most 80")
	cm := telemetry.Community{Name: name, City: trimmed(b.City), Address: trimmed(b.Address), ContactEmail: trimmed(b.ContactEmail),
		ContactPhone: trimmed(b.ContactPhone), Status: deref(b.Status), Slug: deref(b.Slug)}
	dist, err := s.communityDistributor(ctx, c, b.DistributorID)
	var fe *ValidationError
	switch {
	case errors.As(err, &fe):
		v = append(v, fe.Fields...)
	case err != nil:
		return cm, err
	}
	cm.DistributorID = dist
	if err := s.checkRegion(ctx, &v, b); err != nil {
		return cm, err
	}
	cm.RegionID, cm.Region = b.RegionID, trimmed(b.Region)
	return cm, v.err()
}

// communityDistributor is the distributor a new community is filed under.
func (s *Server) communityDistributor(ctx context.Context, c *fiber.Ctx, named *string) (*string, error) {
	p := principalOf(c)
	if p.Profile.Role != telemetry.RoleSuperadmin {
		own := p.Scope.DistributorID
		if named != nil && !strings.EqualFold(*named, own) {
			return nil, invalid("distributor_id", "must be your own distributor")
		}
		return &own, nil
	}
	if named == nil || *named == "" {
		return nil, nil
	}
	if uuid.Validate(*named) != nil {
		return nil, invalid("distributor_id", "must be a UUID")
	}
	d, err := s.store.GetDistributor(ctx, telemetry.Scope{All: true}, *named)
	if errors.Is(err, telemetry.ErrNotFound) {
		return nil, invalid("distributor_id", "no such distributor")
	}
	if err != nil {
		return nil, err
	}
	return &d.ID, nil
}

// checkRegion checks region_id and region against the regions.
func (s *Server) checkRegion(ctx context.Context, v *checks, b communityBody) error {
	if b.RegionID == nil && (b.Region == nil || strings.TrimSpace(*b.Region) == "") {
		return nil
	}
	regions, err := s.store.ListRegions(ctx)
	if err != nil {
		return err
	}
	var byID *telemetry.Region
	byName := false
	for i, r := range regions {
		if b.RegionID != nil && r.ID == *b.RegionID {
			byID = &regions[i]
		}
		if b.Region != nil && strings.EqualFold(r.Name, strings.TrimSpace(*b.Region)) {
			byName = true
		}
	}
	switch {
	case b.RegionID != nil && byID == nil:
		v.check(false, "region_id", "no such region")
	case b.RegionID != nil && b.Region != nil && !strings.EqualFold(byID.Name, strings.TrimSpace(*b.Region)):
		v.check(false, "region", "does not name the region of region_id")
	case b.RegionID == nil && !byName:
		v.check(false, "region", "no such region")
	}
	return nil
}

// text reports whether s fits in max bytes and holds no NUL (which
// PostgreSQL text cannot store).
func text(s string, max int) bool { return len(s) <= max && !strings.ContainsRune(s, 0) }

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// validEmail is a light check: one @ with text on both sides, no spaces.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return len(s) <= 254 && at > 0 && at < len(s)-1 && strings.Count(s, "@") == 1 && !strings.ContainsAny(s, " \t\r\n\x00")
}

// trimmed is a trimmed copy of an optional string; blank is nil.
func trimmed(p *string) *string {
	if p == nil || strings.TrimSpace(*p) == "" {
		return nil
	}
	t := strings.TrimSpace(*p)
	return &t
}
