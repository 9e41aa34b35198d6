package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Runtime is what the API needs from the device runtime (wired in
// internal/app over the cluster router).
type Runtime interface {
	// LiveData returns the cached reading of a node given by id or
	// node_key, from its device actor on whichever member owns it; an
	// error wraps telemetry.ErrNotFound for an unknown node and
	// telemetry.ErrUnavailable when the device did not answer in time.
	LiveData(ctx context.Context, idOrKey string) (LiveData, error)
	// ClusterStats returns the figures of every member (JSON-encodable).
	ClusterStats(ctx context.Context) (any, error)
}

// LiveData is the dashboard's live-data shape (SPEC §7). Timestamp is nil
// and Metrics empty until the device has a reading.
type LiveData struct {
	DeviceID  string             `json:"device_id"`
	Timestamp *time.Time         `json:"timestamp"`
	EntryID   int64              `json:"entry_id"`
	Status    string             `json:"status"`
	Metrics   map[string]float64 `json:"metrics"`
}

// Deadlines of the runtime's routes: live data rides out a device handover
// (the router retries within it); stats wait for the slowest member.
const (
	liveDataTimeout     = 3 * time.Second
	clusterStatsTimeout = 5 * time.Second
)

func (s *Server) runtimeRoutes(rt Runtime) {
	if rt == nil {
		return
	}
	for _, prefix := range []string{"/api/v1/devices", "/api/v1/nodes"} {
		s.app.Get(prefix+"/:id/live-data", loopbackOnly, func(c *fiber.Ctx) error {
			ctx, cancel := context.WithTimeout(context.Background(), liveDataTimeout)
			defer cancel()
			live, err := rt.LiveData(ctx, c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(live)
		})
	}
	s.app.Get("/api/v1/cluster/stats", loopbackOnly, func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(context.Background(), clusterStatsTimeout)
		defer cancel()
		stats, err := rt.ClusterStats(ctx)
		if err != nil {
			return err
		}
		return c.JSON(stats)
	})
}

// loopbackOnly keeps a route to callers on this machine until the API
// issue puts authentication and scopes in front of it.
func loopbackOnly(c *fiber.Ctx) error {
	if !c.Context().RemoteIP().IsLoopback() {
		return fiber.NewError(fiber.StatusForbidden, "this endpoint is served on loopback only until authentication is configured")
	}
	return c.Next()
}
