package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/telemetry"
)

// opsStatusNodes gives customer A2 four channel-less nodes, one in each
// status (no device polls them, so their statuses stay as set): their
// dashboard figures are known exactly.
func opsStatusNodes(t *testing.T, e *apiEnv) []telemetry.Node {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.cfg.DatabaseURL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var nodes []telemetry.Node
	for _, st := range []telemetry.Status{telemetry.StatusOnline, telemetry.StatusOffline, telemetry.StatusAlert, telemetry.StatusMaintenance} {
		var id string
		err := db.QueryRow(ctx, `INSERT INTO nodes (node_key, label, category, analytics_type, status, community_id, distributor_id, customer_id)
			VALUES ($1, $2, 'Sump', 'EvaraTank', $3, $4, $5, $6) RETURNING id`,
			"a2-"+string(st), "A2 "+string(st), string(st), e.fx.CommA.ID, e.fx.DistA.ID, e.fx.CustA2.ID).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := e.store.GetNode(ctx, telemetry.Scope{All: true}, id)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// opsRuleAlert opens the alert of rule at a given time, as the runtime
// does when the rule's condition starts to hold.
func opsRuleAlert(t *testing.T, e *apiEnv, rule telemetry.AlertRule, value float64, at time.Time) telemetry.Alert {
	t.Helper()
	opener := e.store.(interface {
		OpenAlert(context.Context, *telemetry.Alert) (bool, error)
	})
	al := telemetry.Alert{NodeID: rule.NodeID, Kind: telemetry.AlertKindRule, RuleID: &rule.ID, Metric: &rule.Metric,
		Severity: rule.Severity, Message: rule.Name + " on " + string(rule.Condition) + " threshold", Value: &value,
		Threshold: &rule.Threshold, TriggeredAt: at}
	if _, err := opener.OpenAlert(context.Background(), &al); err != nil {
		t.Fatal(err)
	}
	return al
}

// TestOpsContracts compares the answers of the ops routes with their
// golden JSON: rule, dashboard stats and alerts, alert (acknowledged, then
// resolved), alert summary, maintenance window, pipeline and audit entries.
func TestOpsContracts(t *testing.T) {
	e := newAPIEnv(t)
	nodes := opsStatusNodes(t, e)
	admin, customer := e.fx.Tokens["community_admin"], e.fx.Tokens["customer_a2"]

	raw := e.expect(http.StatusCreated, "POST", "/api/v1/alerts/rules", admin, map[string]any{
		"name": "Tank low", "node_id": string(nodes[0].ID), "metric": "water_level", "condition": "<", "threshold": 20,
		"severity": "critical", "cooldown_minutes": 30})
	golden(t, "ops_rule", raw)
	var low telemetry.AlertRule
	mustJSON(t, raw, &low)
	low.NodeID, low.Metric, low.Condition, low.Threshold, low.Severity, low.Name = nodes[0].ID, "water_level", "<", 20, "critical", "Tank low"
	high := telemetry.AlertRule{NodeID: nodes[1].ID, Name: "Hot water", Metric: "temperature", Condition: ">", Threshold: 40,
		Severity: telemetry.SeverityWarning, Enabled: true}
	if err := e.store.CreateRule(context.Background(), telemetry.Scope{All: true}, &high); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first := opsRuleAlert(t, e, low, 12.5, now.Add(-2*time.Minute))
	opsRuleAlert(t, e, high, 44, now.Add(-time.Minute))

	golden(t, "ops_dashboard_stats", e.expect(http.StatusOK, "GET", "/api/v1/dashboard/stats", customer, nil))
	golden(t, "ops_dashboard_alerts", e.expect(http.StatusOK, "GET", "/api/v1/dashboard/alerts?limit=5", customer, nil))

	golden(t, "ops_alert_acknowledged", e.expect(http.StatusOK, "POST", "/api/v1/alerts/"+first.ID+"/acknowledge", customer, nil))
	e.expect(http.StatusOK, "POST", "/api/v1/alerts/"+first.ID+"/resolve", admin, map[string]any{"comment": "tank refilled"})
	golden(t, "ops_alert", e.expect(http.StatusOK, "GET", "/api/v1/alerts/"+first.ID, customer, nil))
	// The figures are cached per scope, yet a resolve on this replica shows
	// at once; another customer's scope has figures of its own.
	for who, want := range map[string][2]int{"customer_a2": {4, 1}, "customer": {1, 0}} {
		var stats struct {
			TotalNodes   int `json:"total_nodes"`
			ActiveAlerts int `json:"active_alerts"`
		}
		mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/dashboard/stats", e.fx.Tokens[who], nil), &stats)
		if stats.TotalNodes != want[0] || stats.ActiveAlerts != want[1] {
			t.Errorf("%s: %+v, want %d nodes and %d active alerts", who, stats, want[0], want[1])
		}
	}
	golden(t, "ops_alert_summary", e.expect(http.StatusOK, "GET", "/api/v1/alerts/summary", customer, nil))
	golden(t, "ops_alerts_active", e.expect(http.StatusOK, "GET", "/api/v1/alerts?status=active", customer, nil))

	golden(t, "ops_window", e.expect(http.StatusCreated, "POST", "/api/v1/manage/maintenance", admin,
		opsWindowBody("node_id", string(nodes[2].ID))))
	golden(t, "ops_pipeline", e.expect(http.StatusCreated, "POST", "/api/v1/pipelines", e.fx.Tokens["superadmin"], opsPipelineBody()))
	golden(t, "ops_audit", e.expect(http.StatusOK, "GET", "/api/v1/audit?resource_id="+first.ID, e.fx.Tokens["superadmin"], nil),
		"id", "request_id")
}
