package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

const alertColumns = `a.id, a.node_id, a.kind, a.rule_id, a.metric, a.severity, a.status, a.message, a.value, a.threshold,
	a.triggered_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution_comment,
	r.name, r.metric, r.condition, r.threshold`

// alertFrom joins the rule (for the dashboard's rule summary) and the node
// (for the scope condition).
const alertFrom = ` FROM alerts a JOIN nodes n ON n.id = a.node_id LEFT JOIN alert_rules r ON r.id = a.rule_id`

func scanAlert(row Row) (telemetry.Alert, error) {
	var (
		al       telemetry.Alert
		ruleName *string
		ruleMet  *string
		ruleCond *string
		ruleThr  *float64
	)
	err := row.Scan(S(&al.ID), S((*string)(&al.NodeID)), (*string)(&al.Kind), NS(&al.RuleID), NS(&al.Metric),
		(*string)(&al.Severity), (*string)(&al.Status), &al.Message, &al.Value, &al.Threshold,
		T(&al.TriggeredAt), NT(&al.AcknowledgedAt), NS(&al.AcknowledgedBy), NT(&al.ResolvedAt), NS(&al.ResolvedBy),
		NS(&al.ResolutionComment), NS(&ruleName), NS(&ruleMet), NS(&ruleCond), &ruleThr)
	if err == nil && ruleName != nil && ruleMet != nil && ruleCond != nil && ruleThr != nil {
		al.Rule = &telemetry.AlertRuleRef{Name: *ruleName, Metric: *ruleMet, Condition: telemetry.Condition(*ruleCond), Threshold: *ruleThr}
	}
	return al, err
}

// causeCond is the condition that an alert (alias a) has this cause, the
// way alerts_one_unresolved_per_cause compares it ("" and NULL metric alike).
func causeCond(node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric string, a *args) where {
	cond := where{"a.node_id = " + a.add(string(node)), "a.kind = " + a.add(string(kind)),
		"coalesce(a.metric, '') = " + a.add(metric)}
	if ruleID == "" {
		return append(cond, "a.rule_id IS NULL")
	}
	return append(cond, "a.rule_id = "+a.add(ruleID))
}

// OpenAlert opens al unless its cause (node, kind, rule, metric) already
// has an unresolved alert. It reports whether it created one, and fills al
// with the stored alert either way: the new one, or the one already open.
// Two callers racing for one cause — the old and the new owner of a device
// that moved — get one alert: the schema's partial unique index decides,
// the loser's insert does nothing and it reads the winner's row.
func (s *Store) OpenAlert(ctx context.Context, al *telemetry.Alert) (created bool, err error) {
	node, ok := asNodeID(al.NodeID)
	if !ok {
		return false, errors.Join(telemetry.ErrInvalid, errors.New("alert: the node id is not a UUID"))
	}
	ruleID := opsText(al.RuleID)
	if ruleID != "" {
		if ruleID, ok = opsID(ruleID); !ok {
			return false, errors.Join(telemetry.ErrInvalid, errors.New("alert: the rule id is not a UUID"))
		}
	}
	if al.TriggeredAt.IsZero() {
		al.TriggeredAt = opsNow()
	}
	// The open alert may be resolved between our insert and our read; then
	// the cause is free again and the next insert wins.
	for range 3 {
		var id string
		id, created, err = s.openAlertOnce(ctx, al, node, ruleID)
		if errors.Is(err, telemetry.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		*al, err = s.GetAlert(ctx, telemetry.Scope{All: true}, id)
		return created, err
	}
	return false, fmt.Errorf("alert: the open alert of this cause kept changing: %w", telemetry.ErrConflict)
}

// openAlertOnce inserts the alert, or finds the unresolved one of its
// cause; ErrNotFound means that one was resolved in between.
func (s *Store) openAlertOnce(ctx context.Context, al *telemetry.Alert, node telemetry.NodeID, ruleID string) (string, bool, error) {
	id := NewID()
	inserted, err := s.db.Exec(ctx, s.q(`INSERT INTO alerts (id, node_id, kind, rule_id, metric, severity, status, message,
		value, threshold, triggered_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10)
		ON CONFLICT DO NOTHING`),
		id, string(node), string(al.Kind), OptText(ruleID), Opt(al.Metric), string(al.Severity), al.Message,
		Opt(al.Value), Opt(al.Threshold), s.d.Time(opsTime(al.TriggeredAt)))
	if err != nil {
		return "", false, s.translate(err, "alert")
	}
	if inserted == 1 {
		return id, true, nil
	}
	var a args
	cond := append(causeCond(node, al.Kind, ruleID, opsText(al.Metric), &a), "a.status <> 'resolved'")
	id, err = s.alertID(ctx, "SELECT a.id FROM alerts a"+cond.String(), a...)
	return id, false, err
}

func opsText(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Store) alertID(ctx context.Context, query string, a ...any) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, s.q(query), a...).Scan(S(&id))
	return id, s.translate(err, "alert")
}

