package app

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// opsMatrix is the authorization matrix of its route group: alerts, rules,
// maintenance, dashboard, pipelines, admin, audit, provisioning and
// frontend errors. Objects are made through the store in Setup, a fresh
// one per call for the routes that change or delete theirs.
func opsMatrix() []matrixCase {
	admins := []string{"superadmin", "distributor", "community_admin"}
	alertPair := func(suffix string) func(*apiEnv, string) (string, string) {
		return func(e *apiEnv, _ string) (string, string) {
			a, b := opsAlert(e, e.fx.NodeA, telemetry.SeverityWarning, nil), opsAlert(e, e.fx.NodeB, telemetry.SeverityWarning, nil)
			return "/alerts/" + a.ID + suffix, "/alerts/" + b.ID + suffix
		}
	}
	rulePair := func(e *apiEnv, _ string) (string, string) {
		return "/alerts/rules/" + opsRule(e, e.fx.NodeA).ID, "/alerts/rules/" + opsRule(e, e.fx.NodeB).ID
	}
	windowPair := func(e *apiEnv, _ string) (string, string) {
		return "/manage/maintenance/" + opsWindow(e, e.fx.NodeA).ID, "/manage/maintenance/" + opsWindow(e, e.fx.NodeB).ID
	}
	pipeline := func(e *apiEnv, _ string) (string, string) { return "/pipelines/" + opsPipeline(e).ID, "" }
	return []matrixCase{
		{Method: "GET", Route: "/alerts", Setup: fixed("/alerts"), Allowed: allRoles},
		{Method: "GET", Route: "/alerts/summary", Setup: fixed("/alerts/summary"), Allowed: allRoles},
		{Method: "GET", Route: "/alerts/:id", Setup: alertPair(""), Allowed: allRoles},
		{Method: "POST", Route: "/alerts/:id/acknowledge", Setup: alertPair("/acknowledge"), Allowed: allRoles},
		// The body of resolve is optional, so it is not fuzzed ({} is valid).
		{Method: "POST", Route: "/alerts/:id/resolve", Setup: alertPair("/resolve"), Allowed: admins},
		{Method: "GET", Route: "/alerts/rules", Setup: fixed("/alerts/rules"), Allowed: allRoles},
		{Method: "POST", Route: "/alerts/rules", Setup: fixed("/alerts/rules"), Allowed: admins, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any { return opsRuleBody(e.fx.NodeA.ID) }},
		{Method: "PUT", Route: "/alerts/rules/:id", Setup: rulePair, Allowed: admins,
			Body: func(*apiEnv, string) any { return map[string]any{"threshold": 12.5, "enabled": false} }},
		{Method: "DELETE", Route: "/alerts/rules/:id", Setup: rulePair, Allowed: admins, Status: http.StatusNoContent},
		{Method: "GET", Route: "/manage/maintenance", Setup: fixed("/manage/maintenance"), Allowed: allRoles},
		{Method: "POST", Route: "/manage/maintenance", Setup: fixed("/manage/maintenance"), Allowed: admins, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any { return opsWindowBody("node_id", string(e.fx.NodeA.ID)) }},
		{Method: "DELETE", Route: "/manage/maintenance/:id", Setup: windowPair, Allowed: admins, Status: http.StatusNoContent},
		{Method: "GET", Route: "/dashboard/stats", Setup: fixed("/dashboard/stats"), Allowed: allRoles},
		{Method: "GET", Route: "/dashboard/alerts", Setup: fixed("/dashboard/alerts"), Allowed: allRoles},
		{Method: "GET", Route: "/pipelines", Setup: fixed("/pipelines"), Allowed: allRoles},
		{Method: "POST", Route: "/pipelines", Setup: fixed("/pipelines"), Status: http.StatusCreated,
			Body: func(*apiEnv, string) any { return opsPipelineBody() }},
		{Method: "PATCH", Route: "/pipelines/:id", Setup: pipeline,
			Body: func(*apiEnv, string) any { return map[string]any{"color": "#00AA55"} }},
		{Method: "DELETE", Route: "/pipelines/:id", Setup: pipeline, Status: http.StatusNoContent},
		{Method: "GET", Route: "/stats", Setup: fixed("/stats")},
		{Method: "PUT", Route: "/system/config", Setup: fixed("/system/config"),
			Body: func(*apiEnv, string) any { return map[string]any{"rate": 60, "firmware": "2.1.0"} }},
		{Method: "GET", Route: "/admin/system-status", Setup: fixed("/admin/system-status")},
		{Method: "GET", Route: "/audit", Setup: fixed("/audit")},
		{Method: "POST", Route: "/devices/provision-token", Setup: fixed("/devices/provision-token"),
			Allowed: []string{"superadmin", "distributor"}, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any { return map[string]any{"community_id": e.fx.CommA.ID, "ttl_minutes": 30} }},
		{Method: "POST", Route: "/devices/claim", Setup: fixed("/devices/claim"), Allowed: allRoles,
			Body: func(e *apiEnv, _ string) any { return map[string]any{"token": opsToken(e, time.Hour)} }},
		{Method: "POST", Route: "/frontend-errors", Setup: fixed("/frontend-errors"), Status: http.StatusAccepted,
			Body: func(*apiEnv, string) any {
				return map[string]any{"message": "TypeError: x is undefined", "url": "/dashboard"}
			}},
	}
}

