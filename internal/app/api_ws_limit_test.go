package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/evaratech/evara/internal/config"
)

// TestWebSocketUpgradesOfUsersSpareTheAddressLimit: with 3 anonymous
// calls a minute per address, eight dashboards of signed-in users behind
// one address all connect (each upgrade is charged to its user), while
// upgrades with a bad token are charged to the address and refused with
// 429 once it is spent.
func TestWebSocketUpgradesOfUsersSpareTheAddressLimit(t *testing.T) {
	e := newAPIEnv(t, func(c *config.Config) { c.API.AnonRate = 3 })
	url := "ws" + strings.TrimPrefix(e.URL, "http") + "/api/v1/ws/ws"
	dial := func(token string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wsPatience)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{token}})
		status := 0
		if resp != nil {
			status = resp.StatusCode
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		if conn != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "bye")
		}
		return status, err
	}
	users := []string{"superadmin", "distributor", "community_admin", "customer"}
	for i := range 8 {
		if status, err := dial(e.fx.Tokens[users[i%len(users)]]); err != nil {
			t.Fatalf("dashboard %d of a signed-in user: %v (status %d)", i, err, status)
		}
	}
	limited := 0
	for range 6 {
		status, _ := dial("not-a-token")
		if status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("6 upgrades with a bad token at 3 a minute per address: none refused with 429")
	}
}
