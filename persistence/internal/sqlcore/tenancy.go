package sqlcore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// ListPlans returns the plans, shortest retention first.
func (s *Store) ListPlans(ctx context.Context) ([]telemetry.Plan, error) {
	return queryAll(ctx, s, "plan", `SELECT id, name, max_devices, retention_days FROM plans ORDER BY retention_days, id`, nil, scanPlan)
}

// GetPlan returns the plan with this id.
func (s *Store) GetPlan(ctx context.Context, id string) (telemetry.Plan, error) {
	p, err := scanPlan(s.db.QueryRow(ctx, s.q(`SELECT id, name, max_devices, retention_days FROM plans WHERE id = $1`), id))
	return p, s.translate(err, "plan")
}

func scanPlan(r Row) (telemetry.Plan, error) {
	var p telemetry.Plan
	err := r.Scan(&p.ID, &p.Name, &p.MaxDevices, &p.RetentionDays)
	return p, err
}

// ListRegions returns every region, by name.
func (s *Store) ListRegions(ctx context.Context) ([]telemetry.Region, error) {
	return queryAll(ctx, s, "region", `SELECT id, name, city, state FROM regions ORDER BY lower(name), city, id`, nil, scanRegion)
}

func scanRegion(r Row) (telemetry.Region, error) {
	var g telemetry.Region
	err := r.Scan(&g.ID, &g.Name, &g.City, &g.State)
	return g, err
}

// regionArg checks a region id before it reaches the driver: PostgreSQL's
// smallint would otherwise fail in the encoder, not as a constraint.
func regionArg(id *int) (any, error) {
	if id == nil {
		return nil, nil
	}
	if *id < 1 || *id > 32767 {
		return nil, errors.Join(telemetry.ErrInvalid, errors.New("unknown region "+strconv.Itoa(*id)))
	}
	return *id, nil
}

const distributorColumns = `d.id, d.name, d.contact_email, d.contact_phone, d.region_id, d.status, d.created_at, d.updated_at`

func scanDistributor(r Row) (telemetry.Distributor, error) {
	var d telemetry.Distributor
	err := r.Scan(S(&d.ID), &d.Name, &d.ContactEmail, &d.ContactPhone, &d.RegionID, &d.Status, T(&d.CreatedAt), T(&d.UpdatedAt))
	return d, err
}

// distributorScope keeps a distributor row (alias d) within scope: a
// distributor sees itself, a superadmin every distributor, anyone else none.
func distributorScope(scope telemetry.Scope, a *args) string {
	switch {
	case scope.All:
		return "1 = 1"
	case scope.DistributorID != "":
		return "d.id = " + a.add(scope.DistributorID)
	}
	return "1 = 0"
}

