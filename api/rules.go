package api

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// ruleRoutes is empty: the rule routes live under /alerts/rules, so
// alertRoutes declares them (declareRuleRoutes) before /alerts/:id, which
// would otherwise capture them.
func (s *Server) ruleRoutes() {}

func (s *Server) declareRuleRoutes() {
	s.handle(fiber.MethodGet, "/alerts/rules", PermNodeRead, "alert rules of the nodes in scope; ?node_id=", s.listRules)
	s.handle(fiber.MethodPost, "/alerts/rules", PermAlertManage, "create an alert rule for a node", s.createRule)
	s.handle(fiber.MethodPut, "/alerts/rules/:id", PermAlertManage, "change an alert rule (fields left out keep their value)", s.updateRule)
	s.handle(fiber.MethodDelete, "/alerts/rules/:id", PermAlertManage, "delete an alert rule (its open alerts are resolved)", s.deleteRule)
}

// ruleJSON is an alert rule as the dashboard reads it (SPEC §7).
type ruleJSON struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	NodeID          string    `json:"node_id"`
	Metric          string    `json:"metric"`
	Condition       string    `json:"condition"`
	Threshold       float64   `json:"threshold"`
	Severity        string    `json:"severity"`
	Enabled         bool      `json:"enabled"`
	CooldownMinutes int       `json:"cooldown_minutes"`
	CreatedBy       *string   `json:"created_by"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func ruleOf(r telemetry.AlertRule) ruleJSON {
	return ruleJSON{ID: r.ID, Name: r.Name, NodeID: string(r.NodeID), Metric: r.Metric, Condition: string(r.Condition),
		Threshold: r.Threshold, Severity: string(r.Severity), Enabled: r.Enabled, CooldownMinutes: r.CooldownMinutes,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// ruleRequest is the body of POST and PUT. On PUT every field is
// optional (left out: unchanged) and node_id, when sent, must be the
// rule's own: a rule's node is fixed when it is created.
type ruleRequest struct {
	Name            *string  `json:"name"`
	NodeID          *string  `json:"node_id"`
	Metric          *string  `json:"metric"`
	Condition       *string  `json:"condition"`
	Threshold       *float64 `json:"threshold"`
	Severity        *string  `json:"severity"`
	Enabled         *bool    `json:"enabled"`
	CooldownMinutes *int     `json:"cooldown_minutes"`
}

// Rule bounds.
const (
	maxRuleName     = 200
	maxRuleMetric   = 64
	maxCooldown     = 7 * 24 * 60 // a week, in minutes
	defaultCooldown = 15
	msgRequired     = "is required"
)

// apply copies the request's fields onto r and checks the result.
func (req ruleRequest) apply(r *telemetry.AlertRule) error {
	if req.Name != nil {
		r.Name = strings.TrimSpace(*req.Name)
	}
	if req.Metric != nil {
		r.Metric = strings.TrimSpace(*req.Metric)
	}
	if req.Condition != nil {
		r.Condition = telemetry.Condition(*req.Condition)
	}
	if req.Threshold != nil {
		r.Threshold = *req.Threshold
	}
	if req.Severity != nil {
		r.Severity = telemetry.Severity(*req.Severity)
	}
	if req.Enabled != nil {
		r.Enabled = *req.Enabled
	}
	if req.CooldownMinutes != nil {
		r.CooldownMinutes = *req.CooldownMinutes
	}
	var v checks
	v.check(r.Name != "" && utf8.RuneCountInString(r.Name) <= maxRuleName, "name", "must be 1 to 200 characters")
	v.check(r.Metric != "" && len(r.Metric) <= maxRuleMetric && !strings.ContainsRune(r.Metric, 0), "metric", "must be a field alias or name of 1 to 64 bytes")
	v.check(r.Condition.Valid(), "condition", "must be one of > < >= <= == !=")
	v.check(!math.IsNaN(r.Threshold) && !math.IsInf(r.Threshold, 0), "threshold", "must be a finite number")
	v.check(validSeverity(r.Severity), "severity", "must be info, warning or critical")
	v.check(r.CooldownMinutes >= 0 && r.CooldownMinutes <= maxCooldown, "cooldown_minutes", "must be from 0 to 10080")
	return v.err()
}

func (s *Server) listRules(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	rules, err := s.store.ListRules(ctx, scopeOf(c), telemetry.NodeID(c.Query("node_id")))
	if err != nil {
		return err
	}
	out := make([]ruleJSON, len(rules))
	for i, r := range rules {
		out[i] = ruleOf(r)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

// createRule creates a rule for a node in the caller's scope; a node
// outside it is 404 and nothing is written.
func (s *Server) createRule(c *fiber.Ctx) error {
	var req ruleRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var v checks
	v.check(req.NodeID != nil && *req.NodeID != "", "node_id", msgRequired)
	v.check(req.Name != nil, "name", msgRequired)
	v.check(req.Metric != nil, "metric", msgRequired)
	v.check(req.Condition != nil, "condition", msgRequired)
	v.check(req.Threshold != nil, "threshold", msgRequired)
	v.check(req.Severity != nil, "severity", msgRequired)
	if err := v.err(); err != nil {
		return err
	}
	r := telemetry.AlertRule{NodeID: telemetry.NodeID(*req.NodeID), Enabled: true, CooldownMinutes: defaultCooldown}
	if err := req.apply(&r); err != nil {
		return err
	}
	user := principalOf(c).UserID()
	r.CreatedBy = &user
	ctx, cancel := reqContext()
	defer cancel()
	if err := s.store.CreateRule(ctx, scopeOf(c), &r); err != nil {
		return err
	}
	s.record(c, "alert_rule.create", "alert_rule", r.ID, map[string]any{"node_id": string(r.NodeID), "after": ruleOf(r)})
	s.alertSettingsChanged(ctx, r.NodeID, "")
	return c.Status(fiber.StatusCreated).JSON(ruleOf(r))
}

func (s *Server) updateRule(c *fiber.Ctx) error {
	var req ruleRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req == (ruleRequest{}) {
		return invalid("body", "names no field to change")
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	before, err := s.store.GetRule(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	if req.NodeID != nil && !strings.EqualFold(*req.NodeID, string(before.NodeID)) {
		return invalid("node_id", "a rule's node cannot change; create a rule for the other node")
	}
	r := before
	if err := req.apply(&r); err != nil {
		return err
	}
	after, err := s.store.UpdateRule(ctx, scope, r)
	if err != nil {
		return err
	}
	s.record(c, "alert_rule.update", "alert_rule", after.ID, map[string]any{
		"node_id": string(after.NodeID), "before": ruleOf(before), "after": ruleOf(after)})
	s.alertSettingsChanged(ctx, after.NodeID, "")
	return c.JSON(ruleOf(after))
}

func (s *Server) deleteRule(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	before, err := s.store.GetRule(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteRule(ctx, scope, before.ID); err != nil {
		return err
	}
	s.record(c, "alert_rule.delete", "alert_rule", before.ID, map[string]any{"node_id": string(before.NodeID), "before": ruleOf(before)})
	s.alertSettingsChanged(ctx, before.NodeID, "")
	return c.SendStatus(fiber.StatusNoContent)
}
