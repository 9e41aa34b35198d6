package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// alertExtras is what the alert routes need beyond AlertStore.
type alertExtras interface{}

// alertJSON is an alert as the dashboard reads it (SPEC §7).
type alertJSON struct {
	ID                string       `json:"id"`
	RuleID            *string      `json:"rule_id"`
	NodeID            string       `json:"node_id"`
	Kind              string       `json:"kind"`
	Metric            *string      `json:"metric"`
	Severity          string       `json:"severity"`
	Status            string       `json:"status"`
	Message           string       `json:"message"`
	Value             *float64     `json:"value"`
	Threshold         *float64     `json:"threshold"`
	TriggeredAt       time.Time    `json:"triggered_at"`
	AcknowledgedAt    *time.Time   `json:"acknowledged_at"`
	AcknowledgedBy    *string      `json:"acknowledged_by"`
	ResolvedAt        *time.Time   `json:"resolved_at"`
	ResolvedBy        *string      `json:"resolved_by"`
	ResolutionComment *string      `json:"resolution_comment"`
	Rule              *ruleRefJSON `json:"rule"`
}

// ruleRefJSON is the part of a rule shown beside its alerts; null once
// the rule is deleted, and for alerts no rule raised.
type ruleRefJSON struct {
	Name      string  `json:"name"`
	Metric    string  `json:"metric"`
	Condition string  `json:"condition"`
	Threshold float64 `json:"threshold"`
}

func ruleRefOf(r *telemetry.AlertRuleRef) *ruleRefJSON {
	if r == nil {
		return nil
	}
	return &ruleRefJSON{Name: r.Name, Metric: r.Metric, Condition: string(r.Condition), Threshold: r.Threshold}
}

func alertOf(a telemetry.Alert) alertJSON {
	return alertJSON{ID: a.ID, RuleID: a.RuleID, NodeID: string(a.NodeID), Kind: string(a.Kind), Metric: a.Metric,
		Severity: string(a.Severity), Status: string(a.Status), Message: a.Message, Value: a.Value, Threshold: a.Threshold,
		TriggeredAt: a.TriggeredAt, AcknowledgedAt: a.AcknowledgedAt, AcknowledgedBy: a.AcknowledgedBy,
		ResolvedAt: a.ResolvedAt, ResolvedBy: a.ResolvedBy, ResolutionComment: a.ResolutionComment, Rule: ruleRefOf(a.Rule)}
}

// alertSummaryJSON counts a scope's alerts: all of them by status, and the
// active ones (open or acknowledged) by severity.
type alertSummaryJSON struct {
	Total        int            `json:"total"`
	Active       int            `json:"active"`
	Open         int            `json:"open"`
	Acknowledged int            `json:"acknowledged"`
	Resolved     int            `json:"resolved"`
	BySeverity   map[string]int `json:"by_severity"`
}

// maxResolutionComment bounds a resolution comment, in bytes.
const maxResolutionComment = 2000

// alertRoutes declares the alert lifecycle and, before /alerts/:id so that
// it does not capture them, /alerts/summary and the rule routes.
func (s *Server) alertRoutes() {
	s.handle(fiber.MethodGet, "/alerts", PermNodeRead, "alerts in scope; ?status=&severity=&node_id=&limit=&offset=", s.listAlerts)
	s.handle(fiber.MethodGet, "/alerts/summary", PermNodeRead, "alert counts in scope by status and active ones by severity", s.alertSummary)
	s.declareRuleRoutes()
	s.handle(fiber.MethodGet, "/alerts/:id", PermNodeRead, "one alert", s.getAlert)
	s.handle(fiber.MethodPost, "/alerts/:id/acknowledge", PermAlertAck, "acknowledge an open alert", s.acknowledgeAlert)
	s.handle(fiber.MethodPost, "/alerts/:id/resolve", PermAlertManage, "resolve an alert; optional body {comment}", s.resolveAlert)
}

