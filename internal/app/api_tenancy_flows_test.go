package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// TestTenancyContracts compares the shapes of the auth, tenancy and user
// routes with their golden files, over real HTTP.
func TestTenancyContracts(t *testing.T) {
	e := newAPIEnv(t)
	fx := e.fx
	su, dist := fx.Tokens["superadmin"], fx.Tokens["distributor"]
	cases := []struct {
		golden, method, path, token string
		body                        any
		status, total               int // total: the X-Total-Count wanted, -1 for none
	}{
		{"auth_me", "GET", "/auth/me", fx.Tokens["community_admin"], nil, 200, -1},
		{"auth_sync", "POST", "/auth/sync", fx.Tokens["customer"], map[string]any{"display_name": "Asha R."}, 200, -1},
		{"tenancy_regions", "GET", "/regions", fx.Tokens["customer"], nil, 200, 20},
		{"tenancy_plans", "GET", "/plans", fx.Tokens["customer"], nil, 200, 3},
		{"tenancy_distributors", "GET", "/distributors", su, nil, 200, 2},
		{"tenancy_community", "GET", "/communities/green-meadows", fx.Tokens["customer"], nil, 200, -1},
		{"tenancy_communities_distributor", "GET", "/communities?q=green&limit=5", dist, nil, 200, 1},
		{"tenancy_community_create", "POST", "/communities", dist, map[string]any{"name": "Lake View Towers", "region": "kondapur",
			"city": "Hyderabad", "contact_email": "office@lakeview.example"}, 201, -1},
		{"tenancy_customer", "GET", "/customers/" + fx.CustA.ID, fx.Tokens["customer"], nil, 200, -1},
		{"tenancy_customers_community_admin", "GET", "/customers?limit=1&offset=1", fx.Tokens["community_admin"], nil, 200, 2},
		{"tenancy_customer_create", "POST", "/customers", fx.Tokens["community_admin"], map[string]any{"full_name": "Chitra Devi",
			"email": "chitra@example.com", "contact_number": "+91 90000 00000", "plan_id": "plus", "joining_date": "2026-03-01"}, 201, -1},
		{"tenancy_onboard_pending", "POST", "/customers/onboard", dist, map[string]any{"full_name": "Dev Patel",
			"email": "dev@example.com", "community_id": fx.CommA.ID}, 201, -1},
		{"tenancy_users_distributor", "GET", "/users", dist, nil, 200, 2},
		{"tenancy_role_change", "PUT", "/users/user-customer-a2/role", su, map[string]any{"role": "community_admin",
			"community_id": fx.CommA.ID, "distributor_id": fx.DistA.ID}, 200, -1},
		{"tenancy_error_422", "POST", "/communities", su, map[string]any{"name": "", "region_id": 999, "distributor_id": "nope"}, 422, -1},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			resp, raw := e.do(c.method, "/api/v1"+c.path, c.token, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, raw)
			}
			if got := resp.Header.Get("X-Total-Count"); c.total >= 0 && got != strconv.Itoa(c.total) {
				t.Errorf("X-Total-Count %q, want %d", got, c.total)
			}
			// Customers made by the fixture join today.
			golden(t, c.golden, raw, "correlation_id", today(c.golden))
		})
	}
}

// today names the field that holds today's date in a golden answer.
func today(golden string) string {
	switch golden {
	case "tenancy_customer", "tenancy_customers_community_admin", "tenancy_onboard_pending":
		return "joining_date"
	}
	return "correlation_id"
}

