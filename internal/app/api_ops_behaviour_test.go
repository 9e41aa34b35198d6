package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
)

// opsAudit is the audit log of one resource, oldest first.
func opsAudit(t *testing.T, e *apiEnv, resourceID string) []telemetry.AuditEntry {
	t.Helper()
	entries, err := e.store.ListAudit(context.Background(), telemetry.AuditFilter{ResourceID: resourceID, Page: telemetry.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	return entries
}

func opsActions(entries []telemetry.AuditEntry) string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return strings.Join(out, ",")
}

// opsCount counts a table's rows.
func opsCount(t *testing.T, e *apiEnv, table string) int {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.cfg.DatabaseURL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func opsStatus(t *testing.T, raw []byte) string {
	t.Helper()
	var v struct{ Status string }
	mustJSON(t, raw, &v)
	return v.Status
}

// TestAlertLifecycle: a customer acknowledges, an admin resolves; each
// step is audited once, repeating a step changes nothing, and a customer
// may not resolve.
func TestAlertLifecycle(t *testing.T) {
	e := newAPIEnv(t)
	customer, admin := e.fx.Tokens["customer"], e.fx.Tokens["community_admin"]
	al := opsAlert(e, e.fx.NodeA, telemetry.SeverityCritical, nil)
	path := "/api/v1/alerts/" + al.ID

	e.expect(http.StatusForbidden, "POST", path+"/resolve", customer, nil)
	if got := opsStatus(t, e.expect(http.StatusOK, "POST", path+"/acknowledge", customer, nil)); got != "acknowledged" {
		t.Fatalf("after acknowledge: %s", got)
	}
	e.expect(http.StatusOK, "POST", path+"/acknowledge", customer, nil) // again: unchanged, not audited
	if got := opsStatus(t, e.expect(http.StatusOK, "POST", path+"/resolve", admin, map[string]any{"comment": "fixed"})); got != "resolved" {
		t.Fatalf("after resolve: %s", got)
	}
	e.expect(http.StatusConflict, "POST", path+"/resolve", admin, nil)
	e.expect(http.StatusConflict, "POST", path+"/acknowledge", customer, nil)
	e.expect(http.StatusUnprocessableEntity, "POST", path+"/resolve", admin, map[string]any{"comment": strings.Repeat("x", 2001)})

	entries := opsAudit(t, e, al.ID)
	if got := opsActions(entries); got != "alert.acknowledge,alert.resolve" {
		t.Fatalf("audit: %s", got)
	}
	if entries[0].UserID != e.fx.Profile["customer"].ID || entries[1].UserID != e.fx.Profile["community_admin"].ID {
		t.Errorf("audited users: %s, %s", entries[0].UserID, entries[1].UserID)
	}
	if m := entries[1].Metadata; m["before"] != "acknowledged" || m["after"] != "resolved" || m["comment"] != "fixed" {
		t.Errorf("resolve audited as %v", m)
	}

	// Filters: the resolved alert is listed as resolved, not as active.
	var list []struct{ ID string }
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/alerts?status=resolved&severity=critical", customer, nil), &list)
	if len(list) != 1 || list[0].ID != al.ID {
		t.Errorf("resolved critical alerts: %+v", list)
	}
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/alerts?status=active&node_id="+string(e.fx.NodeA.ID), customer, nil), &list)
	for _, a := range list {
		if a.ID == al.ID {
			t.Error("the resolved alert is listed as active")
		}
	}
	for _, q := range []string{"status=closed", "severity=fatal", "limit=0", "limit=x"} {
		e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/alerts?"+q, customer, nil)
	}
	e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/dashboard/alerts?limit=101", customer, nil)
	for _, id := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		e.expect(http.StatusNotFound, "GET", "/api/v1/alerts/"+id, customer, nil)
		e.expect(http.StatusNotFound, "POST", "/api/v1/alerts/"+id+"/acknowledge", customer, nil)
	}
}

// TestAlertRuleScope: rules are validated, and a rule on tenant B's node
// can be neither made nor changed nor deleted by tenant A (404, nothing
// written); a rule's node is fixed.
func TestAlertRuleScope(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]
	rulesB := func() int {
		rules, err := e.store.ListRules(context.Background(), telemetry.Scope{All: true}, e.fx.NodeB.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(rules)
	}
	e.expect(http.StatusNotFound, "POST", "/api/v1/alerts/rules", admin, opsRuleBody(e.fx.NodeB.ID))
	e.expect(http.StatusNotFound, "POST", "/api/v1/alerts/rules", admin, opsRuleBody("not-a-uuid"))
	if n := rulesB(); n != 0 {
		t.Fatalf("tenant B's node has %d rules", n)
	}
	ruleB := opsRule(e, e.fx.NodeB)
	e.expect(http.StatusNotFound, "PUT", "/api/v1/alerts/rules/"+ruleB.ID, admin, map[string]any{"threshold": 1})
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/alerts/rules/"+ruleB.ID, admin, nil)
	if got, err := e.store.GetRule(context.Background(), telemetry.Scope{All: true}, ruleB.ID); err != nil || got.Threshold != ruleB.Threshold {
		t.Fatalf("tenant B's rule changed: %+v %v", got, err)
	}
	if entries := opsAudit(t, e, ruleB.ID); len(entries) != 0 {
		t.Errorf("refused calls audited: %s", opsActions(entries))
	}

	for _, tc := range []struct {
		edit  map[string]any
		field string
	}{
		{map[string]any{"condition": "=>"}, "condition"},
		{map[string]any{"severity": "fatal"}, "severity"},
		{map[string]any{"cooldown_minutes": 10081}, "cooldown_minutes"},
		{map[string]any{"threshold": nil}, "threshold"},
		{map[string]any{"name": " "}, "name"},
	} {
		body := opsRuleBody(e.fx.NodeA.ID)
		for k, v := range tc.edit {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		raw := e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/alerts/rules", admin, body)
		if !strings.Contains(string(raw), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: %s", tc.edit, raw)
		}
	}

	var rule struct {
		ID        string
		Threshold float64
		Enabled   bool
	}
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/alerts/rules", admin, opsRuleBody(e.fx.NodeA.ID)), &rule)
	path := "/api/v1/alerts/rules/" + rule.ID
	e.expect(http.StatusUnprocessableEntity, "PUT", path, admin, map[string]any{"node_id": string(e.fx.NodeA2.ID)})
	e.expect(http.StatusUnprocessableEntity, "PUT", path, admin, map[string]any{})
	mustJSON(t, e.expect(http.StatusOK, "PUT", path, admin, map[string]any{"threshold": 35, "enabled": false}), &rule)
	if rule.Threshold != 35 || rule.Enabled {
		t.Errorf("after PUT: %+v", rule)
	}
	e.expect(http.StatusNoContent, "DELETE", path, admin, nil)
	e.expect(http.StatusNotFound, "DELETE", path, admin, nil)
	entries := opsAudit(t, e, rule.ID)
	if got := opsActions(entries); got != "alert_rule.create,alert_rule.update,alert_rule.delete" {
		t.Fatalf("audit: %s", got)
	}
	before, _ := entries[1].Metadata["before"].(map[string]any)
	after, _ := entries[1].Metadata["after"].(map[string]any)
	if before["threshold"] != 20.0 || after["threshold"] != 35.0 {
		t.Errorf("update audited as %v", entries[1].Metadata)
	}
	var list []struct{ NodeID string }
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/alerts/rules", e.fx.Tokens["customer"], nil), &list)
	for _, r := range list {
		if r.NodeID != string(e.fx.NodeA.ID) {
			t.Errorf("customer A sees a rule of node %s", r.NodeID)
		}
	}
}

// TestMaintenanceWindows: a window names exactly one target in scope and
// ends after it starts, in the future; refused ones write nothing.
func TestMaintenanceWindows(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	window := func(edit map[string]any) map[string]any {
		body := map[string]any{"node_id": string(e.fx.NodeA.ID), "starts_at": soon, "ends_at": soon.Add(time.Hour)}
		for k, v := range edit {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"ends before it starts", window(map[string]any{"ends_at": soon.Add(-time.Minute)}), http.StatusUnprocessableEntity},
		{"ends as it starts", window(map[string]any{"ends_at": soon}), http.StatusUnprocessableEntity},
		{"over already", window(map[string]any{"starts_at": soon.Add(-3 * time.Hour), "ends_at": soon.Add(-2 * time.Hour)}), http.StatusUnprocessableEntity},
		{"longer than a year", window(map[string]any{"ends_at": soon.Add(367 * 24 * time.Hour)}), http.StatusUnprocessableEntity},
		{"no start", window(map[string]any{"starts_at": nil}), http.StatusUnprocessableEntity},
		{"two targets", window(map[string]any{"community_id": e.fx.CommA.ID}), http.StatusUnprocessableEntity},
		{"no target", window(map[string]any{"node_id": nil}), http.StatusUnprocessableEntity},
		{"tenant B's node", window(map[string]any{"node_id": string(e.fx.NodeB.ID)}), http.StatusNotFound},
		{"tenant B's community", window(map[string]any{"node_id": nil, "community_id": e.fx.CommB.ID}), http.StatusNotFound},
		{"malformed node", window(map[string]any{"node_id": "x' OR 1=1"}), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.expect(tc.status, "POST", "/api/v1/manage/maintenance", admin, tc.body)
		})
	}
	if n := opsCount(t, e, "maintenance_windows"); n != 0 {
		t.Fatalf("refused windows wrote %d rows", n)
	}
	e.expect(http.StatusForbidden, "POST", "/api/v1/manage/maintenance", e.fx.Tokens["customer"], window(nil))
	var w struct{ ID string }
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/manage/maintenance", admin,
		window(map[string]any{"node_id": nil, "community_id": e.fx.CommA.ID})), &w)
	// The customer sees the window over its community, tenant B does not.
	for who, want := range map[string]int{"customer": 1, "customer_b": 0, "community_admin_b": 0} {
		var list []struct{ ID string }
		mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/manage/maintenance", e.fx.Tokens[who], nil), &list)
		if len(list) != want {
			t.Errorf("%s sees %d windows, want %d", who, len(list), want)
		}
	}
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/manage/maintenance/"+w.ID, e.fx.Tokens["community_admin_b"], nil)
	e.expect(http.StatusNoContent, "DELETE", "/api/v1/manage/maintenance/"+w.ID, admin, nil)
	if got := opsActions(opsAudit(t, e, w.ID)); got != "maintenance.create,maintenance.delete" {
		t.Errorf("audit: %s", got)
	}
}