func (s *Server) listAlerts(c *fiber.Ctx) error {
	f, err := alertFilterOf(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	alerts, total, err := s.store.ListAlerts(ctx, scopeOf(c), f)
	if err != nil {
		return err
	}
	out := make([]alertJSON, len(alerts))
	for i, a := range alerts {
		out[i] = alertOf(a)
	}
	setTotal(c, total)
	return c.JSON(out)
}

// alertFilterOf reads ?status=&severity=&node_id= and the page. status
// "active" asks for open and acknowledged alerts together.
func alertFilterOf(c *fiber.Ctx) (telemetry.AlertFilter, error) {
	var f telemetry.AlertFilter
	var v checks
	switch st := telemetry.AlertStatus(c.Query("status")); st {
	case "":
	case "active":
		f.Unresolved = true
	case telemetry.AlertOpen, telemetry.AlertAcknowledged, telemetry.AlertResolved:
		f.Status = st
	default:
		v.check(false, "status", "must be open, acknowledged, resolved or active")
	}
	f.Severity = telemetry.Severity(c.Query("severity"))
	v.check(f.Severity == "" || validSeverity(f.Severity), "severity", "must be info, warning or critical")
	f.NodeID = telemetry.NodeID(c.Query("node_id"))
	p, err := page(c)
	if err != nil {
		return f, err
	}
	f.Page = p
	return f, v.err()
}

func validSeverity(s telemetry.Severity) bool {
	switch s {
	case telemetry.SeverityInfo, telemetry.SeverityWarning, telemetry.SeverityCritical:
		return true
	}
	return false
}

func (s *Server) alertSummary(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	sum, err := s.store.AlertSummary(ctx, scopeOf(c))
	if err != nil {
		return err
	}
	out := alertSummaryJSON{Total: sum.Total, Open: sum.ByStatus[telemetry.AlertOpen],
		Acknowledged: sum.ByStatus[telemetry.AlertAcknowledged], Resolved: sum.ByStatus[telemetry.AlertResolved],
		BySeverity: map[string]int{}}
	out.Active = out.Open + out.Acknowledged
	for _, sev := range []telemetry.Severity{telemetry.SeverityInfo, telemetry.SeverityWarning, telemetry.SeverityCritical} {
		out.BySeverity[string(sev)] = sum.BySeverity[sev]
	}
	return c.JSON(out)
}

func (s *Server) getAlert(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	a, err := s.store.GetAlert(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(alertOf(a))
}

// acknowledgeAlert moves an open alert to acknowledged. Acknowledging it
// again changes nothing and is not audited again; a resolved alert is 409.
func (s *Server) acknowledgeAlert(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope, id := scopeOf(c), param(c, "id")
	before, err := s.store.GetAlert(ctx, scope, id)
	if err != nil {
		return err
	}
	after, err := s.store.AcknowledgeAlert(ctx, scope, before.ID, principalOf(c).UserID())
	if err != nil {
		return err
	}
	if after.Status != before.Status {
		s.record(c, "alert.acknowledge", "alert", after.ID, map[string]any{
			"node_id": string(after.NodeID), "before": string(before.Status), "after": string(after.Status)})
	}
	return c.JSON(alertOf(after))
}

type resolveRequest struct {
	Comment *string `json:"comment"`
}

// resolveAlert resolves an open or acknowledged alert. The body is
// optional; a resolved alert is 409, so that a second resolver learns that
// someone else's resolution (and comment) stands.
func (s *Server) resolveAlert(c *fiber.Ctx) error {
	var req resolveRequest
	if len(c.Body()) > 0 {
		if err := decode(c, &req); err != nil {
			return err
		}
	}
	comment := ""
	if req.Comment != nil {
		comment = *req.Comment
	}
	if len(comment) > maxResolutionComment {
		return invalid("comment", "must be at most 2000 bytes")
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope, user := scopeOf(c), principalOf(c).UserID()
	before, err := s.store.GetAlert(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	if before.Status == telemetry.AlertResolved {
		return fiber.NewError(fiber.StatusConflict, "the alert is already resolved")
	}
	after, err := s.store.ResolveAlert(ctx, scope, before.ID, user, comment)
	if err != nil {
		return err
	}
	if after.ResolvedBy == nil || *after.ResolvedBy != user {
		return fiber.NewError(fiber.StatusConflict, "the alert was resolved by someone else meanwhile")
	}
	s.dashStats.forget() // one alert fewer is active: this replica's next figures show it
	s.record(c, "alert.resolve", "alert", after.ID, map[string]any{
		"node_id": string(after.NodeID), "before": string(before.Status), "after": string(after.Status), "comment": comment})
	return c.JSON(alertOf(after))
}