// ResolveAlertsFor resolves the unresolved alert of a cause (ruleID and
// metric "" when the cause has none) — the runtime's call when the
// condition clears — and returns it, or ErrNotFound when none is open.
// by is the resolving user ("" for the system).
func (s *Store) ResolveAlertsFor(ctx context.Context, node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric, by, comment string) (telemetry.Alert, error) {
	var ok bool
	if node, ok = asNodeID(node); !ok {
		return telemetry.Alert{}, telemetry.ErrNotFound
	}
	if ruleID != "" {
		if ruleID, ok = opsID(ruleID); !ok {
			return telemetry.Alert{}, telemetry.ErrNotFound
		}
	}
	a := args{s.d.Time(opsNow()), OptText(by), OptText(comment)}
	cond := append(causeCond(node, kind, ruleID, metric, &a), "a.status <> 'resolved'")
	id, err := s.alertID(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = $1, resolved_by = $2, resolution_comment = $3
		WHERE id IN (SELECT a.id FROM alerts a`+cond.String()+`) AND status <> 'resolved' RETURNING id`, a...)
	if err != nil {
		return telemetry.Alert{}, err
	}
	return s.GetAlert(ctx, telemetry.Scope{All: true}, id)
}

func asNodeID(id telemetry.NodeID) (telemetry.NodeID, bool) {
	v, ok := opsID(string(id))
	return telemetry.NodeID(v), ok
}

// OpenAlerts returns a node's unresolved alerts, oldest first: the alert
// state a device actor warms up from.
func (s *Store) OpenAlerts(ctx context.Context, nodeID telemetry.NodeID) ([]telemetry.Alert, error) {
	node, ok := asNodeID(nodeID)
	if !ok {
		return nil, nil
	}
	return s.queryAlerts(ctx, "SELECT "+alertColumns+alertFrom+
		" WHERE a.node_id = $1 AND a.status <> 'resolved' ORDER BY a.triggered_at, a.id", string(node))
}

// LastAlertActivity is when the node's alerts last changed: the latest
// trigger (the reading that raised it) or resolution; zero when it has
// none. A device taking the node over judges only readings after it.
func (s *Store) LastAlertActivity(ctx context.Context, nodeID telemetry.NodeID) (time.Time, error) {
	node, ok := asNodeID(nodeID)
	if !ok {
		return time.Time{}, nil
	}
	var triggered, resolved *time.Time
	err := s.db.QueryRow(ctx, s.q(`SELECT max(triggered_at), max(resolved_at) FROM alerts WHERE node_id = $1`), string(node)).
		Scan(NT(&triggered), NT(&resolved))
	if err != nil {
		return time.Time{}, s.translate(err, "alert")
	}
	var last time.Time
	for _, t := range []*time.Time{triggered, resolved} {
		if t != nil && t.After(last) {
			last = *t
		}
	}
	return last, nil
}

// GetAlert returns an alert of a node within scope.
func (s *Store) GetAlert(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Alert, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.Alert{}, telemetry.ErrNotFound
	}
	var a args
	cond := where{"a.id = " + a.add(id), nodeScope(scope, &a)}
	al, err := scanAlert(s.db.QueryRow(ctx, s.q("SELECT "+alertColumns+alertFrom+cond.String()), a...))
	return al, s.translate(err, "alert")
}

func alertFilter(scope telemetry.Scope, f telemetry.AlertFilter, a *args) where {
	cond := where{nodeScope(scope, a)}
	if f.Status != "" {
		cond = append(cond, "a.status = "+a.add(string(f.Status)))
	}
	if f.Unresolved {
		cond = append(cond, "a.status <> 'resolved'")
	}
	if f.Severity != "" {
		cond = append(cond, "a.severity = "+a.add(string(f.Severity)))
	}
	if f.NodeID != "" {
		node, ok := opsID(string(f.NodeID))
		if !ok {
			return append(cond, "1 = 0")
		}
		cond = append(cond, "a.node_id = "+a.add(node))
	}
	return cond
}

// ListAlerts returns one page of the alerts within scope that match f,
// newest first, and the number of matching alerts.
func (s *Store) ListAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter) ([]telemetry.Alert, int, error) {
	var a args
	cond := alertFilter(scope, f, &a)
	var total int
	if err := s.db.QueryRow(ctx, s.q("SELECT count(*) FROM alerts a JOIN nodes n ON n.id = a.node_id"+cond.String()), a...).Scan(&total); err != nil {
		return nil, 0, s.translate(err, "alert")
	}
	page := f.Page.Normalize()
	alerts, err := s.queryAlerts(ctx, "SELECT "+alertColumns+alertFrom+cond.String()+
		" ORDER BY a.triggered_at DESC, a.id DESC LIMIT "+a.add(page.Limit)+" OFFSET "+a.add(page.Offset), a...)
	return alerts, total, err
}

func (s *Store) queryAlerts(ctx context.Context, query string, a ...any) ([]telemetry.Alert, error) {
	return queryAll(ctx, s, "alert", query, a, scanAlert)
}

// AlertSummary counts the alerts within scope by status, and the
// unresolved ones by severity.
func (s *Store) AlertSummary(ctx context.Context, scope telemetry.Scope) (telemetry.AlertSummary, error) {
	sum := telemetry.AlertSummary{
		ByStatus:   map[telemetry.AlertStatus]int{telemetry.AlertOpen: 0, telemetry.AlertAcknowledged: 0, telemetry.AlertResolved: 0},
		BySeverity: map[telemetry.Severity]int{telemetry.SeverityInfo: 0, telemetry.SeverityWarning: 0, telemetry.SeverityCritical: 0},
	}
	var a args
	rows, err := s.db.Query(ctx, s.q("SELECT a.status, a.severity, count(*) FROM alerts a JOIN nodes n ON n.id = a.node_id"+
		where{nodeScope(scope, &a)}.String()+" GROUP BY a.status, a.severity"), a...)
	if err != nil {
		return sum, s.translate(err, "alert")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status, severity string
			n                int
		)
		if err := rows.Scan(&status, &severity, &n); err != nil {
			return sum, err
		}
		sum.Total += n
		sum.ByStatus[telemetry.AlertStatus(status)] += n
		if telemetry.AlertStatus(status) != telemetry.AlertResolved {
			sum.BySeverity[telemetry.Severity(severity)] += n
		}
	}
	return sum, rows.Err()
}

// CountActiveAlerts counts the unresolved alerts within scope.
func (s *Store) CountActiveAlerts(ctx context.Context, scope telemetry.Scope) (int, error) {
	var a args
	var n int
	err := s.db.QueryRow(ctx, s.q("SELECT count(*) FROM alerts a JOIN nodes n ON n.id = a.node_id"+
		where{nodeScope(scope, &a), "a.status <> 'resolved'"}.String()), a...).Scan(&n)
	return n, s.translate(err, "alert")
}

// AcknowledgeAlert moves an open alert within scope to acknowledged by the
// user by and returns it. Acknowledging an acknowledged alert changes
// nothing; a resolved one cannot be acknowledged (ErrConflict).
func (s *Store) AcknowledgeAlert(ctx context.Context, scope telemetry.Scope, id, by string) (telemetry.Alert, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.Alert{}, telemetry.ErrNotFound
	}
	a := args{s.d.Time(opsNow()), OptText(by), id}
	changed, err := s.db.Exec(ctx, s.q(`UPDATE alerts SET status = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2
		WHERE id = $3 AND status = 'open' AND `+nodeInScope("node_id", scope, &a)), a...)
	if err != nil {
		return telemetry.Alert{}, s.translate(err, "alert")
	}
	al, err := s.GetAlert(ctx, scope, id)
	if err == nil && changed == 0 && al.Status == telemetry.AlertResolved {
		return telemetry.Alert{}, errors.Join(telemetry.ErrConflict, errors.New("the alert is already resolved"))
	}
	return al, err
}

// ResolveAlert resolves an open or acknowledged alert within scope, by the
// user by with an optional comment, and returns it. Resolving a resolved
// alert changes nothing and returns it as it is.
func (s *Store) ResolveAlert(ctx context.Context, scope telemetry.Scope, id, by, comment string) (telemetry.Alert, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.Alert{}, telemetry.ErrNotFound
	}
	a := args{s.d.Time(opsNow()), OptText(by), OptText(comment), id}
	_, err := s.db.Exec(ctx, s.q(`UPDATE alerts SET status = 'resolved', resolved_at = $1, resolved_by = $2, resolution_comment = $3
		WHERE id = $4 AND status <> 'resolved' AND `+nodeInScope("node_id", scope, &a)), a...)
	if err != nil {
		return telemetry.Alert{}, s.translate(err, "alert")
	}
	return s.GetAlert(ctx, scope, id)
}