// TestAuthSyncCreatesCustomerOnce signs a new user in twice: one customer
// profile, created once, refreshed by the second sync; an invalid body
// changes nothing.
func TestAuthSyncCreatesCustomerOnce(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	tok := e.token("new-user-1", "new.user@example.com")
	var first, second map[string]any
	mustJSON(t, e.expect(200, "POST", "/api/v1/auth/sync", tok, nil), &first)
	mustJSON(t, e.expect(200, "POST", "/api/v1/auth/sync", tok, map[string]any{"display_name": "New User"}), &second)
	if first["role"] != "customer" || first["id"] != "new-user-1" || first["email"] != "new.user@example.com" {
		t.Errorf("first sync: %v, want a customer profile of new-user-1", first)
	}
	if second["created_at"] != first["created_at"] || second["display_name"] != "New User" {
		t.Errorf("second sync: %v, want the same profile with the new display name", second)
	}
	for _, bad := range []any{map[string]any{}, map[string]any{"display_name": "x", "role": "superadmin"}, "null"} {
		e.expect(422, "POST", "/api/v1/auth/sync", tok, bad)
	}
	var me map[string]any
	mustJSON(t, e.expect(200, "GET", "/api/v1/auth/me", tok, nil), &me)
	if me["role"] != "customer" || me["display_name"] != "New User" {
		t.Errorf("me after refused syncs: %v", me)
	}
	entries, err := e.store.ListAudit(ctx, telemetry.AuditFilter{UserID: "new-user-1"})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, a := range entries {
		counts[a.Action]++
	}
	if counts["user.create"] != 1 || counts["user.login"] != 2 {
		t.Errorf("audit of new-user-1: %v, want one user.create and two user.login", counts)
	}
}

