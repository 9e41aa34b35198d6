package api

import (
	"context"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Consumption: litres used per day, from tank levels.
//
// For each tank node (analytics_type EvaraTank) in the caller's scope, the
// store sums, per UTC day, the level's decreases between consecutive
// readings (in entry order; readings without a level are skipped); rises
// are refills and count nothing. A decrease belongs to the day of its later
// reading. The sum is turned into litres by the node's capacity (litres):
//
//   - a node whose tank config has height_cm > 0 reports its level in cm
//     of water (the simulator's water_level: whole cm, 0 up to height_cm
//     when full), so a cm is capacity/height_cm litres (an upright tank of
//     constant cross-section);
//   - otherwise the level is taken as a percentage of full, and a point is
//     capacity/100 litres.
//
// The level is the field mapped to "water_level", field1 when none is. A
// tank without a capacity cannot be converted and is listed under skipped.
// Sensor noise that makes a still level wobble counts as small uses: the
// figure is an upper bound at the resolution of the sensor.

// levelMetric is the alias of the field that holds a tank's level.
const levelMetric = "water_level"

// Consumption is the answer of GET /analytics/consumption. Daily has every
// day of the window, oldest first (0 when nothing was used); a node's
// Daily has only the days it used water.
type Consumption struct {
	Days        int               `json:"days"`
	Since       string            `json:"since"`
	TotalLitres float64           `json:"total_litres"`
	Daily       []DayLitres       `json:"daily"`
	Nodes       []NodeConsumption `json:"nodes"`
	Skipped     []SkippedNode     `json:"skipped"`
}

// DayLitres is the water used on one UTC day.
type DayLitres struct {
	Day    string  `json:"day"`
	Litres float64 `json:"litres"`
}

// NodeConsumption is one tank's use over the window.
type NodeConsumption struct {
	NodeID      string      `json:"node_id"`
	NodeKey     string      `json:"node_key"`
	Label       string      `json:"label"`
	Capacity    float64     `json:"capacity"`
	LevelMetric string      `json:"level_metric"`    // the metric the level is read from
	LevelUnit   string      `json:"level_unit"`      // "cm" or "percent"
	LitresPer   float64     `json:"litres_per_unit"` // litres in one cm or one percent
	TotalLitres float64     `json:"total_litres"`
	Daily       []DayLitres `json:"daily"`
}

// SkippedNode is a tank whose use cannot be given in litres.
type SkippedNode struct {
	NodeID string `json:"node_id"`
	Label  string `json:"label"`
	Reason string `json:"reason"`
}

// tank is a node of the consumption pass and how to read its level.
type tank struct {
	out   NodeConsumption
	field int
}

func (s *Server) getConsumption(c *fiber.Ctx) error {
	days, since, err := s.window(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), analyticsTimeout)
	defer cancel()
	out := Consumption{Days: days, Since: since.Format(dayLayout), Daily: make([]DayLitres, days),
		Nodes: []NodeConsumption{}, Skipped: []SkippedNode{}}
	for i := range out.Daily {
		out.Daily[i].Day = since.AddDate(0, 0, i).Format(dayLayout)
	}
	var tanks []*tank
	err = s.store.StreamNodes(ctx, scopeOf(c), func(n telemetry.Node) error {
		if n.AnalyticsType != "EvaraTank" {
			return nil
		}
		if t, ok := newTank(n); ok {
			tanks = append(tanks, t)
		} else {
			out.Skipped = append(out.Skipped, SkippedNode{NodeID: string(n.ID), Label: n.Label, Reason: "no capacity"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.addLevelDrops(ctx, tanks, since, &out); err != nil {
		return err
	}
	return c.JSON(out)
}

// newTank reads how a node's level converts to litres; false without a capacity.
func newTank(n telemetry.Node) (*tank, bool) {
	if n.Capacity == nil || *n.Capacity <= 0 {
		return nil, false
	}
	t := &tank{field: 1, out: NodeConsumption{NodeID: string(n.ID), NodeKey: n.NodeKey, Label: n.Label,
		Capacity: *n.Capacity, LevelUnit: "percent", LitresPer: *n.Capacity / 100, Daily: []DayLitres{}}}
	for f := 1; f <= telemetry.FieldCount; f++ {
		if n.FieldMapping[fieldName(f)] == levelMetric {
			t.field = f
			break
		}
	}
	t.out.LevelMetric = metricNames(n.FieldMapping)[t.field-1]
	if n.Config != nil && n.Config.Kind == "tank" {
		if h, ok := n.Config.Params["height_cm"].(float64); ok && h > 0 {
			t.out.LevelUnit, t.out.LitresPer = "cm", *n.Capacity/h
		}
	}
	return t, true
}

// addLevelDrops asks the store for the tanks' level drops, one query per
// level field in use (usually one), and adds them up in litres.
func (s *Server) addLevelDrops(ctx context.Context, tanks []*tank, since time.Time, out *Consumption) error {
	byField := map[int][]telemetry.NodeID{}
	byID := make(map[telemetry.NodeID]*tank, len(tanks))
	for _, t := range tanks {
		id := telemetry.NodeID(t.out.NodeID)
		byField[t.field], byID[id] = append(byField[t.field], id), t
	}
	fields := make([]int, 0, len(byField))
	for f := range byField {
		fields = append(fields, f)
	}
	sort.Ints(fields)
	for _, f := range fields {
		drops, err := s.store.LevelDrops(ctx, byField[f], f, since)
		if err != nil {
			return err
		}
		for _, d := range drops {
			t, i := byID[d.Node], int(d.Day.Sub(since)/(24*time.Hour))
			if t == nil || i < 0 || i >= len(out.Daily) {
				continue
			}
			litres := d.Total * t.out.LitresPer
			t.out.Daily = append(t.out.Daily, DayLitres{Day: d.Day.Format(dayLayout), Litres: litres})
			t.out.TotalLitres += litres
			out.Daily[i].Litres += litres
			out.TotalLitres += litres
		}
	}
	for _, t := range tanks {
		out.Nodes = append(out.Nodes, t.out)
	}
	return nil
}
