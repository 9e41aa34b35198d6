package app

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/evaratech/evara/internal/telemetry"
)

// tenancyMatrix is the authorization matrix of its route group: the auth
// routes, tenancy (regions, plans, distributors, communities, customers)
// and users.
//
// POST /auth/logout revokes the token it is called with, and the matrix
// calls every route with the fixture's tokens. Its Setup therefore puts a
// throwaway token of the same user in the fixture for the call, and the
// next Setup of this group (logout's own for the next role, then
// GET /auth/me's, which follows it in the route table) puts the fixture's
// token back.
func tenancyMatrix() []matrixCase {
	swapped := map[string]string{} // role → its fixture token, while a throwaway one is logged out
	restore := func(e *apiEnv) {
		for role, tok := range swapped {
			e.fx.Tokens[role] = tok
			delete(swapped, role)
		}
	}
	var seq atomic.Int64 // unique names for created objects
	next := func() int64 { return seq.Add(1) }
	all := func(path string) func(*apiEnv, string) (string, string) {
		return func(e *apiEnv, _ string) (string, string) { restore(e); return path, "" }
	}
	managers := []string{"superadmin", "distributor", "community_admin"}
	return []matrixCase{
		{Method: "POST", Route: "/auth/sync", Setup: all("/auth/sync"), Allowed: allRoles},
		{Method: "GET", Route: "/auth/me", Setup: all("/auth/me"), Allowed: allRoles},
		{Method: "POST", Route: "/auth/logout", Allowed: allRoles, Status: http.StatusNoContent,
			Setup: func(e *apiEnv, role string) (string, string) {
				restore(e)
				if p, ok := e.fx.Profile[role]; ok {
					swapped[role] = e.fx.Tokens[role]
					e.fx.Tokens[role] = e.token(p.ID, tenancyStr(p.Email))
				}
				return "/auth/logout", ""
			}},
		{Method: "GET", Route: "/regions", Setup: all("/regions"), Allowed: allRoles},
		{Method: "GET", Route: "/plans", Setup: all("/plans"), Allowed: allRoles},
		{Method: "GET", Route: "/distributors", Setup: all("/distributors"), Allowed: []string{"superadmin", "distributor"}},
		{Method: "GET", Route: "/communities", Setup: all("/communities"), Allowed: allRoles},
		{Method: "POST", Route: "/communities", Setup: all("/communities"), Allowed: []string{"superadmin", "distributor"},
			Status: http.StatusCreated, Body: func(*apiEnv, string) any {
				return map[string]any{"name": fmt.Sprint("Matrix Community ", next()), "region": "Gachibowli"}
			}},
		{Method: "GET", Route: "/communities/:id", Allowed: allRoles, Setup: func(e *apiEnv, _ string) (string, string) {
			return "/communities/" + e.fx.CommA.ID, "/communities/" + e.fx.CommB.ID
		}},
		{Method: "GET", Route: "/customers", Setup: all("/customers"), Allowed: allRoles},
		{Method: "POST", Route: "/customers", Setup: all("/customers"), Allowed: managers, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any {
				return map[string]any{"full_name": fmt.Sprint("Matrix Customer ", next()), "community_id": e.fx.CommA.ID}
			}},
		{Method: "POST", Route: "/customers/onboard", Setup: all("/customers/onboard"), Allowed: managers, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any {
				n := next()
				return map[string]any{"full_name": fmt.Sprint("Onboarded ", n), "email": fmt.Sprintf("onboarded-%d@example.com", n),
					"community_id": e.fx.CommA.ID}
			}},
		{Method: "GET", Route: "/customers/:id", Allowed: allRoles, Setup: func(e *apiEnv, _ string) (string, string) {
			return "/customers/" + e.fx.CustA.ID, "/customers/" + e.fx.CustB.ID
		}},
		{Method: "GET", Route: "/users", Setup: all("/users"), Allowed: []string{"superadmin", "distributor"}},
		{Method: "PUT", Route: "/users/:id/role", Setup: func(e *apiEnv, _ string) (string, string) {
			// Fresh users each call: the change must not touch the fixture's.
			ctx, n := context.Background(), next()
			_, in := e.user(ctx, fmt.Sprint("matrix-a-", n), telemetry.RoleCustomer, "", "")
			_, out := e.user(ctx, fmt.Sprint("matrix-b-", n), telemetry.RoleCommunityAdmin, "", e.fx.CommB.ID)
			return "/users/" + in.ID + "/role", "/users/" + out.ID + "/role"
		}, Body: func(e *apiEnv, _ string) any {
			return map[string]any{"role": "community_admin", "community_id": e.fx.CommA.ID}
		}},
	}
}

// tenancyStr is *p, or "" for nil.
func tenancyStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
