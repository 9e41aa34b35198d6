package app

import (
	"net/http"
	"testing"
)

// TestAPIGate checks the gate every dashboard call goes through: no token
// is 401, a node outside the caller's scope is 404, one inside answers.
func TestAPIGate(t *testing.T) {
	e := newAPIEnv(t)
	path := "/api/v1/devices/" + string(e.fx.NodeA.ID) + "/live-data"
	e.expect(http.StatusUnauthorized, http.MethodGet, path, "", nil)
	e.expect(http.StatusUnauthorized, http.MethodGet, path, "not-a-token", nil)
	e.expect(http.StatusNotFound, http.MethodGet, path, e.fx.Tokens["customer_b"], nil)
	e.expect(http.StatusNotFound, http.MethodGet, path, e.fx.Tokens["nobody"], nil)
	for _, who := range []string{"customer", "community_admin", "distributor", "superadmin"} {
		e.expect(http.StatusOK, http.MethodGet, path, e.fx.Tokens[who], nil)
	}
	e.expect(http.StatusForbidden, http.MethodGet, "/api/v1/cluster/stats", e.fx.Tokens["distributor"], nil)
	e.expect(http.StatusOK, http.MethodGet, "/api/v1/cluster/stats", e.fx.Tokens["superadmin"], nil)
}
