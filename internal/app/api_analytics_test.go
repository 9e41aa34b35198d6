package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// analyticsMatrix is the authorization matrix of its route group.
func analyticsMatrix() []matrixCase {
	node := func(prefix, suffix string) func(*apiEnv, string) (string, string) {
		return func(e *apiEnv, _ string) (string, string) {
			return prefix + string(e.fx.NodeA.ID) + suffix, prefix + string(e.fx.NodeB.ID) + suffix
		}
	}
	return []matrixCase{
		{Method: "GET", Route: "/analytics/node/:id", Setup: node("/analytics/node/", "?days=3"), Allowed: allRoles},
		{Method: "GET", Route: "/analytics/fleet", Setup: fixed("/analytics/fleet"), Allowed: allRoles},
		{Method: "GET", Route: "/analytics/consumption", Setup: fixed("/analytics/consumption?days=2"), Allowed: allRoles},
		{Method: "GET", Route: "/export/nodes", Setup: fixed("/export/nodes?format=json"), Allowed: allRoles},
		{Method: "GET", Route: "/export/readings/:id", Setup: node("/export/readings/", "?format=csv"), Allowed: allRoles},
		{Method: "GET", Route: "/export/alerts", Setup: node("/export/alerts?node_id=", ""), Allowed: allRoles},
		{Method: "GET", Route: "/reports/node/:id/export", Setup: node("/reports/node/", "/export?days=1"), Allowed: allRoles},
	}
}

// analyticsWorld is a community of its own (so that the simulator's
// moving data stays out of its figures) with an admin, and nodes without
// channels whose readings the test writes at fixed times: days before
// today, UTC.
type analyticsWorld struct {
	admin   string // token of the community's admin
	comm    telemetry.Community
	tank    telemetry.Node // OHT, 2000 l, height_cm 200: 10 l per cm
	sump    telemetry.Node // Sump, 1500 l, no height: level in percent, 15 l per point
	nocap   telemetry.Node // OHT without a capacity
	bore    telemetry.Node // Borewell (EvaraDeep): no consumption
	today   time.Time      // 00:00 UTC of the day the world was made
	written int            // readings written
}

