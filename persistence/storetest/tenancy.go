package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// TenancyStore covers plans, regions, distributors, communities, customers,
// user profiles, the audit log, system config and frontend errors.
type TenancyStore interface {
	ListPlans(ctx context.Context) ([]telemetry.Plan, error)
	GetPlan(ctx context.Context, id string) (telemetry.Plan, error)
	ListRegions(ctx context.Context) ([]telemetry.Region, error)
	CreateDistributor(ctx context.Context, d *telemetry.Distributor) error
	GetDistributor(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Distributor, error)
	ListDistributors(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.Distributor, int, error)
	CreateCommunity(ctx context.Context, c *telemetry.Community) error
	GetCommunity(ctx context.Context, scope telemetry.Scope, idOrSlug string) (telemetry.Community, error)
	ListCommunities(ctx context.Context, scope telemetry.Scope, f telemetry.CommunityFilter) ([]telemetry.Community, int, error)
	CreateCustomer(ctx context.Context, c *telemetry.Customer) error
	GetCustomer(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Customer, error)
	ListCustomers(ctx context.Context, scope telemetry.Scope, f telemetry.CustomerFilter) ([]telemetry.Customer, int, error)
	CountCustomerNodes(ctx context.Context, customerID string) (int, error)
	SyncProfile(ctx context.Context, sub, email, displayName string) (telemetry.UserProfile, bool, error)
	GetProfile(ctx context.Context, id string) (telemetry.UserProfile, error)
	GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error)
	ListProfiles(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.UserProfile, int, error)
	SetRole(ctx context.Context, id string, role telemetry.Role, distributorID, communityID string) (before, after telemetry.UserProfile, err error)
	PromoteByEmail(ctx context.Context, email string, role telemetry.Role) (telemetry.UserProfile, error)
	AppendAudit(ctx context.Context, e telemetry.AuditEntry) (telemetry.AuditEntry, error)
	ListAudit(ctx context.Context, f telemetry.AuditFilter) ([]telemetry.AuditEntry, error)
	GetSystemConfig(ctx context.Context, key string) (json.RawMessage, error)
	PutSystemConfig(ctx context.Context, key string, value json.RawMessage, updatedBy string) error
	InsertFrontendError(ctx context.Context, e telemetry.FrontendError) error
}

// tenWorld is two distributors, three communities, a customer with a login
// and a node in each community: D1 (Aqua) has Green Meadows (A) and Hill
// Crest (C), D2 (Blue Water) has Lake View (B).
type tenWorld struct {
	d1, d2     telemetry.Distributor
	a, b, c    telemetry.Community
	ca, cb, cc telemetry.Customer
	nodes      map[string]telemetry.NodeID // by customer name
}

func tenArrange(t *testing.T, s Store) tenWorld {
	t.Helper()
	ctx := context.Background()
	w := tenWorld{
		d1: telemetry.Distributor{Name: "Aqua Distributors"}, d2: telemetry.Distributor{Name: "Blue Water"},
		a: telemetry.Community{Name: "Green Meadows", RegionID: ptr(1)}, b: telemetry.Community{Name: "Lake View"},
		c: telemetry.Community{Name: "Hill Crest"}, nodes: map[string]telemetry.NodeID{},
	}
	tenMust(t, s.CreateDistributor(ctx, &w.d1), s.CreateDistributor(ctx, &w.d2))
	w.a.DistributorID, w.c.DistributorID, w.b.DistributorID = &w.d1.ID, &w.d1.ID, &w.d2.ID
	tenMust(t, s.CreateCommunity(ctx, &w.a), s.CreateCommunity(ctx, &w.b), s.CreateCommunity(ctx, &w.c))
	for _, x := range []struct {
		c           *telemetry.Customer
		name, login string
		comm        *telemetry.Community
	}{{&w.ca, "Asha Rao", "user-a", &w.a}, {&w.cb, "Bala Krishna", "user-b", &w.b}, {&w.cc, "Chitra Devi", "user-c", &w.c}} {
		_, _, errSync := s.SyncProfile(ctx, x.login, x.login+"@example.com", x.name)
		_, _, errRole := s.SetRole(ctx, x.login, telemetry.RoleCustomer, "", x.comm.ID)
		tenMust(t, errSync, errRole)
		*x.c = telemetry.Customer{FullName: x.name, Email: ptr(x.login + "@example.com"), CommunityID: &x.comm.ID, UserID: ptr(x.login)}
		tenMust(t, s.CreateCustomer(ctx, x.c))
		n := newNode("node-"+x.login, &x.comm.ID, &x.c.ID, x.c.DistributorID)
		tenMust(t, s.CreateNode(ctx, n))
		w.nodes[x.name] = n.ID
	}
	return w
}