// CreateDistributor stores a new distributor and fills in its id, status
// and timestamps.
func (s *Store) CreateDistributor(ctx context.Context, d *telemetry.Distributor) error {
	region, err := regionArg(d.RegionID)
	if err != nil {
		return err
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	if d.Status == "" {
		d.Status = "active"
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err = s.db.Exec(ctx, s.q(`INSERT INTO distributors (id, name, contact_email, contact_phone, region_id, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`),
		d.ID, d.Name, Opt(d.ContactEmail), Opt(d.ContactPhone), region, d.Status, s.d.Time(now))
	if err != nil {
		return s.translate(err, "distributor")
	}
	d.CreatedAt, d.UpdatedAt = now, now
	return nil
}

// GetDistributor returns the distributor with this id if it is in scope.
func (s *Store) GetDistributor(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Distributor, error) {
	if !looksLikeUUID(id) {
		return telemetry.Distributor{}, telemetry.ErrNotFound
	}
	var a args
	cond := where{"d.id = " + a.add(strings.ToLower(id)), distributorScope(scope, &a)}
	d, err := scanDistributor(s.db.QueryRow(ctx, s.q("SELECT "+distributorColumns+" FROM distributors d"+cond.String()), a...))
	return d, s.translate(err, "distributor")
}

// ListDistributors returns one page of the distributors in scope, by name,
// and how many there are.
func (s *Store) ListDistributors(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.Distributor, int, error) {
	var a args
	cond := where{distributorScope(scope, &a)}
	total, err := s.tenancyCount(ctx, "distributor", "SELECT count(*) FROM distributors d"+cond.String(), a)
	if err != nil {
		return nil, 0, err
	}
	page = page.Normalize()
	query := "SELECT " + distributorColumns + " FROM distributors d" + cond.String() +
		" ORDER BY lower(d.name), d.id LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	out, err := queryAll(ctx, s, "distributor", query, a, scanDistributor)
	return out, total, err
}

const communityColumns = `c.id, c.name, c.region_id, r.name, c.city, c.address, c.contact_email, c.contact_phone, c.status,
	c.distributor_id, c.slug, (SELECT count(*) FROM nodes n WHERE n.community_id = c.id), c.created_at`

const communityFrom = ` FROM communities c LEFT JOIN regions r ON r.id = c.region_id`

func scanCommunity(r Row) (telemetry.Community, error) {
	var c telemetry.Community
	err := r.Scan(S(&c.ID), &c.Name, &c.RegionID, &c.Region, &c.City, &c.Address, &c.ContactEmail, &c.ContactPhone, &c.Status,
		NS(&c.DistributorID), &c.Slug, &c.NodeCount, T(&c.CreatedAt))
	return c, err
}

// communityScope keeps a community row (alias c) within scope: a customer
// and a community admin see their own community, a distributor its
// communities.
func communityScope(scope telemetry.Scope, a *args) string {
	return ownership{
		customerMatch: func(p string) string { return "c.id = (SELECT community_id FROM customers WHERE id = " + p + ")" },
		community:     "c.id",
	}.condition(scope, a)
}

// CreateCommunity stores a new community and fills in its id, status,
// region, slug and created_at. The region is named by RegionID or, when
// that is nil, by Region (its name, case-insensitive; City settles a name
// found in several cities); an unknown region is ErrInvalid. Without a
// Slug one is made from the name, unique among communities; a Slug given
// and taken is ErrConflict.
func (s *Store) CreateCommunity(ctx context.Context, c *telemetry.Community) error {
	if err := s.resolveRegion(ctx, c); err != nil {
		return err
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.Status == "" {
		c.Status = "active"
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	generate := c.Slug == ""
	const attempts = 5 // a generated slug collides only when another create races for it
	for attempt := 1; ; attempt++ {
		if generate {
			slug, err := s.freeSlug(ctx, slugify(c.Name))
			if err != nil {
				return err
			}
			c.Slug = slug
		}
		_, err := s.db.Exec(ctx, s.q(`INSERT INTO communities (id, name, region_id, city, address, contact_email, contact_phone,
			status, distributor_id, slug, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
			c.ID, c.Name, Opt(c.RegionID), Opt(c.City), Opt(c.Address), Opt(c.ContactEmail), Opt(c.ContactPhone),
			c.Status, Opt(c.DistributorID), c.Slug, s.d.Time(now))
		if err == nil {
			break
		}
		if !generate || attempt == attempts || !s.d.IsUniqueViolation(err) {
			return s.translate(err, "community")
		}
	}
	c.CreatedAt, c.NodeCount = now, 0
	return nil
}

// resolveRegion checks the community's region and fills in both its id and
// its name.
func (s *Store) resolveRegion(ctx context.Context, c *telemetry.Community) error {
	var (
		a    args
		cond where
	)
	switch {
	case c.RegionID != nil:
		if _, err := regionArg(c.RegionID); err != nil {
			return err
		}
		cond = where{"id = " + a.add(*c.RegionID)}
	case c.Region != nil && strings.TrimSpace(*c.Region) != "":
		cond = where{"lower(name) = lower(" + a.add(strings.TrimSpace(*c.Region)) + ")"}
		if c.City != nil && *c.City != "" {
			cond = append(cond, "lower(city) = lower("+a.add(*c.City)+")")
		}
	default:
		c.Region = nil
		return nil
	}
	found, err := queryAll(ctx, s, "region", "SELECT id, name, city, state FROM regions"+cond.String()+" ORDER BY id LIMIT 2", a, scanRegion)
	switch {
	case err != nil:
		return err
	case len(found) == 0:
		return errors.Join(telemetry.ErrInvalid, errors.New("unknown region"))
	case len(found) > 1:
		return errors.Join(telemetry.ErrInvalid, errors.New("region name is in several cities: give the city or region_id"))
	}
	c.RegionID, c.Region = &found[0].ID, &found[0].Name
	return nil
}

// maxSlugBase bounds a generated slug before its "-N" suffix.
const maxSlugBase = 60

// slugify makes a URL name from a community name: lower-case ASCII letters
// and digits, words joined by single hyphens ("Green Meadows, Phase 2" →
// "green-meadows-phase-2"); apostrophes vanish ("St. John's" → "st-johns").
func slugify(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if gap && b.Len() > 0 {
				b.WriteByte('-')
			}
			gap = false
			b.WriteRune(r)
		case r == '\'' || r == '’':
		default:
			gap = true
		}
		if b.Len() >= maxSlugBase {
			break
		}
	}
	if b.Len() == 0 {
		return "community" // a name with no ASCII letter or digit
	}
	return b.String()
}

// freeSlug returns base, or base-2, base-3… whichever is free first.
func (s *Store) freeSlug(ctx context.Context, base string) (string, error) {
	taken := map[string]bool{}
	_, err := queryAll(ctx, s, "community", `SELECT slug FROM communities WHERE slug = $1 OR slug LIKE $2`,
		args{base, base + "-%"}, func(r Row) (string, error) {
			var slug string
			err := r.Scan(&slug)
			taken[slug] = true
			return slug, err
		})
	if err != nil {
		return "", err
	}
	slug := base
	for n := 2; taken[slug]; n++ {
		slug = base + "-" + strconv.Itoa(n)
	}
	return slug, nil
}

// GetCommunity returns the community with this id or slug if it is in scope.
func (s *Store) GetCommunity(ctx context.Context, scope telemetry.Scope, idOrSlug string) (telemetry.Community, error) {
	var a args
	cond := where{communityScope(scope, &a)}
	if looksLikeUUID(idOrSlug) {
		cond = append(cond, "c.id = "+a.add(strings.ToLower(idOrSlug)))
	} else {
		cond = append(cond, "c.slug = "+a.add(strings.ToLower(idOrSlug))) // slugs are lower-case
	}
	c, err := scanCommunity(s.db.QueryRow(ctx, s.q("SELECT "+communityColumns+communityFrom+cond.String()), a...))
	return c, s.translate(err, "community")
}

// ListCommunities returns one page of the communities in scope that match
// f, by name, each with its node count, and how many match.
func (s *Store) ListCommunities(ctx context.Context, scope telemetry.Scope, f telemetry.CommunityFilter) ([]telemetry.Community, int, error) {
	var a args
	cond := where{communityScope(scope, &a)}
	if f.Query != "" {
		p := a.add("%" + escapeLike(f.Query) + "%")
		cond = append(cond, "(c.name {ILIKE} "+p+" ESCAPE '\\' OR c.slug {ILIKE} "+p+" ESCAPE '\\' OR c.city {ILIKE} "+p+" ESCAPE '\\')")
	}
	total, err := s.tenancyCount(ctx, "community", "SELECT count(*) FROM communities c"+cond.String(), a)
	if err != nil {
		return nil, 0, err
	}
	page := f.Page.Normalize()
	query := "SELECT " + communityColumns + communityFrom + cond.String() +
		" ORDER BY lower(c.name), c.id LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	out, err := queryAll(ctx, s, "community", query, a, scanCommunity)
	return out, total, err
}

const customerColumns = `cu.id, cu.full_name, cu.display_name, cu.email, cu.contact_number, cu.community_id,
	cu.distributor_id, cu.plan_id, cu.status, cu.joining_date, cu.user_id, cu.created_at`

func scanCustomer(r Row) (telemetry.Customer, error) {
	var c telemetry.Customer
	err := r.Scan(S(&c.ID), &c.FullName, &c.DisplayName, &c.Email, &c.ContactNumber, NS(&c.CommunityID),
		NS(&c.DistributorID), &c.PlanID, &c.Status, T(&c.JoiningDate), NS(&c.UserID), T(&c.CreatedAt))
	return c, err
}

// customerScope keeps a customer row (alias cu) within scope, as nodeScope
// does for nodes: a customer sees itself, a community admin its
// community's customers, a distributor those of its communities.
func customerScope(scope telemetry.Scope, a *args) string {
	return ownership{customerMatch: equals("cu.id"), community: "cu.community_id", distributor: "cu.distributor_id"}.condition(scope, a)
}

// CreateCustomer stores a new customer and fills in its id, defaults,
// distributor (its community's, when not given) and created_at. A
// community of another distributor, an unknown community, plan or login
// are ErrInvalid; a login already linked to a customer is ErrConflict.
// JoiningDate is taken as a date in its own location (zero: today, UTC).
func (s *Store) CreateCustomer(ctx context.Context, c *telemetry.Customer) error {
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.PlanID == "" {
		c.PlanID = "base"
	}
	if c.Status == "" {
		c.Status = "active"
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if c.JoiningDate.IsZero() {
		c.JoiningDate = now
	}
	day := c.JoiningDate.Format(time.DateOnly)
	err := s.db.QueryRow(ctx, s.q(`INSERT INTO customers (id, full_name, display_name, email, contact_number, community_id,
		distributor_id, plan_id, status, joining_date, user_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, (SELECT distributor_id FROM communities WHERE id = $6)), $8, $9, $10, $11, $12)
		RETURNING distributor_id`),
		c.ID, c.FullName, Opt(c.DisplayName), Opt(c.Email), Opt(c.ContactNumber), Opt(c.CommunityID),
		Opt(c.DistributorID), c.PlanID, c.Status, day, Opt(c.UserID), s.d.Time(now)).Scan(NS(&c.DistributorID))
	if err != nil {
		return s.translate(err, "customer")
	}
	c.JoiningDate, _ = time.Parse(time.DateOnly, day)
	c.CreatedAt, c.Devices = now, []telemetry.NodeID{}
	return nil
}

// GetCustomer returns the customer with this id if it is in scope, with
// the ids of its nodes that the scope may see.
func (s *Store) GetCustomer(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Customer, error) {
	if !looksLikeUUID(id) {
		return telemetry.Customer{}, telemetry.ErrNotFound
	}
	var a args
	cond := where{"cu.id = " + a.add(strings.ToLower(id)), customerScope(scope, &a)}
	c, err := scanCustomer(s.db.QueryRow(ctx, s.q("SELECT "+customerColumns+" FROM customers cu"+cond.String()), a...))
	if err != nil {
		return telemetry.Customer{}, s.translate(err, "customer")
	}
	list := []telemetry.Customer{c}
	err = s.attachDevices(ctx, scope, list)
	return list[0], err
}

// ListCustomers returns one page of the customers in scope that match f,
// by name, with their devices, and how many match.
func (s *Store) ListCustomers(ctx context.Context, scope telemetry.Scope, f telemetry.CustomerFilter) ([]telemetry.Customer, int, error) {
	var a args
	cond := where{customerScope(scope, &a)}
	if f.CommunityID != "" {
		if !looksLikeUUID(f.CommunityID) {
			return nil, 0, errors.Join(telemetry.ErrInvalid, errors.New("community_id is not a UUID"))
		}
		cond = append(cond, "cu.community_id = "+a.add(strings.ToLower(f.CommunityID)))
	}
	if f.Query != "" {
		p := a.add("%" + escapeLike(f.Query) + "%")
		var or []string
		for _, col := range []string{"cu.full_name", "cu.display_name", "cu.email", "cu.contact_number"} {
			or = append(or, col+" {ILIKE} "+p+" ESCAPE '\\'")
		}
		cond = append(cond, "("+strings.Join(or, " OR ")+")")
	}
	total, err := s.tenancyCount(ctx, "customer", "SELECT count(*) FROM customers cu"+cond.String(), a)
	if err != nil {
		return nil, 0, err
	}
	page := f.Page.Normalize()
	query := "SELECT " + customerColumns + " FROM customers cu" + cond.String() +
		" ORDER BY lower(cu.full_name), cu.id LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	out, err := queryAll(ctx, s, "customer", query, a, scanCustomer)
	if err != nil {
		return nil, 0, err
	}
	return out, total, s.attachDevices(ctx, scope, out)
}

// attachDevices fills in the Devices of customers with one query for all of
// them, keeping only nodes the scope may see.
func (s *Store) attachDevices(ctx context.Context, scope telemetry.Scope, customers []telemetry.Customer) error {
	if len(customers) == 0 {
		return nil
	}
	var a args
	index := make(map[string]int, len(customers))
	in := make([]string, len(customers))
	for i := range customers {
		customers[i].Devices = []telemetry.NodeID{}
		index[customers[i].ID] = i
		in[i] = a.add(customers[i].ID)
	}
	rows, err := s.db.Query(ctx, s.q("SELECT n.customer_id, n.id FROM nodes n WHERE n.customer_id IN ("+strings.Join(in, ", ")+
		") AND "+nodeScope(scope, &a)+" ORDER BY n.id"), a...)
	if err != nil {
		return s.translate(err, "node")
	}
	defer rows.Close()
	for rows.Next() {
		var customer, node string
		if err := rows.Scan(S(&customer), S(&node)); err != nil {
			return err
		}
		if i, ok := index[customer]; ok {
			customers[i].Devices = append(customers[i].Devices, telemetry.NodeID(node))
		}
	}
	return rows.Err()
}

// CountCustomerNodes counts all nodes of a customer, whoever filed them
// (the plan's device quota).
func (s *Store) CountCustomerNodes(ctx context.Context, customerID string) (int, error) {
	if !looksLikeUUID(customerID) {
		return 0, telemetry.ErrNotFound
	}
	var n int
	err := s.db.QueryRow(ctx, s.q(`SELECT (SELECT count(*) FROM nodes n WHERE n.customer_id = cu.id) FROM customers cu WHERE cu.id = $1`),
		strings.ToLower(customerID)).Scan(&n)
	return n, s.translate(err, "customer")
}

// tenancyCount runs a count(*) query.
func (s *Store) tenancyCount(ctx context.Context, what, query string, a args) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, s.q(query), a...).Scan(&n)
	return n, s.translate(err, what)
}

// CustomerIDForUser returns the id of the customer linked to the login
// userID (users_profiles id), ErrNotFound when none is.
func (s *Store) CustomerIDForUser(ctx context.Context, userID string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, s.q(`SELECT id FROM customers WHERE user_id = $1`), userID).Scan(S(&id))
	return id, s.translate(err, "customer")
}