func newAnalyticsWorld(t *testing.T, e *apiEnv) *analyticsWorld {
	t.Helper()
	ctx := context.Background()
	w := &analyticsWorld{today: time.Now().UTC().Truncate(24 * time.Hour)}
	w.comm = telemetry.Community{Name: "Analytics Acres", City: ptrTo("Hyderabad"), DistributorID: &e.fx.DistA.ID}
	if err := e.store.CreateCommunity(ctx, &w.comm); err != nil {
		t.Fatal(err)
	}
	w.admin, _ = e.user(ctx, "user-analytics-admin", telemetry.RoleCommunityAdmin, "", w.comm.ID)
	mk := func(key, category, analytics string, capacity *float64, mapping map[string]string, cfg *telemetry.NodeConfig) telemetry.Node {
		n := telemetry.Node{NodeKey: key, Label: "Node " + key, Category: category, AnalyticsType: analytics,
			Capacity: capacity, FieldMapping: mapping, Config: cfg, CommunityID: &w.comm.ID, DistributorID: w.comm.DistributorID}
		if err := e.store.CreateNode(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w.tank = mk("an-tank", "OHT", "EvaraTank", ptrTo(2000.0),
		map[string]string{"field1": "water_level", "field2": "temperature", "field5": "pressure"},
		&telemetry.NodeConfig{Kind: "tank", Params: map[string]any{"height_cm": 200.0}})
	w.sump = mk("an-sump", "Sump", "EvaraTank", ptrTo(1500.0), nil, nil)
	w.nocap = mk("an-nocap", "OHT", "EvaraTank", nil, map[string]string{"field1": "water_level"}, nil)
	w.bore = mk("an-bore", "Borewell", "EvaraDeep", nil, map[string]string{"field1": "water_depth"}, nil)
	if err := e.store.SetNodeStatus(ctx, w.tank.ID, telemetry.StatusOnline, nil); err != nil {
		t.Fatal(err)
	}
	at := func(daysBefore int, hm string) time.Time {
		d, _ := time.ParseDuration(hm)
		return w.today.AddDate(0, 0, -daysBefore).Add(d)
	}
	type f = map[int]float64
	w.write(t, e, w.tank.ID, []time.Time{at(3, "23h"), at(2, "10m"), at(2, "6h"), at(2, "12h"), at(1, "10m"), at(1, "8h"), at(0, "1m")},
		[]f{{1: 150}, {1: 140, 2: 25, 3: 7}, {1: 120, 2: 27}, {1: 180, 2: 29, 3: 9}, {1: 170, 2: 24}, {1: 160}, {1: 150, 2: 20.5}})
	w.write(t, e, w.sump.ID, []time.Time{at(1, "1h"), at(1, "2h")}, []f{{1: 80}, {1: 60}})
	w.write(t, e, w.nocap.ID, []time.Time{at(1, "1h"), at(1, "2h")}, []f{{1: 80}, {1: 60}})
	return w
}

// write stores readings of node at the times given, entry ids from 1.
func (w *analyticsWorld) write(t *testing.T, e *apiEnv, node telemetry.NodeID, at []time.Time, fields []map[int]float64) {
	t.Helper()
	rows := make([]telemetry.Reading, len(at))
	for i := range at {
		rows[i] = telemetry.Reading{Node: node, Entry: telemetry.Entry{EntryID: int64(i + 1), CreatedAt: at[i]}}
		for n, v := range fields[i] {
			rows[i].Fields[n-1] = telemetry.Field{Value: v, Valid: true}
		}
	}
	if err := e.store.WriteReadings(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	w.written += len(rows)
}

// relativeDays names the days near today in raw ("today", "today-1"…),
// so that golden files do not change with the date.
func (w *analyticsWorld) relativeDays(raw []byte) []byte {
	s := string(raw)
	for i := 0; i <= 400; i++ {
		name := "today"
		if i > 0 {
			name = "today-" + strconv.Itoa(i)
		}
		s = strings.ReplaceAll(s, `"`+w.today.AddDate(0, 0, -i).Format("2006-01-02")+`"`, `"`+name+`"`)
	}
	return []byte(s)
}

// TestAnalyticsContract checks the analytics answers against golden JSON
// computed from readings written at known times.
func TestAnalyticsContract(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	cases := []struct {
		name, path string
	}{
		{"analytics_node", "/api/v1/analytics/node/" + string(w.tank.ID) + "?days=3"},
		{"analytics_node_unmapped", "/api/v1/analytics/node/" + w.sump.NodeKey + "?days=2"},
		{"analytics_node_default_days", "/api/v1/analytics/node/" + string(w.bore.ID)},
		{"analytics_fleet", "/api/v1/analytics/fleet"},
		{"analytics_consumption", "/api/v1/analytics/consumption?days=3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := e.expect(http.StatusOK, "GET", c.path, w.admin, nil)
			golden(t, c.name, w.relativeDays(raw))
		})
	}
	t.Run("refusals", func(t *testing.T) {
		for _, c := range []struct {
			path, token string
			status      int
		}{
			{"/api/v1/analytics/node/" + string(w.tank.ID) + "?days=0", w.admin, http.StatusUnprocessableEntity},
			{"/api/v1/analytics/node/" + string(w.tank.ID) + "?days=366", w.admin, http.StatusUnprocessableEntity},
			{"/api/v1/analytics/consumption?days=x", w.admin, http.StatusUnprocessableEntity},
			{"/api/v1/analytics/node/" + string(w.tank.ID), e.fx.Tokens["community_admin"], http.StatusNotFound}, // another community
			{"/api/v1/analytics/node/" + string(w.tank.ID), e.fx.Tokens["customer_b"], http.StatusNotFound},
			{"/api/v1/analytics/node/not-a-node", w.admin, http.StatusNotFound},
			{"/api/v1/analytics/node/00000000-0000-0000-0000-000000000000", w.admin, http.StatusNotFound},
		} {
			e.expect(c.status, "GET", c.path, c.token, nil)
		}
	})
	t.Run("other callers see other figures", func(t *testing.T) {
		var fleet struct {
			Total int `json:"total"`
		}
		raw := e.expect(http.StatusOK, "GET", "/api/v1/analytics/fleet", e.fx.Tokens["customer_b"], nil)
		if err := json.Unmarshal(raw, &fleet); err != nil || fleet.Total != 1 {
			t.Errorf("tenant B's customer counts %d nodes (%v), want its 1", fleet.Total, err)
		}
		var use struct {
			Nodes []struct {
				NodeID string `json:"node_id"`
			} `json:"nodes"`
		}
		raw = e.expect(http.StatusOK, "GET", "/api/v1/analytics/consumption", e.fx.Tokens["customer_b"], nil)
		if err := json.Unmarshal(raw, &use); err != nil || len(use.Nodes) != 1 || use.Nodes[0].NodeID != string(e.fx.NodeB.ID) {
			t.Errorf("tenant B's customer's consumption covers %+v (%v), want only its node", use.Nodes, err)
		}
	})
}
