package api

import (
	"context"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// dashboardStatsTTL bounds how stale the dashboard's figures may be on a
// replica: every browser polls them, and with 10,000 nodes the counts are
// a scan per scope, so each scope's figures are computed once per period.
const dashboardStatsTTL = 2 * time.Second

func (s *Server) dashboardRoutes() {
	s.dashStats = newTTLCache[dashboardStats](dashboardStatsTTL, 10_000, s.now)
	s.handle(fiber.MethodGet, "/dashboard/stats", PermNodeRead, "node and alert figures of the caller's scope", s.getDashboardStats)
	s.handle(fiber.MethodGet, "/dashboard/alerts", PermNodeRead, "active alerts in scope, newest first; ?limit=", s.getDashboardAlerts)
}

// dashboardStats is the dashboard's headline (SPEC §7), scoped to the
// caller.
type dashboardStats struct {
	TotalNodes   int `json:"total_nodes"`
	OnlineNodes  int `json:"online_nodes"`
	OfflineNodes int `json:"offline_nodes"`
	AlertNodes   int `json:"alert_nodes"`
	ActiveAlerts int `json:"active_alerts"` // open or acknowledged
	// AvgHealthScore is the mean health of the nodes that have a status
	// (provisioning ones are left out), 0–100 with one decimal: an Online
	// node scores 100, one in Maintenance 75 (planned, not failing), one in
	// Alert 25 (reporting, but a critical condition holds) and an Offline
	// one 0. A scope without such nodes scores 0.
	AvgHealthScore float64 `json:"avg_health_score"`
	// CriticalDevices counts the nodes that need someone now: those with a
	// critical alert open (status Alert) and those not reporting (Offline).
	CriticalDevices int `json:"critical_devices"`
	// SystemHealth is the service's own health: ok, degraded or critical.
	SystemHealth string `json:"system_health"`
}

// The health a node's status contributes to avg_health_score.
const (
	healthOnline      = 100
	healthMaintenance = 75
	healthAlert       = 25
	healthOffline     = 0
)

func statsOf(n telemetry.StatusCounts, activeAlerts int, system string) dashboardStats {
	out := dashboardStats{TotalNodes: n.Total, OnlineNodes: n.Online, OfflineNodes: n.Offline, AlertNodes: n.Alert,
		ActiveAlerts: activeAlerts, CriticalDevices: n.Alert + n.Offline, SystemHealth: system}
	if rated := n.Online + n.Maintenance + n.Alert + n.Offline; rated > 0 {
		sum := n.Online*healthOnline + n.Maintenance*healthMaintenance + n.Alert*healthAlert + n.Offline*healthOffline
		out.AvgHealthScore = math.Round(float64(sum)*10/float64(rated)) / 10
	}
	return out
}

// getDashboardStats answers from the per-scope cache (see dashboardStatsTTL).
func (s *Server) getDashboardStats(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	stats, err := s.dashStats.get(ctx, scopeKey(scope), func(ctx context.Context) (dashboardStats, error) {
		counts, err := s.store.CountNodesByStatus(ctx, scope)
		if err != nil {
			return dashboardStats{}, err
		}
		active, err := s.store.CountActiveAlerts(ctx, scope)
		if err != nil {
			return dashboardStats{}, err
		}
		return statsOf(counts, active, s.health.Health(ctx).Status), nil
	})
	if err != nil {
		return err
	}
	return c.JSON(stats)
}

// dashboardAlertJSON is an active alert on the dashboard (SPEC §7);
// value_at_time repeats value, the metric's value when the alert triggered,
// under the name the dashboard reads.
type dashboardAlertJSON struct {
	ID          string       `json:"id"`
	RuleID      *string      `json:"rule_id"`
	NodeID      string       `json:"node_id"`
	Severity    string       `json:"severity"`
	Status      string       `json:"status"`
	Message     string       `json:"message"`
	TriggeredAt time.Time    `json:"triggered_at"`
	Value       *float64     `json:"value"`
	ValueAtTime *float64     `json:"value_at_time"`
	ResolvedAt  *time.Time   `json:"resolved_at"`
	Rule        *ruleRefJSON `json:"rule"`
}

func (s *Server) getDashboardAlerts(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 10, 1, 100)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	alerts, total, err := s.store.ListAlerts(ctx, scopeOf(c), telemetry.AlertFilter{Unresolved: true, Page: telemetry.Page{Limit: limit}})
	if err != nil {
		return err
	}
	out := make([]dashboardAlertJSON, len(alerts))
	for i, a := range alerts {
		out[i] = dashboardAlertJSON{ID: a.ID, RuleID: a.RuleID, NodeID: string(a.NodeID), Severity: string(a.Severity),
			Status: string(a.Status), Message: a.Message, TriggeredAt: a.TriggeredAt, Value: a.Value, ValueAtTime: a.Value,
			ResolvedAt: a.ResolvedAt, Rule: ruleRefOf(a.Rule)}
	}
	setTotal(c, total)
	return c.JSON(out)
}