// opsSeq makes each probe alert a cause of its own (one unresolved alert
// per node, kind, rule and metric).
var opsSeq atomic.Int64

// opsAlert opens an alert on node through the store, as the runtime does:
// of rule when one is given, else an anomaly of a metric of its own.
func opsAlert(e *apiEnv, node telemetry.Node, sev telemetry.Severity, rule *telemetry.AlertRule) telemetry.Alert {
	e.t.Helper()
	opener, ok := e.store.(interface {
		OpenAlert(context.Context, *telemetry.Alert) (bool, error)
	})
	if !ok {
		e.t.Fatal("the store opens no alerts")
	}
	value := 3.5
	al := telemetry.Alert{NodeID: node.ID, Kind: telemetry.AlertKindAnomaly, Severity: sev, Value: &value,
		Metric: ptrTo("probe-" + strconv.FormatInt(opsSeq.Add(1), 10)), Message: "probe alert"}
	if rule != nil {
		al.Kind, al.RuleID, al.Metric, al.Threshold = telemetry.AlertKindRule, &rule.ID, &rule.Metric, &rule.Threshold
		al.Message = rule.Name
	}
	if _, err := opener.OpenAlert(context.Background(), &al); err != nil {
		e.t.Fatal(err)
	}
	return al
}

func opsRuleBody(node telemetry.NodeID) map[string]any {
	return map[string]any{"name": "Tank low", "node_id": string(node), "metric": "water_level", "condition": "<",
		"threshold": 20, "severity": "critical", "cooldown_minutes": 30}
}

// opsRule creates a rule on node through the store.
func opsRule(e *apiEnv, node telemetry.Node) telemetry.AlertRule {
	e.t.Helper()
	r := telemetry.AlertRule{NodeID: node.ID, Name: "Tank low", Metric: "water_level", Condition: telemetry.ConditionBelow,
		Threshold: 20, Severity: telemetry.SeverityCritical, Enabled: true, CooldownMinutes: 15}
	if err := e.store.CreateRule(context.Background(), telemetry.Scope{All: true}, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func opsWindowBody(target, id string) map[string]any {
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	return map[string]any{target: id, "starts_at": start, "ends_at": start.Add(2 * time.Hour), "reason": "pump replacement"}
}

// opsWindow schedules a window over node through the store.
func opsWindow(e *apiEnv, node telemetry.Node) telemetry.MaintenanceWindow {
	e.t.Helper()
	id := node.ID
	start := time.Now().Add(time.Hour)
	w := telemetry.MaintenanceWindow{NodeID: &id, StartsAt: start, EndsAt: start.Add(time.Hour), Reason: "cleaning"}
	if err := e.store.CreateWindow(context.Background(), telemetry.Scope{All: true}, &w); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func opsPipelineBody() map[string]any {
	return map[string]any{"name": "Main line", "color": "#1e90ff", "positions": [][2]float64{{17.385, 78.4867}, {17.39, 78.49}}}
}

// opsPipeline draws a pipeline through the store.
func opsPipeline(e *apiEnv) telemetry.Pipeline {
	e.t.Helper()
	p := telemetry.Pipeline{Name: "Feeder", Positions: []telemetry.LatLng{{17.38, 78.48}, {17.39, 78.49}}}
	if err := e.store.CreatePipeline(context.Background(), &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// opsToken issues a provisioning token for community A through the store.
func opsToken(e *apiEnv, ttl time.Duration) string {
	e.t.Helper()
	tok, err := e.store.CreateProvisioningToken(context.Background(), e.fx.CommA.ID, nil, "", ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}