func tenMust(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func tenIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func tenNames[T any](list []T, name func(T) string) []string {
	out := []string{}
	for _, v := range list {
		out = append(out, name(v))
	}
	return out
}

func testTenancy(t *testing.T, open Opener) {
	run := func(name string, test func(*testing.T, Store)) { t.Run(name, func(t *testing.T) { test(t, open(t)) }) }
	run("reference data", tenReferenceData)
	run("create and read back", tenReadBack)
	run("not found, conflicts, invalid references", tenErrors)
	run("communities: region by name and slugs", tenSlugs)
	run("scope: nobody sees another tenant's anything", tenScopes)
	run("lists: search, filters, pagination, node counts", tenLists)
	run("profiles: sync", tenSync)
	run("profiles: roles and promotion", tenRoles)
	run("audit log", tenAudit)
	run("system config and frontend errors", tenConfigAndFrontendErrors)
}

func tenErr[T any](_ T, err error) error { return err }

func tenVisible(t *testing.T, what string, visible bool, err error) {
	t.Helper()
	if visible && err != nil || !visible && !errors.Is(err, telemetry.ErrNotFound) {
		t.Errorf("get %s: visible %v, err %v", what, visible, err)
	}
}

func tenReferenceData(t *testing.T, s Store) {
	ctx := t.Context()
	plans, err := s.ListPlans(ctx)
	tenMust(t, err)
	want := []telemetry.Plan{{ID: "base", Name: "Base", MaxDevices: ptr(5), RetentionDays: 30},
		{ID: "plus", Name: "Plus", MaxDevices: ptr(20), RetentionDays: 90}, {ID: "pro", Name: "Pro", RetentionDays: 365}}
	if diff := cmp.Diff(want, plans); diff != "" {
		t.Errorf("plans (-want +got):\n%s", diff)
	}
	if pro, err := s.GetPlan(ctx, "pro"); err != nil || cmp.Diff(want[2], pro) != "" {
		t.Errorf("pro = %+v, %v", pro, err)
	}
	_, err = s.GetPlan(ctx, "gold")
	tenIs(t, "unknown plan", err, telemetry.ErrNotFound)
	regions, err := s.ListRegions(ctx)
	first, last := telemetry.Region{ID: 7, Name: "Ameerpet", City: "Hyderabad", State: "Telangana"}, telemetry.Region{ID: 12, Name: "Uppal", City: "Hyderabad", State: "Telangana"}
	if err != nil || len(regions) != 20 || regions[0] != first || regions[19] != last || !slices.ContainsFunc(regions, func(r telemetry.Region) bool {
		return r.ID == 1 && r.Name == "Gachibowli"
	}) {
		t.Errorf("regions, by name = %+v, %v", regions, err)
	}
}

func tenReadBack(t *testing.T, s Store) {
	ctx := t.Context()
	w := tenArrange(t, s)
	d, err := s.GetDistributor(ctx, everything, strings.ToUpper(w.d1.ID))
	if err != nil || w.d1.Status != "active" || cmp.Diff(w.d1, d) != "" {
		t.Errorf("distributor (-created +stored), %v:\n%s", err, cmp.Diff(w.d1, d))
	}
	w.a.NodeCount = 1 // the arranged node
	for _, key := range []string{w.a.ID, w.a.Slug} {
		got, err := s.GetCommunity(ctx, everything, key)
		if err != nil || w.a.Region == nil || *w.a.Region != "Gachibowli" || cmp.Diff(w.a, got) != "" {
			t.Errorf("GetCommunity(%s) (-created +stored), %v:\n%s", key, err, cmp.Diff(w.a, got))
		}
	}
	cu, err := s.GetCustomer(ctx, everything, w.ca.ID)
	w.ca.Devices = []telemetry.NodeID{w.nodes["Asha Rao"]}
	if err != nil || w.ca.DistributorID == nil || *w.ca.DistributorID != w.d1.ID || cmp.Diff(w.ca, cu) != "" {
		t.Errorf("customer (-created +stored), %v:\n%s", err, cmp.Diff(w.ca, cu))
	}
	late := time.Date(2025, 3, 9, 23, 30, 0, 0, time.FixedZone("IST", 19800)) // already the 10th in UTC
	joined := &telemetry.Customer{FullName: "Dev", JoiningDate: late, PlanID: "pro"}
	tenMust(t, s.CreateCustomer(ctx, joined))
	got, err := s.GetCustomer(ctx, everything, joined.ID)
	if err != nil || got.JoiningDate.Format(time.DateOnly) != "2025-03-09" || got.PlanID != "pro" || len(got.Devices) != 0 {
		t.Errorf("customer without community = %+v, %v", got, err)
	}
}

func tenErrors(t *testing.T, s Store) {
	ctx := t.Context()
	w := tenArrange(t, s)
	_, _, errRole := s.SetRole(ctx, "nobody", telemetry.RoleSuperadmin, "", "")
	_, _, errEmail := s.SyncProfile(ctx, "user-z", "USER-A@example.com", "")
	for name, tc := range map[string]struct{ err, want error }{
		"distributor":           {tenErr(s.GetDistributor(ctx, everything, newUUID())), telemetry.ErrNotFound},
		"distributor not an id": {tenErr(s.GetDistributor(ctx, everything, "aqua")), telemetry.ErrNotFound},
		"community slug":        {tenErr(s.GetCommunity(ctx, everything, "no-such-place")), telemetry.ErrNotFound},
		"community id":          {tenErr(s.GetCommunity(ctx, everything, newUUID())), telemetry.ErrNotFound},
		"customer":              {tenErr(s.GetCustomer(ctx, everything, newUUID())), telemetry.ErrNotFound},
		"customer not an id":    {tenErr(s.GetCustomer(ctx, everything, "asha")), telemetry.ErrNotFound},
		"nodes of no customer":  {tenErr(s.CountCustomerNodes(ctx, newUUID())), telemetry.ErrNotFound},
		"profile":               {tenErr(s.GetProfile(ctx, "nobody")), telemetry.ErrNotFound},
		"profile by email":      {tenErr(s.GetProfileByEmail(ctx, "nobody@example.com")), telemetry.ErrNotFound},
		"promote":               {tenErr(s.PromoteByEmail(ctx, "nobody@example.com", telemetry.RoleSuperadmin)), telemetry.ErrNotFound},
		"set role":              {errRole, telemetry.ErrNotFound},
		"config":                {tenErr(s.GetSystemConfig(ctx, "rate")), telemetry.ErrNotFound},
		"duplicate slug":        {s.CreateCommunity(ctx, &telemetry.Community{Name: "Other", Slug: w.a.Slug}), telemetry.ErrConflict},
		"login linked twice":    {s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", UserID: ptr("user-a")}), telemetry.ErrConflict},
		"email of another user": {errEmail, telemetry.ErrConflict},
	} {
		t.Run(name, func(t *testing.T) { tenIs(t, name, tc.err, tc.want) })
	}
	for name, err := range map[string]error{
		"distributor without name":   s.CreateDistributor(ctx, &telemetry.Distributor{Name: " "}),
		"distributor unknown region": s.CreateDistributor(ctx, &telemetry.Distributor{Name: "X", RegionID: ptr(99)}),
		"community unknown region":   s.CreateCommunity(ctx, &telemetry.Community{Name: "X", RegionID: ptr(99)}),
		"community region name":      s.CreateCommunity(ctx, &telemetry.Community{Name: "X", Region: ptr("Atlantis")}),
		"community huge region id":   s.CreateCommunity(ctx, &telemetry.Community{Name: "X", RegionID: ptr(1 << 20)}),
		"community bad slug":         s.CreateCommunity(ctx, &telemetry.Community{Name: "X", Slug: "Not A Slug"}),
		"community no distributor":   s.CreateCommunity(ctx, &telemetry.Community{Name: "X", DistributorID: ptr(newUUID())}),
		"customer other distributor": s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", CommunityID: &w.a.ID, DistributorID: &w.d2.ID}),
		"customer unknown community": s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", CommunityID: ptr(newUUID())}),
		"customer unknown plan":      s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", PlanID: "gold"}),
		"customer bad status":        s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", Status: "gone"}),
		"customer unknown login":     s.CreateCustomer(ctx, &telemetry.Customer{FullName: "X", UserID: ptr("ghost")}),
	} {
		t.Run(name, func(t *testing.T) { tenIs(t, name, err, telemetry.ErrInvalid) })
	}
}

func tenSlugs(t *testing.T, s Store) {
	ctx := t.Context()
	for i, tc := range []struct{ name, region, slug string }{
		{"Green Meadows", "hitec city", "green-meadows"},
		{"Green  Meadows!", "HITEC City", "green-meadows-2"},
		{"green meadows", "Madhapur", "green-meadows-3"},
		{"St. John's Colony", "Uppal", "st-johns-colony"},
		{"ग्रीन", "Uppal", "community"},
	} {
		c := &telemetry.Community{Name: tc.name, Region: ptr(tc.region)}
		tenMust(t, s.CreateCommunity(ctx, c))
		if c.Slug != tc.slug || c.RegionID == nil || (i < 2 && (*c.RegionID != 2 || *c.Region != "HITEC City")) {
			t.Errorf("%q in %q: slug %q, region %v %v", tc.name, tc.region, c.Slug, c.RegionID, c.Region)
		}
	}
}

// tenSees is what one scope lists: community slugs, customer names,
// distributor names, profile ids.
type tenSees struct{ Communities, Customers, Distributors, Profiles []string }

func tenScopes(t *testing.T, s Store) {
	w := tenArrange(t, s)
	none := []string{}
	for name, tc := range map[string]struct {
		scope telemetry.Scope
		sees  tenSees
	}{
		"superadmin": {everything, tenSees{[]string{"green-meadows", "hill-crest", "lake-view"},
			[]string{"Asha Rao", "Bala Krishna", "Chitra Devi"}, []string{"Aqua Distributors", "Blue Water"}, []string{"user-a", "user-b", "user-c"}}},
		"distributor 1": {telemetry.Scope{DistributorID: w.d1.ID}, tenSees{[]string{"green-meadows", "hill-crest"},
			[]string{"Asha Rao", "Chitra Devi"}, []string{"Aqua Distributors"}, []string{"user-a", "user-c"}}},
		"community admin A": {telemetry.Scope{CommunityID: w.a.ID}, tenSees{[]string{"green-meadows"}, []string{"Asha Rao"}, none, []string{"user-a"}}},
		"customer A":        {telemetry.Scope{CustomerID: w.ca.ID, CommunityID: w.a.ID}, tenSees{[]string{"green-meadows"}, []string{"Asha Rao"}, none, []string{"user-a"}}},
		"customer B":        {telemetry.Scope{CustomerID: w.cb.ID}, tenSees{[]string{"lake-view"}, []string{"Bala Krishna"}, none, []string{"user-b"}}},
		"nobody":            {telemetry.Scope{}, tenSees{none, none, none, none}},
	} {
		t.Run(name, func(t *testing.T) { tenCheckScope(t, s, w, tc.scope, tc.sees) })
	}
}

func tenCheckScope(t *testing.T, s Store, w tenWorld, scope telemetry.Scope, want tenSees) {
	ctx := t.Context()
	comms, nc, err1 := s.ListCommunities(ctx, scope, telemetry.CommunityFilter{})
	custs, ncu, err2 := s.ListCustomers(ctx, scope, telemetry.CustomerFilter{})
	dists, nd, err3 := s.ListDistributors(ctx, scope, telemetry.Page{})
	profs, np, err4 := s.ListProfiles(ctx, scope, telemetry.Page{})
	tenMust(t, err1, err2, err3, err4)
	got := tenSees{tenNames(comms, func(c telemetry.Community) string { return c.Slug }),
		tenNames(custs, func(c telemetry.Customer) string { return c.FullName }),
		tenNames(dists, func(d telemetry.Distributor) string { return d.Name }),
		tenNames(profs, func(p telemetry.UserProfile) string { return p.ID })}
	totals := []int{len(want.Communities), len(want.Customers), len(want.Distributors), len(want.Profiles)}
	if diff := cmp.Diff(want, got); diff != "" || cmp.Diff(totals, []int{nc, ncu, nd, np}) != "" {
		t.Errorf("lists (-want +got), totals %d %d %d %d:\n%s", nc, ncu, nd, np, diff)
	}
	for _, c := range []telemetry.Community{w.a, w.b, w.c} {
		_, err := s.GetCommunity(ctx, scope, c.ID)
		tenVisible(t, "community "+c.Slug, contains(want.Communities, c.Slug), err)
	}
	for _, d := range []telemetry.Distributor{w.d1, w.d2} {
		_, err := s.GetDistributor(ctx, scope, d.ID)
		tenVisible(t, "distributor "+d.Name, contains(want.Distributors, d.Name), err)
	}
	for _, c := range []telemetry.Customer{w.ca, w.cb, w.cc} {
		got, err := s.GetCustomer(ctx, scope, c.ID)
		tenVisible(t, "customer "+c.FullName, contains(want.Customers, c.FullName), err)
		if err == nil && cmp.Diff([]telemetry.NodeID{w.nodes[c.FullName]}, got.Devices) != "" {
			t.Errorf("devices of %s = %v", c.FullName, got.Devices)
		}
	}
	for _, c := range custs {
		if cmp.Diff([]telemetry.NodeID{w.nodes[c.FullName]}, c.Devices) != "" {
			t.Errorf("listed devices of %s = %v", c.FullName, c.Devices)
		}
	}
}

func tenLists(t *testing.T, s Store) {
	ctx := t.Context()
	w := tenArrange(t, s)
	for i := range 3 {
		tenMust(t, s.CreateNode(ctx, newNode(fmt.Sprintf("extra-%d", i), &w.a.ID, &w.ca.ID, &w.d1.ID)))
	}
	slugs := func(cs []telemetry.Community) []string {
		return tenNames(cs, func(c telemetry.Community) string { return c.Slug })
	}
	comms, total, err := s.ListCommunities(ctx, everything, telemetry.CommunityFilter{Page: telemetry.Page{Limit: 2, Offset: 1}})
	if err != nil || total != 3 || cmp.Diff([]string{"hill-crest", "lake-view"}, slugs(comms)) != "" {
		t.Errorf("community page %v (total %d), %v", slugs(comms), total, err)
	}
	found, total, err := s.ListCommunities(ctx, everything, telemetry.CommunityFilter{Query: "MEADOW"})
	if err != nil || total != 1 || found[0].NodeCount != 4 {
		t.Errorf("community search %+v (total %d), %v", found, total, err)
	}
	if none, _, err := s.ListCommunities(ctx, everything, telemetry.CommunityFilter{Query: "%"}); err != nil || len(none) != 0 {
		t.Errorf("a %% in the query must match itself: %v, %v", slugs(none), err)
	}
	custs, total, err := s.ListCustomers(ctx, everything, telemetry.CustomerFilter{Query: "EXAMPLE.com", Page: telemetry.Page{Limit: 1, Offset: 1}})
	if err != nil || total != 3 || len(custs) != 1 || custs[0].FullName != "Bala Krishna" {
		t.Errorf("customer page %+v (total %d), %v", custs, total, err)
	}
	custs, total, err = s.ListCustomers(ctx, telemetry.Scope{DistributorID: w.d1.ID}, telemetry.CustomerFilter{CommunityID: w.a.ID})
	if err != nil || total != 1 || len(custs[0].Devices) != 4 {
		t.Errorf("customers of A %+v (total %d), %v", custs, total, err)
	}
	if n, err := s.CountCustomerNodes(ctx, w.ca.ID); n != 4 || err != nil {
		t.Errorf("CountCustomerNodes = %d, %v", n, err)
	}
	_, _, err = s.ListCustomers(ctx, everything, telemetry.CustomerFilter{CommunityID: "green-meadows"})
	tenIs(t, "community filter not an id", err, telemetry.ErrInvalid)
	dists, total, err := s.ListDistributors(ctx, everything, telemetry.Page{Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(dists) != 1 || dists[0].Name != "Blue Water" {
		t.Errorf("distributor page %+v (total %d), %v", dists, total, err)
	}
	profs, total, err := s.ListProfiles(ctx, everything, telemetry.Page{Limit: 2})
	if err != nil || total != 3 || cmp.Diff([]string{"user-a", "user-b"}, tenNames(profs, func(p telemetry.UserProfile) string { return p.ID })) != "" {
		t.Errorf("profile page %+v (total %d), %v", profs, total, err)
	}
}

func tenSync(t *testing.T, s Store) {
	ctx := t.Context()
	w := tenArrange(t, s)
	p, created, err := s.SyncProfile(ctx, "sub-1", "Ravi@Example.com", "Ravi")
	if err != nil || !created || p.Role != telemetry.RoleCustomer || *p.Plan != "base" || *p.Email != "Ravi@Example.com" {
		t.Fatalf("first sync = %+v, %v, %v", p, created, err)
	}
	_, _, err = s.SetRole(ctx, "sub-1", telemetry.RoleCommunityAdmin, w.d1.ID, w.a.ID)
	tenMust(t, err)
	again, created, err := s.SyncProfile(ctx, "sub-1", "", "Ravi K")
	if err != nil || created || *again.Email != "Ravi@Example.com" || *again.DisplayName != "Ravi K" ||
		again.Role != telemetry.RoleCommunityAdmin || *again.CommunityID != w.a.ID || !again.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("later sync = %+v, %v, %v", again, created, err)
	}
	if byEmail, err := s.GetProfileByEmail(ctx, "RAVI@example.COM"); err != nil || byEmail.ID != "sub-1" {
		t.Errorf("by email = %+v, %v", byEmail, err)
	}
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := range 8 { // first logins racing (several tabs)
		wg.Go(func() {
			_, created, err := s.SyncProfile(ctx, "racer", "racer@example.com", fmt.Sprint("tab ", i))
			if err != nil {
				t.Error(err) // not Fatal: this is not the test's goroutine
			}
			if created {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("racing first logins: %d created, want 1", n)
	}
}

func tenRoles(t *testing.T, s Store) {
	ctx := t.Context()
	w := tenArrange(t, s)
	for name, tc := range map[string]struct {
		role       telemetry.Role
		dist, comm string
		want       error
	}{
		"distributor without one":        {role: telemetry.RoleDistributor, want: telemetry.ErrInvalid},
		"community admin without one":    {role: telemetry.RoleCommunityAdmin, dist: w.d1.ID, want: telemetry.ErrInvalid},
		"community of other distributor": {role: telemetry.RoleCommunityAdmin, dist: w.d2.ID, comm: w.a.ID, want: telemetry.ErrInvalid},
		"unknown role":                   {role: "owner", want: telemetry.ErrInvalid},
		"unknown distributor":            {role: telemetry.RoleDistributor, dist: newUUID(), want: telemetry.ErrInvalid},
		"distributor":                    {role: telemetry.RoleDistributor, dist: w.d2.ID},
	} {
		t.Run(name, func(t *testing.T) {
			before, after, err := s.SetRole(ctx, "user-b", tc.role, tc.dist, tc.comm)
			tenIs(t, name, err, tc.want)
			if tc.want == nil && (before.Role != telemetry.RoleCustomer || *before.CommunityID != w.b.ID ||
				after.Role != tc.role || *after.DistributorID != w.d2.ID || after.CommunityID != nil) {
				t.Errorf("before %+v, after %+v", before, after)
			}
		})
	}
	if stored, err := s.GetProfile(ctx, "user-b"); err != nil || stored.Role != telemetry.RoleDistributor {
		t.Errorf("role after the refused changes = %q, %v", stored.Role, err)
	}
	boss, err := s.PromoteByEmail(ctx, "USER-C@example.com", telemetry.RoleSuperadmin)
	if err != nil || boss.ID != "user-c" || boss.Role != telemetry.RoleSuperadmin {
		t.Errorf("promote = %+v, %v", boss, err)
	}
	_, err = s.PromoteByEmail(ctx, "user-c@example.com", "owner")
	tenIs(t, "promote to unknown role", err, telemetry.ErrInvalid)
}

func tenAudit(t *testing.T, s Store) {
	ctx := t.Context()
	var logged []telemetry.AuditEntry
	for i, e := range []telemetry.AuditEntry{
		{UserID: "u1", Action: "login"},
		{UserID: "u1", Action: "node.create", ResourceType: "node", ResourceID: "n1", Metadata: map[string]any{"label": "Tank 1", "n": 2.0}, RequestID: "r1"},
		{UserID: "u2", Action: "node.update", ResourceType: "node", ResourceID: "n1"},
		{UserID: "u2", Action: "role.change", ResourceType: "user", ResourceID: "u3", Metadata: map[string]any{"from": "customer", "to": "distributor"}},
		{Action: "permission.denied", ResourceType: "node", ResourceID: "n2"},
	} {
		got, err := s.AppendAudit(ctx, e)
		if err != nil || got.ID == 0 || got.Timestamp.IsZero() || (i > 0 && got.ID <= logged[i-1].ID) {
			t.Fatalf("append %d = %+v, %v", i, got, err)
		}
		logged = append(logged, got)
	}
	tenIs(t, "entry without action", tenErr(s.AppendAudit(ctx, telemetry.AuditEntry{UserID: "u1"})), telemetry.ErrInvalid)
	bad := telemetry.AuditEntry{Action: "x", Metadata: map[string]any{"bad": make(chan int)}}
	tenIs(t, "metadata that is no JSON", tenErr(s.AppendAudit(ctx, bad)), telemetry.ErrInvalid)
	newest := slices.Clone(logged)
	slices.Reverse(newest) // entries 4, 3, 2, 1, 0
	for name, tc := range map[string]struct {
		f    telemetry.AuditFilter
		want []telemetry.AuditEntry
	}{
		"all, newest first": {telemetry.AuditFilter{}, newest},
		"by user":           {telemetry.AuditFilter{UserID: "u1"}, newest[3:]},
		"by resource":       {telemetry.AuditFilter{ResourceType: "node", ResourceID: "n1"}, newest[2:4]},
		"page":              {telemetry.AuditFilter{Page: telemetry.Page{Limit: 2, Offset: 1}}, newest[1:3]},
		"since the first":   {telemetry.AuditFilter{Since: logged[0].Timestamp}, newest},
		"since later":       {telemetry.AuditFilter{Since: logged[4].Timestamp.Add(time.Hour)}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tc.f)
			if diff := cmp.Diff(tc.want, got); err != nil || diff != "" {
				t.Errorf("(-want +got), %v:\n%s", err, diff)
			}
		})
	}
	for _, q := range []string{"UPDATE audit_logs SET action_type = 'erased'", "DELETE FROM audit_logs"} {
		if _, err := s.DB().Exec(ctx, q); err == nil {
			t.Errorf("%q succeeded on the append-only log", q)
		}
	}
}

func tenConfigAndFrontendErrors(t *testing.T, s Store) {
	ctx := t.Context()
	_, _, err := s.SyncProfile(ctx, "admin", "admin@example.com", "")
	tenMust(t, err, s.PutSystemConfig(ctx, "rate", json.RawMessage(`{"rate": 30, "firmware": "1.2"}`), ""),
		s.PutSystemConfig(ctx, "rate", json.RawMessage(`{"rate": 60, "firmware": {"tank": "2.0"}}`), "admin"))
	raw, err := s.GetSystemConfig(ctx, "rate")
	var got map[string]any
	if err != nil || json.Unmarshal(raw, &got) != nil || cmp.Diff(map[string]any{"rate": 60.0, "firmware": map[string]any{"tank": "2.0"}}, got) != "" {
		t.Errorf("system config = %s, %v", raw, err)
	}
	tenIs(t, "config not JSON", s.PutSystemConfig(ctx, "rate", json.RawMessage(`{rate`), ""), telemetry.ErrInvalid)
	tenIs(t, "config by unknown user", s.PutSystemConfig(ctx, "rate", json.RawMessage(`1`), "ghost"), telemetry.ErrInvalid)

	huge := strings.Repeat("é", sqlcore.MaxFrontendStack) // two bytes a rune: most cuts fall inside one
	tenMust(t, s.InsertFrontendError(ctx, telemetry.FrontendError{Message: "x" + huge + "\x00", Stack: "\x00\xff" + huge,
		URL: "https://app.example.com/" + huge, UserAgent: huge, UserID: "user-\x00a"}))
	var msg, stack, url, agent, user string
	err = s.DB().QueryRow(ctx, "SELECT message, stack, url, user_agent, user_id FROM frontend_errors").Scan(&msg, &stack, &url, &agent, &user)
	tenMust(t, err)
	for v, bound := range map[string]int{msg: sqlcore.MaxFrontendMessage, stack: sqlcore.MaxFrontendStack, url: sqlcore.MaxFrontendURL, agent: sqlcore.MaxFrontendUserAgent} {
		if len(v) > bound || len(v) < bound-1 || !utf8.ValidString(v) {
			t.Errorf("stored field of %d bytes (bound %d), valid UTF-8 %v", len(v), bound, utf8.ValidString(v))
		}
	}
	if user != "user-a" || !strings.HasPrefix(stack, "\uFFFDé") {
		t.Errorf("user %q, stack starts %q", user, stack[:min(len(stack), 5)])
	}
}
