package sqlcore

import (
	"context"

	"github.com/evaratech/evara/internal/telemetry"
)

const ruleColumns = `r.id, r.node_id, r.name, r.metric, r.condition, r.threshold, r.severity, r.enabled,
	r.cooldown_minutes, r.created_by, r.created_at, r.updated_at`

func scanRule(row Row) (telemetry.AlertRule, error) {
	var r telemetry.AlertRule
	err := row.Scan(S(&r.ID), S((*string)(&r.NodeID)), &r.Name, &r.Metric, (*string)(&r.Condition), &r.Threshold,
		(*string)(&r.Severity), &r.Enabled, &r.CooldownMinutes, NS(&r.CreatedBy), T(&r.CreatedAt), T(&r.UpdatedAt))
	return r, err
}

// CreateRule stores a new alert rule for a node within scope (a node
// outside it is not found) and fills in its id and timestamps.
func (s *Store) CreateRule(ctx context.Context, scope telemetry.Scope, r *telemetry.AlertRule) error {
	node, ok := opsID(string(r.NodeID))
	if !ok {
		return telemetry.ErrNotFound
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	now := opsNow()
	a := args{r.ID, node, r.Name, r.Metric, string(r.Condition), r.Threshold, string(r.Severity), r.Enabled,
		r.CooldownMinutes, Opt(r.CreatedBy), s.d.Time(now)}
	query := `INSERT INTO alert_rules (id, node_id, name, metric, condition, threshold, severity, enabled,
		cooldown_minutes, created_by, created_at, updated_at)
		SELECT $1, n.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11 FROM nodes n
		WHERE n.id = $2 AND ` + nodeScope(scope, &a)
	if err := affectedOne(s.db.Exec(ctx, s.q(query), a...)); err != nil {
		return s.translate(err, "alert rule")
	}
	r.NodeID, r.CreatedAt, r.UpdatedAt = telemetry.NodeID(node), now, now
	return nil
}

// GetRule returns a rule of a node within scope.
func (s *Store) GetRule(ctx context.Context, scope telemetry.Scope, id string) (telemetry.AlertRule, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.AlertRule{}, telemetry.ErrNotFound
	}
	var a args
	cond := where{"r.id = " + a.add(id), nodeScope(scope, &a)}
	r, err := scanRule(s.db.QueryRow(ctx, s.q("SELECT "+ruleColumns+
		" FROM alert_rules r JOIN nodes n ON n.id = r.node_id"+cond.String()), a...))
	return r, s.translate(err, "alert rule")
}

// ListRules returns the rules of the nodes within scope, of one node when
// nodeID is set, by node and name.
func (s *Store) ListRules(ctx context.Context, scope telemetry.Scope, nodeID telemetry.NodeID) ([]telemetry.AlertRule, error) {
	var a args
	cond := where{nodeScope(scope, &a)}
	if nodeID != "" {
		node, ok := opsID(string(nodeID))
		if !ok {
			return nil, nil
		}
		cond = append(cond, "r.node_id = "+a.add(node))
	}
	return s.queryRules(ctx, "SELECT "+ruleColumns+" FROM alert_rules r JOIN nodes n ON n.id = r.node_id"+
		cond.String()+" ORDER BY r.node_id, r.name, r.id", a...)
}

// EnabledRules returns a node's enabled rules: what its device actor
// evaluates (no scope: the runtime owns every node).
func (s *Store) EnabledRules(ctx context.Context, nodeID telemetry.NodeID) ([]telemetry.AlertRule, error) {
	node, ok := opsID(string(nodeID))
	if !ok {
		return nil, nil
	}
	return s.queryRules(ctx, "SELECT "+ruleColumns+" FROM alert_rules r WHERE r.node_id = $1 AND r.enabled ORDER BY r.name, r.id", node)
}

func (s *Store) queryRules(ctx context.Context, query string, a ...any) ([]telemetry.AlertRule, error) {
	return queryAll(ctx, s, "alert rule", query, a, scanRule)
}

// UpdateRule replaces a rule's editable fields (name, metric, condition,
// threshold, severity, enabled, cooldown; not its node) and returns the
// stored rule. Patch semantics belong to the caller.
func (s *Store) UpdateRule(ctx context.Context, scope telemetry.Scope, r telemetry.AlertRule) (telemetry.AlertRule, error) {
	id, ok := opsID(r.ID)
	if !ok {
		return telemetry.AlertRule{}, telemetry.ErrNotFound
	}
	a := args{r.Name, r.Metric, string(r.Condition), r.Threshold, string(r.Severity), r.Enabled, r.CooldownMinutes,
		s.d.Time(opsNow()), id}
	query := `UPDATE alert_rules SET name = $1, metric = $2, condition = $3, threshold = $4, severity = $5,
		enabled = $6, cooldown_minutes = $7, updated_at = $8
		WHERE id = $9 AND ` + nodeInScope("node_id", scope, &a)
	if err := affectedOne(s.db.Exec(ctx, s.q(query), a...)); err != nil {
		return telemetry.AlertRule{}, s.translate(err, "alert rule")
	}
	return s.GetRule(ctx, telemetry.Scope{All: true}, id)
}

// DeleteRule removes a rule of a node within scope. Its unresolved alerts
// are resolved (by the schema's trigger) and keep their history without it.
func (s *Store) DeleteRule(ctx context.Context, scope telemetry.Scope, id string) error {
	id, ok := opsID(id)
	if !ok {
		return telemetry.ErrNotFound
	}
	a := args{id}
	err := affectedOne(s.db.Exec(ctx, s.q("DELETE FROM alert_rules WHERE id = $1 AND "+nodeInScope("node_id", scope, &a)), a...))
	return s.translate(err, "alert rule")
}
