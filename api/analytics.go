package api

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// AnalyticsStore aggregates readings for analytics and iterates rows for
// exports. Aggregates are computed by the store (SQL GROUP BY day, UTC);
// the stream calls hand over one row at a time and stop when fn fails.
type AnalyticsStore interface {
	// DailyStats is the per-field, per-day count/min/avg/max of a node's
	// readings from since on, ordered by field, then day.
	DailyStats(ctx context.Context, node telemetry.NodeID, since time.Time) ([]telemetry.DailyStat, error)
	// FleetCounts counts the nodes in scope by category, type and status.
	FleetCounts(ctx context.Context, scope telemetry.Scope) ([]telemetry.FleetCount, error)
	// LevelDrops sums, per node and day, the decreases of field between
	// consecutive readings (refills count nothing).
	LevelDrops(ctx context.Context, nodes []telemetry.NodeID, field int, since time.Time) ([]telemetry.DayTotal, error)
	StreamNodes(ctx context.Context, scope telemetry.Scope, fn func(telemetry.Node) error) error
	StreamAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter, fn func(telemetry.Alert) error) error
}

// analyticsTimeout bounds the aggregate queries: a year of one node, or a
// day-by-day pass over every tank of a distributor, is more than a lookup.
const analyticsTimeout = 30 * time.Second

// dayLayout is how days appear in analytics and exports: UTC calendar days.
const dayLayout = "2006-01-02"

func (s *Server) analyticsRoutes() {
	s.handle(fiber.MethodGet, "/analytics/node/:id", PermNodeRead, "daily min/avg/max of each metric of one node", s.getNodeAnalytics)
	s.handle(fiber.MethodGet, "/analytics/fleet", PermNodeRead, "node counts in scope by category, analytics type and status", s.getFleetAnalytics)
	s.handle(fiber.MethodGet, "/analytics/consumption", PermNodeRead, "litres used per day, from the tank levels in scope", s.getConsumption)
}

// window reads ?days= (1–365, default 7) and returns it with the first
// instant of the window: 00:00 UTC of the oldest day, today being the last.
func (s *Server) window(c *fiber.Ctx) (int, time.Time, error) {
	days, err := queryInt(c, "days", 7, 1, 365)
	if err != nil {
		return 0, time.Time{}, err
	}
	return days, s.firstDay(days), nil
}

// NodeAnalytics is the answer of GET /analytics/node/:id: for each metric
// (named by the node's field mapping, or field1..field8 when unmapped) the
// days of the window that have values, oldest first. Each metric is
// aggregated on its own; a mapped metric without values has an empty list,
// an unmapped field without values is left out.
type NodeAnalytics struct {
	NodeID  string                `json:"node_id"`
	Days    int                   `json:"days"`
	Since   string                `json:"since"` // first day of the window (UTC)
	Metrics map[string][]DayStats `json:"metrics"`
}

// DayStats is one metric's aggregate over one UTC day.
type DayStats struct {
	Day   string  `json:"day"`
	Min   float64 `json:"min"`
	Avg   float64 `json:"avg"`
	Max   float64 `json:"max"`
	Count int     `json:"count"`
}

func (s *Server) getNodeAnalytics(c *fiber.Ctx) error {
	days, since, err := s.window(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), analyticsTimeout)
	defer cancel()
	n, err := s.store.GetNode(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	stats, err := s.store.DailyStats(ctx, n.ID, since)
	if err != nil {
		return err
	}
	names := metricNames(n.FieldMapping)
	out := NodeAnalytics{NodeID: string(n.ID), Days: days, Since: since.Format(dayLayout), Metrics: map[string][]DayStats{}}
	for f := 1; f <= telemetry.FieldCount; f++ {
		if _, mapped := n.FieldMapping[fieldName(f)]; mapped {
			out.Metrics[names[f-1]] = []DayStats{}
		}
	}
	for _, st := range stats {
		name := names[st.Field-1]
		out.Metrics[name] = append(out.Metrics[name], DayStats{Day: st.Day.Format(dayLayout),
			Min: st.Min, Avg: st.Avg, Max: st.Max, Count: st.Count})
	}
	return c.JSON(out)
}

