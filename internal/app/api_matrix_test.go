package app

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/evaratech/evara/api"
)

// matrixCase is one route of the table, called by each role of tenant A on
// an object of tenant A and on one of tenant B.
type matrixCase struct {
	Method, Route string // exactly as in the route table: "/nodes/:id"
	// Setup returns the concrete paths (under /api/v1) of an object the
	// caller's scope holds (in) and of one of tenant B (out; "" when the
	// route names no object). It runs before every call, so routes that
	// change or delete their object make a fresh one each time.
	Setup func(e *apiEnv, role string) (in, out string)
	// Body is a valid body for the in call (nil: none).
	Body func(e *apiEnv, role string) any
	// Allowed lists the roles that may call the route: they get Status on
	// in, and 404 on out (superadmins see tenant B: Status too); the other
	// roles get 403. An empty list means superadmin only.
	Allowed []string
	Status  int // the success status (default 200)
}

// matrixRoles are the callers of the matrix, all of tenant A.
var matrixRoles = []string{"superadmin", "distributor", "community_admin", "customer"}

// allRoles may call a route whatever their role.
var allRoles = matrixRoles

// matrixCases gathers the cases of every route group.
func matrixCases() []matrixCase {
	var all []matrixCase
	for _, group := range []func() []matrixCase{
		coreMatrix, nodeMatrix, tenancyMatrix, opsMatrix, analyticsMatrix, webhookMatrix,
	} {
		all = append(all, group()...)
	}
	return all
}

func coreMatrix() []matrixCase {
	live := func(e *apiEnv, _ string) (string, string) {
		return "/devices/" + string(e.fx.NodeA.ID) + "/live-data", "/devices/" + string(e.fx.NodeB.ID) + "/live-data"
	}
	liveNodes := func(e *apiEnv, _ string) (string, string) {
		return "/nodes/" + string(e.fx.NodeA.ID) + "/live-data", "/nodes/" + string(e.fx.NodeB.ID) + "/live-data"
	}
	return []matrixCase{
		{Method: "GET", Route: "/health", Setup: fixed("/health"), Allowed: allRoles},
		{Method: "GET", Route: "/version", Setup: fixed("/version"), Allowed: allRoles},
		{Method: "GET", Route: "/openapi.json", Setup: fixed("/openapi.json"), Allowed: allRoles},
		{Method: "GET", Route: "/devices/:id/live-data", Setup: live, Allowed: allRoles},
		{Method: "GET", Route: "/nodes/:id/live-data", Setup: liveNodes, Allowed: allRoles},
		{Method: "GET", Route: "/cluster/stats", Setup: fixed("/cluster/stats")},
		// Not an upgrade: 426 for everyone (the upgrade authenticates itself;
		// the WebSocket tests cover it).
		{Method: "GET", Route: "/ws/ws", Setup: fixed("/ws/ws"), Allowed: allRoles, Status: http.StatusUpgradeRequired},
		{Method: "GET", Route: "/ws/stats", Setup: fixed("/ws/stats")},
	}
}

// fixed is the Setup of a route without an object.
func fixed(path string) func(*apiEnv, string) (string, string) {
	return func(*apiEnv, string) (string, string) { return path, "" }
}

// TestAuthorizationMatrix runs every route of the table for each role with
// an object in its scope and one outside it, and checks the status; a
// route without a case fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	e := newAPIEnv(t)
	cases := map[string]matrixCase{}
	for _, c := range matrixCases() {
		key := c.Method + " " + c.Route
		if _, dup := cases[key]; dup {
			t.Errorf("two matrix cases for %s", key)
		}
		cases[key] = c
	}
	for _, r := range e.routes {
		key := r.Method + " " + r.Path
		c, ok := cases[key]
		if !ok {
			t.Errorf("route %s has no case in the authorization matrix", key)
			continue
		}
		delete(cases, key)
		t.Run(strings.TrimPrefix(key, " "), func(t *testing.T) { runMatrixCase(t, e, r, c) })
	}
	for key := range cases {
		t.Errorf("matrix case %s names no route of the table", key)
	}
}

func runMatrixCase(t *testing.T, e *apiEnv, r api.Route, c matrixCase) {
	ok := c.Status
	if ok == 0 {
		ok = http.StatusOK
	}
	allowed := c.Allowed
	if len(allowed) == 0 {
		allowed = []string{"superadmin"}
	}
	body := func(role string) any {
		if c.Body == nil {
			return nil
		}
		return c.Body(e, role)
	}
	if r.Perm != api.PermPublic {
		in, _ := c.Setup(e, "anonymous")
		if resp, raw := e.do(c.Method, "/api/v1"+in, "", body("anonymous")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("without a token: %d, want 401: %s", resp.StatusCode, raw)
		}
	}
	for _, role := range matrixRoles {
		in, out := c.Setup(e, role)
		want := http.StatusForbidden
		if slices.Contains(allowed, role) || r.Perm == api.PermPublic {
			want = ok
		}
		if resp, raw := e.do(c.Method, "/api/v1"+in, e.fx.Tokens[role], body(role)); resp.StatusCode != want {
			t.Errorf("%s on its own object %s: %d, want %d: %s", role, in, resp.StatusCode, want, truncate(raw))
		}
		if out == "" {
			continue
		}
		if want == ok && role != "superadmin" {
			want = http.StatusNotFound
		}
		if resp, raw := e.do(c.Method, "/api/v1"+out, e.fx.Tokens[role], body(role)); resp.StatusCode != want {
			t.Errorf("%s on tenant B's object %s: %d, want %d: %s", role, out, resp.StatusCode, want, truncate(raw))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
