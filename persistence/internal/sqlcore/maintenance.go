package sqlcore

import (
	"context"
	"errors"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

const windowColumns = `w.id, w.node_id, w.community_id, w.starts_at, w.ends_at, w.reason, w.created_by, w.created_at`

func scanWindow(row Row) (telemetry.MaintenanceWindow, error) {
	var (
		w    telemetry.MaintenanceWindow
		node *string
	)
	err := row.Scan(S(&w.ID), NS(&node), NS(&w.CommunityID), T(&w.StartsAt), T(&w.EndsAt), &w.Reason,
		NS(&w.CreatedBy), T(&w.CreatedAt))
	if node != nil {
		w.NodeID = (*telemetry.NodeID)(node)
	}
	return w, err
}

// windowScope is the condition that a window (alias w) is within scope:
// its node is, or its community is.
func windowScope(scope telemetry.Scope, a *args) string {
	return "(" + nodeInScope("w.node_id", scope, a) + " OR " + communityInScope("w.community_id", scope, a, true) + ")"
}

// CreateWindow stores a maintenance window of a node or of a community
// within scope (one outside it is not found) and fills in its id and
// creation time. A window must have exactly one target and end after it
// starts (ErrInvalid).
func (s *Store) CreateWindow(ctx context.Context, scope telemetry.Scope, w *telemetry.MaintenanceWindow) error {
	if (w.NodeID == nil) == (w.CommunityID == nil) {
		return errors.Join(telemetry.ErrInvalid, errors.New("a maintenance window covers either a node or a community"))
	}
	w.StartsAt, w.EndsAt = opsTime(w.StartsAt), opsTime(w.EndsAt)
	if !w.EndsAt.After(w.StartsAt) {
		return errors.Join(telemetry.ErrInvalid, errors.New("a maintenance window must end after it starts"))
	}
	target := opsText(w.CommunityID)
	if w.NodeID != nil {
		target = string(*w.NodeID)
	}
	target, ok := opsID(target)
	if !ok {
		return telemetry.ErrNotFound
	}
	if w.ID == "" {
		w.ID = NewID()
	}
	now := opsNow()
	a := args{w.ID, target, w.Reason, s.d.Time(w.StartsAt), s.d.Time(w.EndsAt), Opt(w.CreatedBy), s.d.Time(now)}
	var query string
	if w.NodeID != nil {
		query = `INSERT INTO maintenance_windows (id, node_id, reason, starts_at, ends_at, created_by, created_at)
			SELECT $1, n.id, $3, $4, $5, $6, $7 FROM nodes n WHERE n.id = $2 AND ` + nodeScope(scope, &a)
	} else {
		query = `INSERT INTO maintenance_windows (id, community_id, reason, starts_at, ends_at, created_by, created_at)
			SELECT $1, c.id, $3, $4, $5, $6, $7 FROM communities c WHERE c.id = $2 AND ` + communityInScope("c.id", scope, &a, false)
	}
	if err := affectedOne(s.db.Exec(ctx, s.q(query), a...)); err != nil {
		return s.translate(err, "maintenance window")
	}
	if w.NodeID != nil {
		w.NodeID = (*telemetry.NodeID)(&target)
	} else {
		w.CommunityID = &target
	}
	w.CreatedAt = now
	return nil
}

// ListWindows returns the maintenance windows within scope, those covering
// activeAt when it is set, by start.
func (s *Store) ListWindows(ctx context.Context, scope telemetry.Scope, activeAt *time.Time) ([]telemetry.MaintenanceWindow, error) {
	var a args
	cond := where{windowScope(scope, &a)}
	if activeAt != nil {
		at := a.add(s.d.Time(*activeAt))
		cond = append(cond, "w.starts_at <= "+at, "w.ends_at > "+at)
	}
	return s.queryWindows(ctx, "SELECT "+windowColumns+" FROM maintenance_windows w"+cond.String()+" ORDER BY w.starts_at, w.id", a...)
}

func (s *Store) queryWindows(ctx context.Context, query string, a ...any) ([]telemetry.MaintenanceWindow, error) {
	rows, err := s.db.Query(ctx, s.q(query), a...)
	if err != nil {
		return nil, s.translate(err, "maintenance window")
	}
	defer rows.Close()
	var out []telemetry.MaintenanceWindow
	for rows.Next() {
		w, err := scanWindow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWindow removes a maintenance window within scope.
func (s *Store) DeleteWindow(ctx context.Context, scope telemetry.Scope, id string) error {
	id, ok := opsID(id)
	if !ok {
		return telemetry.ErrNotFound
	}
	a := args{id}
	err := affectedOne(s.db.Exec(ctx, s.q("DELETE FROM maintenance_windows WHERE id IN (SELECT w.id FROM maintenance_windows w WHERE w.id = $1 AND "+
		windowScope(scope, &a)+")"), a...))
	return s.translate(err, "maintenance window")
}

// InMaintenance reports whether a window of the node, or of its community,
// covers at (no scope: the device actor asks for its own node).
func (s *Store) InMaintenance(ctx context.Context, nodeID telemetry.NodeID, at time.Time) (bool, error) {
	node, ok := asNodeID(nodeID)
	if !ok {
		return false, nil
	}
	var covered bool
	err := s.db.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM maintenance_windows w
		WHERE w.starts_at <= $2 AND w.ends_at > $2
		AND (w.node_id = $1 OR w.community_id = (SELECT n.community_id FROM nodes n WHERE n.id = $1)))`),
		string(node), s.d.Time(at)).Scan(&covered)
	return covered, s.translate(err, "maintenance window")
}

// NodeWindows returns the maintenance windows of the node or of its
// community that end after after, by start (no scope: the device actor
// asks for its own node, and decides locally when each one covers it).
func (s *Store) NodeWindows(ctx context.Context, nodeID telemetry.NodeID, after time.Time) ([]telemetry.MaintenanceWindow, error) {
	node, ok := asNodeID(nodeID)
	if !ok {
		return nil, nil
	}
	return s.queryWindows(ctx, "SELECT "+windowColumns+` FROM maintenance_windows w
		WHERE w.ends_at > $2 AND (w.node_id = $1 OR w.community_id = (SELECT n.community_id FROM nodes n WHERE n.id = $1))
		ORDER BY w.starts_at, w.id`, string(node), s.d.Time(after))
}