// TestProvisioningTokens: a token is issued for a community in scope, is
// claimed once, and expires; it never reaches the audit log.
func TestProvisioningTokens(t *testing.T) {
	e := newAPIEnv(t)
	dist := e.fx.Tokens["distributor"]
	issue := map[string]any{"community_id": e.fx.CommA.ID, "customer_id": e.fx.CustA.ID, "ttl_minutes": 10}
	e.expect(http.StatusNotFound, "POST", "/api/v1/devices/provision-token", e.fx.Tokens["distributor_b"], issue)
	e.expect(http.StatusNotFound, "POST", "/api/v1/devices/provision-token", dist,
		map[string]any{"community_id": e.fx.CommA.ID, "customer_id": e.fx.CustB.ID})
	e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/devices/provision-token", dist,
		map[string]any{"community_id": e.fx.CommA.ID, "ttl_minutes": 0})
	e.expect(http.StatusForbidden, "POST", "/api/v1/devices/provision-token", e.fx.Tokens["community_admin"], issue)
	if n := opsCount(t, e, "provisioning_tokens"); n != 0 {
		t.Fatalf("refused issues wrote %d tokens", n)
	}

	var tok struct {
		T         string    `json:"token"`
		Community string    `json:"community_id"`
		Customer  string    `json:"customer_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/devices/provision-token", dist, issue), &tok)
	if tok.T == "" || tok.Community != e.fx.CommA.ID || tok.Customer != e.fx.CustA.ID ||
		tok.ExpiresAt.Before(time.Now().Add(9*time.Minute)) || tok.ExpiresAt.After(time.Now().Add(11*time.Minute)) {
		t.Fatalf("issued %+v", tok)
	}
	raw := e.expect(http.StatusOK, "POST", "/api/v1/devices/claim", e.fx.Tokens["customer"], map[string]any{"token": tok.T})
	var claim struct {
		CommunityID string `json:"community_id"`
		CustomerID  string `json:"customer_id"`
	}
	mustJSON(t, raw, &claim)
	if claim.CommunityID != e.fx.CommA.ID || claim.CustomerID != e.fx.CustA.ID {
		t.Errorf("claim: %s", raw)
	}
	e.expect(http.StatusConflict, "POST", "/api/v1/devices/claim", e.fx.Tokens["customer"], map[string]any{"token": tok.T})
	e.expect(http.StatusConflict, "POST", "/api/v1/devices/claim", e.fx.Tokens["customer_b"], map[string]any{"token": tok.T})
	e.expect(http.StatusNotFound, "POST", "/api/v1/devices/claim", e.fx.Tokens["customer"], map[string]any{"token": "no-such-token"})
	e.expect(http.StatusUnauthorized, "POST", "/api/v1/devices/claim", "", map[string]any{"token": opsToken(e, time.Hour)})
	expired := opsToken(e, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	e.expect(http.StatusGone, "POST", "/api/v1/devices/claim", e.fx.Tokens["customer"], map[string]any{"token": expired})

	entries := opsAudit(t, e, e.fx.CommA.ID)
	if got := opsActions(entries); got != "provisioning_token.create,provisioning_token.claim" {
		t.Errorf("audit: %s", got)
	}
	for _, en := range entries {
		meta, _ := json.Marshal(en.Metadata)
		if strings.Contains(string(meta), tok.T) {
			t.Errorf("the token is in the audit log: %s", meta)
		}
	}
}

// TestFrontendErrors: a report needs no token, an oversized one is 413
// and a malformed one 422; only the accepted one is stored.
func TestFrontendErrors(t *testing.T) {
	e := newAPIEnv(t)
	path := "/api/v1/frontend-errors"
	e.expect(http.StatusAccepted, "POST", path, "", map[string]any{"message": "TypeError: a is undefined",
		"stack": "at App (app.js:1:1)", "component_stack": "in App", "url": "https://dash.example/", "timestamp": "2026-01-01T00:00:00Z"})
	e.expect(http.StatusRequestEntityTooLarge, "POST", path, "", map[string]any{"message": "big", "stack": strings.Repeat("x", 40<<10)})
	e.expect(http.StatusUnprocessableEntity, "POST", path, "", map[string]any{"stack": "no message"})
	e.expect(http.StatusUnprocessableEntity, "POST", path, "", map[string]any{"message": "x", "password": "hunter2"})
	if n := opsCount(t, e, "frontend_errors"); n != 1 {
		t.Errorf("%d reports stored, want 1", n)
	}
}

// TestOpsAdmin: pipelines and the system configuration are validated and
// audited; platform figures and the audit log are superadmins' only.
func TestOpsAdmin(t *testing.T) {
	e := newAPIEnv(t)
	root := e.fx.Tokens["superadmin"]
	for _, body := range []map[string]any{
		{"name": "x", "positions": [][2]float64{{1, 2}}},
		{"name": "x", "positions": [][2]float64{{1, 2}, {95, 2}}},
		{"name": "x", "color": "red", "positions": [][2]float64{{1, 2}, {3, 4}}},
		{"positions": [][2]float64{{1, 2}, {3, 4}}},
	} {
		e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/pipelines", root, body)
	}
	if n := opsCount(t, e, "pipelines"); n != 0 {
		t.Fatalf("refused pipelines wrote %d rows", n)
	}
	var p struct {
		ID    string
		Color string
		Name  string
	}
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/pipelines", root, opsPipelineBody()), &p)
	e.expect(http.StatusUnprocessableEntity, "PATCH", "/api/v1/pipelines/"+p.ID, root, map[string]any{"positions": [][2]float64{{1, 2}}})
	mustJSON(t, e.expect(http.StatusOK, "PATCH", "/api/v1/pipelines/"+p.ID, root, map[string]any{"color": "#AABBCC"}), &p)
	if p.Color != "#aabbcc" || p.Name != "Main line" {
		t.Errorf("after PATCH: %+v", p)
	}
	e.expect(http.StatusNoContent, "DELETE", "/api/v1/pipelines/"+p.ID, root, nil)
	e.expect(http.StatusNotFound, "PATCH", "/api/v1/pipelines/"+p.ID, root, map[string]any{"name": "y"})
	if got := opsActions(opsAudit(t, e, p.ID)); got != "pipeline.create,pipeline.update,pipeline.delete" {
		t.Errorf("pipeline audit: %s", got)
	}

	for _, body := range []map[string]any{{"rate": 5, "firmware": "1.0"}, {"rate": 60}, {"rate": 60, "firmware": "1 0; rm"}} {
		e.expect(http.StatusUnprocessableEntity, "PUT", "/api/v1/system/config", root, body)
	}
	e.expect(http.StatusOK, "PUT", "/api/v1/system/config", root, map[string]any{"rate": 60, "firmware": "2.1.0"})
	e.expect(http.StatusOK, "PUT", "/api/v1/system/config", root, map[string]any{"rate": 120, "firmware": "2.2.0"})
	var status struct {
		Health struct{ Status string }
		Config struct {
			Rate     int
			Firmware string
		}
	}
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/admin/system-status", root, nil), &status)
	if status.Health.Status != "ok" || status.Config.Rate != 120 || status.Config.Firmware != "2.2.0" {
		t.Errorf("system status: %+v", status)
	}
	entries := opsAudit(t, e, "system")
	if got := opsActions(entries); got != "system_config.update,system_config.update" {
		t.Fatalf("config audit: %s", got)
	}
	if before, _ := entries[1].Metadata["before"].(map[string]any); before["rate"] != 60.0 {
		t.Errorf("second update audited as %v", entries[1].Metadata)
	}

	var stats map[string]int
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/stats", root, nil), &stats)
	want := map[string]int{"total_nodes": 3, "distributors": 2, "communities": 2, "customers": 3, "users": 9}
	for k, v := range want {
		if stats[k] != v {
			t.Errorf("stats %s = %d, want %d (%v)", k, stats[k], v, stats)
		}
	}
	var page []map[string]any
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/audit?limit=2", root, nil), &page)
	if len(page) != 2 {
		t.Errorf("audit page of %d entries, want 2", len(page))
	}
	e.expect(http.StatusForbidden, "GET", "/api/v1/audit", e.fx.Tokens["distributor"], nil)
}

// TestFrontendErrorsRateLimited: anonymous reports are charged to the
// caller's address like every anonymous call; over the limit they are 429
// with Retry-After and not stored.
func TestFrontendErrorsRateLimited(t *testing.T) {
	e := newAPIEnv(t, func(c *config.Config) { c.API.AnonRate = 3 })
	accepted, limited := 0, 0
	for range 8 {
		resp, raw := e.do("POST", "/api/v1/frontend-errors", "", map[string]any{"message": "flood"})
		switch resp.StatusCode {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
	}
	if limited == 0 {
		t.Fatalf("8 reports at 3 a minute: none refused")
	}
	if n := opsCount(t, e, "frontend_errors"); n != accepted {
		t.Errorf("%d reports stored, %d accepted", n, accepted)
	}
}