func fieldName(n int) string { return "field" + strconv.Itoa(n) }

// metricNames names fields 1..8 by the node's mapping ({"field1":
// "water_level"}), or by their ThingSpeak names when unmapped. Two fields
// mapped to one alias are never merged: the later keeps its field name.
func metricNames(mapping map[string]string) [telemetry.FieldCount]string {
	var names [telemetry.FieldCount]string
	taken := map[string]bool{}
	for f := 1; f <= telemetry.FieldCount; f++ {
		name := fieldName(f)
		if alias := mapping[name]; alias != "" && !taken[alias] {
			name = alias
		}
		names[f-1], taken[name] = name, true
	}
	return names
}

// FleetAnalytics is the answer of GET /analytics/fleet: the nodes in the
// caller's scope counted by status, category and analytics type. Every
// status, every category of SPEC §7 and every analytics type is present
// (zero when none); Categories breaks each category down by status.
type FleetAnalytics struct {
	Total           int                `json:"total"`
	ByStatus        map[string]int     `json:"by_status"`
	ByCategory      map[string]int     `json:"by_category"`
	ByAnalyticsType map[string]int     `json:"by_analytics_type"`
	Categories      []CategoryAnalytic `json:"categories"`
}

// CategoryAnalytic is one category's nodes by status.
type CategoryAnalytic struct {
	Category string         `json:"category"`
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"by_status"`
}

// nodeStatuses are every status a node may have (the categories and
// analytics types are nodeinput.go's).
var (
	nodeStatuses = []telemetry.Status{telemetry.StatusOnline, telemetry.StatusOffline, telemetry.StatusAlert,
		telemetry.StatusMaintenance, telemetry.StatusProvisioning}
)

func zeroCounts[T ~string](keys []T) map[string]int {
	m := make(map[string]int, len(keys))
	for _, k := range keys {
		m[string(k)] = 0
	}
	return m
}

func (s *Server) getFleetAnalytics(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	counts, err := s.store.FleetCounts(ctx, scopeOf(c))
	if err != nil {
		return err
	}
	out := FleetAnalytics{ByStatus: zeroCounts(nodeStatuses), ByCategory: zeroCounts(nodeCategories),
		ByAnalyticsType: zeroCounts(analyticsTypes)}
	perCategory := map[string]*CategoryAnalytic{}
	for _, cat := range nodeCategories {
		perCategory[cat] = &CategoryAnalytic{Category: cat, ByStatus: zeroCounts(nodeStatuses)}
	}
	for _, fc := range counts {
		out.Total += fc.Count
		out.ByStatus[string(fc.Status)] += fc.Count
		out.ByCategory[fc.Category] += fc.Count
		out.ByAnalyticsType[fc.AnalyticsType] += fc.Count
		cat := perCategory[fc.Category]
		if cat == nil { // a category the list above does not know: shown, not hidden
			cat = &CategoryAnalytic{Category: fc.Category, ByStatus: zeroCounts(nodeStatuses)}
			perCategory[fc.Category] = cat
		}
		cat.Total += fc.Count
		cat.ByStatus[string(fc.Status)] += fc.Count
	}
	for _, cat := range perCategory {
		out.Categories = append(out.Categories, *cat)
	}
	order := map[string]int{}
	for i, cat := range nodeCategories {
		order[cat] = i + 1
	}
	sort.Slice(out.Categories, func(i, j int) bool {
		a, b := out.Categories[i].Category, out.Categories[j].Category
		if order[a] != order[b] {
			return order[a] != 0 && (order[b] == 0 || order[a] < order[b])
		}
		return a < b
	})
	return c.JSON(out)
}
