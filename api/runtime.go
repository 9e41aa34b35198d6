package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Runtime is what the API needs from the device runtime (wired in
// internal/app over the cluster router).
type Runtime interface {
	// LiveData returns the cached reading of a node from its device actor,
	// on whichever member owns it; an error wraps telemetry.ErrUnavailable
	// when the device did not answer in time.
	LiveData(ctx context.Context, n telemetry.Node) (LiveData, error)
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

func (s *Server) runtimeRoutes() {
	if s.store != nil {
		for _, prefix := range []string{"/devices", "/nodes"} {
			s.handle(fiber.MethodGet, prefix+"/:id/live-data", PermNodeRead, "a node's latest reading, from its device actor", s.getLiveData)
		}
	}
	s.handle(fiber.MethodGet, "/cluster/stats", PermSystem, "every member's figures: devices, mailboxes, breakers, budget", s.getClusterStats)
}

// getLiveData answers from the device actor's cache: never an upstream call.
func (s *Server) getLiveData(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), liveDataTimeout)
	defer cancel()
	n, err := s.cachedNode(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	if n.ChannelID <= 0 { // no channel, no device: nothing live yet
		return c.JSON(LiveData{DeviceID: string(n.ID), Status: string(n.Status), Metrics: map[string]float64{}})
	}
	live, err := s.runtime.LiveData(ctx, n)
	if err != nil {
		return err
	}
	return c.JSON(live)
}

func (s *Server) getClusterStats(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterStatsTimeout)
	defer cancel()
	stats, err := s.runtime.ClusterStats(ctx)
	if err != nil {
		return err
	}
	return c.JSON(stats)
}

// nodeCacheTTL bounds how long a node's move to another tenant, or its
// deletion, takes to reach the live-data route of a replica that did not
// make the change (one that did forgets at once).
const nodeCacheTTL = 2 * time.Second

// cachedNode is GetNode through the node cache: the live-data route is the
// dashboard's hottest, and its answer comes from memory, so the lookup that
// checks the caller's scope must not be a query per request.
func (s *Server) cachedNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error) {
	key := scopeKey(scope) + "|" + idOrKey
	return s.nodes.get(ctx, key, func(ctx context.Context) (telemetry.Node, error) {
		return s.store.GetNode(ctx, scope, idOrKey)
	})
}

// scopeKey identifies a scope in cache keys.
func scopeKey(sc telemetry.Scope) string {
	switch {
	case sc.All:
		return "all"
	case sc.CustomerID != "":
		return "cu:" + sc.CustomerID
	case sc.CommunityID != "":
		return "co:" + sc.CommunityID
	case sc.DistributorID != "":
		return "di:" + sc.DistributorID
	}
	return "none"
}