// TestLogoutRevokesToken logs a token out: that token is refused on the
// next request, another token of the same user still works.
func TestLogoutRevokesToken(t *testing.T) {
	e := newAPIEnv(t)
	p := e.fx.Profile["customer"]
	tok, other := e.token(p.ID, *p.Email), e.token(p.ID, *p.Email)
	e.expect(200, "GET", "/api/v1/auth/me", tok, nil)
	e.expect(http.StatusNoContent, "POST", "/api/v1/auth/logout", tok, nil)
	expectUnauthorized(t, e, e.URL, tok)
	e.expect(200, "GET", "/api/v1/auth/me", other, nil)
	entries, err := e.store.ListAudit(context.Background(), telemetry.AuditFilter{UserID: p.ID, ResourceType: "user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "user.logout" || entries[0].Metadata["revoked"] != true {
		t.Errorf("latest audit entry of the user: %+v, want a user.logout that revoked", entries)
	}
}

// TestRoleChangeAuditedAndEffective promotes a customer login to community
// admin: audited with before and after, and its very next request sees the
// community.
func TestRoleChangeAuditedAndEffective(t *testing.T) {
	e := newAPIEnv(t)
	ctx, fx, su := context.Background(), e.fx, e.fx.Tokens["superadmin"]
	tok, p := e.user(ctx, "promoted", telemetry.RoleCustomer, "", "")
	if got := e.total("/api/v1/communities", tok); got != 0 {
		t.Fatalf("a customer without a customer sees %d communities", got)
	}
	path := "/api/v1/users/" + p.ID + "/role"
	body := map[string]any{"role": "community_admin", "community_id": fx.CommA.ID}
	e.expect(http.StatusForbidden, "PUT", path, fx.Tokens["distributor"], body)
	e.expect(200, "PUT", path, su, body)
	if got := e.total("/api/v1/communities", tok); got != 1 {
		t.Errorf("after the change the user sees %d communities, want 1", got)
	}
	entries, err := e.store.ListAudit(ctx, telemetry.AuditFilter{ResourceType: "user", ResourceID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	var change *telemetry.AuditEntry
	for i := range entries {
		if entries[i].Action == "role.change" {
			change = &entries[i]
		}
	}
	if change == nil || change.UserID != fx.Profile["superadmin"].ID {
		t.Fatalf("no role.change by the superadmin in %+v", entries)
	}
	before, _ := change.Metadata["before"].(map[string]any)
	after, _ := change.Metadata["after"].(map[string]any)
	if before["role"] != "customer" || after["role"] != "community_admin" || after["community_id"] != fx.CommA.ID {
		t.Errorf("role.change metadata %v", change.Metadata)
	}
	for name, tc := range map[string]struct {
		path   string
		body   any
		status int
	}{
		"distributor without distributor_id": {path, map[string]any{"role": "distributor"}, 422},
		"unknown distributor":                {path, map[string]any{"role": "distributor", "distributor_id": fx.CommA.ID}, 422},
		"malformed community":                {path, map[string]any{"role": "community_admin", "community_id": "x'--"}, 422},
		"community of another distributor": {path, map[string]any{"role": "community_admin", "community_id": fx.CommB.ID,
			"distributor_id": fx.DistA.ID}, 422},
		"unknown role":   {path, map[string]any{"role": "root"}, 422},
		"unknown user":   {"/api/v1/users/no-such-user/role", map[string]any{"role": "customer"}, 404},
		"own role":       {"/api/v1/users/" + fx.Profile["superadmin"].ID + "/role", map[string]any{"role": "customer"}, 422},
		"superadmin ids": {path, map[string]any{"role": "superadmin", "community_id": fx.CommA.ID}, 422},
	} {
		t.Run(name, func(t *testing.T) { e.expect(tc.status, "PUT", tc.path, su, tc.body) })
	}
	if got, err := e.store.GetProfile(ctx, p.ID); err != nil || got.Role != telemetry.RoleCommunityAdmin {
		t.Errorf("refused changes changed the profile: %+v, %v", got, err)
	}
}

// TestTenancyRefusesOutOfScopeBodies checks that bodies naming another
// tenant's distributor or community are refused and write nothing.
func TestTenancyRefusesOutOfScopeBodies(t *testing.T) {
	e := newAPIEnv(t)
	fx, su := e.fx, e.fx.Tokens["superadmin"]
	communities, customers := e.total("/api/v1/communities", su), e.total("/api/v1/customers", su)
	for name, tc := range map[string]struct {
		path, token string
		body        map[string]any
	}{
		"distributor files a community under another": {"/communities", fx.Tokens["distributor"],
			map[string]any{"name": "Stolen", "distributor_id": fx.DistB.ID}},
		"unknown region name":             {"/communities", su, map[string]any{"name": "Nowhere", "region": "Atlantis"}},
		"unknown region id":               {"/communities", su, map[string]any{"name": "Nowhere", "region_id": 999}},
		"region id and name":              {"/communities", su, map[string]any{"name": "Nowhere", "region_id": 1, "region": "Miyapur"}},
		"superadmin, no such distributor": {"/communities", su, map[string]any{"name": "Nowhere", "distributor_id": fx.CommA.ID}},
		"community admin, community B": {"/customers", fx.Tokens["community_admin"],
			map[string]any{"full_name": "Intruder", "community_id": fx.CommB.ID}},
		"distributor, community B": {"/customers", fx.Tokens["distributor"],
			map[string]any{"full_name": "Intruder", "community_id": fx.CommB.ID}},
		"distributor, no community": {"/customers", fx.Tokens["distributor"], map[string]any{"full_name": "Intruder"}},
		"onboard into community B": {"/customers/onboard", fx.Tokens["distributor"],
			map[string]any{"full_name": "Intruder", "email": "intruder@example.com", "community_id": fx.CommB.ID}},
		"another distributor than the community's": {"/customers", su,
			map[string]any{"full_name": "Mixed", "community_id": fx.CommA.ID, "distributor_id": fx.DistB.ID}},
		"malformed community": {"/customers", su, map[string]any{"full_name": "Bad", "community_id": "' OR 1=1 --"}},
		"unknown plan":        {"/customers", su, map[string]any{"full_name": "Bad", "community_id": fx.CommA.ID, "plan_id": "gold"}},
		"onboard a staff email": {"/customers/onboard", su,
			map[string]any{"full_name": "Staff", "email": "user-distributor@example.com", "community_id": fx.CommA.ID}},
		"onboard a linked login": {"/customers/onboard", su,
			map[string]any{"full_name": "Twice", "email": "user-customer@example.com", "community_id": fx.CommA.ID}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, raw := e.do("POST", "/api/v1"+tc.path, tc.token, tc.body)
			if resp.StatusCode != 422 && resp.StatusCode != 409 {
				t.Errorf("%d, want 422 or 409: %s", resp.StatusCode, raw)
			}
		})
	}
	if c, cu := e.total("/api/v1/communities", su), e.total("/api/v1/customers", su); c != communities || cu != customers {
		t.Errorf("refused bodies wrote: communities %d → %d, customers %d → %d", communities, c, customers, cu)
	}
	var created map[string]any
	mustJSON(t, e.expect(201, "POST", "/api/v1/communities", fx.Tokens["distributor"], map[string]any{"name": "Own"}), &created)
	if created["distributor_id"] != fx.DistA.ID {
		t.Errorf("a distributor's community is filed under %v, want its own %s", created["distributor_id"], fx.DistA.ID)
	}
}

// TestOnboardLinksLogins onboards a customer whose login exists (linked at
// once) and one whose login does not (linked at its first sign-in).
func TestOnboardLinksLogins(t *testing.T) {
	e := newAPIEnv(t)
	ctx, fx, admin := context.Background(), e.fx, e.fx.Tokens["community_admin"]
	signedIn, _ := e.user(ctx, "early-bird", telemetry.RoleCustomer, "", "")
	var now Onboarded
	mustJSON(t, e.expect(201, "POST", "/api/v1/customers/onboard", admin,
		map[string]any{"full_name": "Early Bird", "email": "Early-Bird@example.com"}), &now)
	if now.User == nil || now.User["id"] != "early-bird" || now.User["community_id"] != fx.CommA.ID {
		t.Fatalf("onboarding a signed-in customer: user %v, want early-bird filed under community A", now.User)
	}
	e.expect(200, "GET", "/api/v1/customers/"+now.Customer["id"].(string), signedIn, nil)

	var later Onboarded
	mustJSON(t, e.expect(201, "POST", "/api/v1/customers/onboard", admin,
		map[string]any{"full_name": "Late Comer", "email": "late@example.com"}), &later)
	if later.User != nil {
		t.Fatalf("onboarding an unknown email linked %v", later.User)
	}
	tok := e.token("late-comer-sub", "late@example.com")
	id := later.Customer["id"].(string)
	e.expect(404, "GET", "/api/v1/customers/"+id, tok, nil) // not linked before the sync
	var synced map[string]any
	mustJSON(t, e.expect(200, "POST", "/api/v1/auth/sync", tok, nil), &synced)
	if synced["community_id"] != fx.CommA.ID {
		t.Errorf("the login linked at sign-in is filed under %v, want community A", synced["community_id"])
	}
	e.expect(200, "GET", "/api/v1/customers/"+id, tok, nil)
	users := e.total("/api/v1/users", fx.Tokens["distributor"])
	if users != 4 { // the distributor, the community admin, and the two onboarded logins
		t.Errorf("the distributor sees %d users, want 4", users)
	}
}

// Onboarded is the onboard answer, loosely typed.
type Onboarded struct {
	Customer map[string]any `json:"customer"`
	User     map[string]any `json:"user"`
}

// total is a list's X-Total-Count.
func (e *apiEnv) total(path, token string) int {
	e.t.Helper()
	resp, raw := e.do("GET", path, token, nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d: %s", path, resp.StatusCode, raw)
	}
	n, err := strconv.Atoi(resp.Header.Get("X-Total-Count"))
	if err != nil {
		e.t.Fatalf("GET %s: X-Total-Count %q", path, resp.Header.Get("X-Total-Count"))
	}
	return n
}

// expectUnauthorized checks that tok is refused by the API at baseURL with
// 401 and code "unauthorized".
func expectUnauthorized(t *testing.T, e *apiEnv, baseURL, tok string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", baseURL+"/api/v1/auth/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var problem struct{ Code, Detail string }
	_ = json.NewDecoder(resp.Body).Decode(&problem)
	if resp.StatusCode != http.StatusUnauthorized || problem.Code != "unauthorized" {
		t.Errorf("%d %q (%s), want 401 unauthorized", resp.StatusCode, problem.Code, problem.Detail)
	}
}
