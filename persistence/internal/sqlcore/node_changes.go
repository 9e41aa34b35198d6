package sqlcore

import (
	"context"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// NodeChangesSince returns the node change log's entries written after
// sinceMs (unix milliseconds, the database's clock), oldest first. A
// trigger writes one entry per created, reconfigured (version bumped) or
// deleted node.
func (s *Store) NodeChangesSince(ctx context.Context, sinceMs int64) ([]telemetry.NodeChange, error) {
	var a args
	return queryAll(ctx, s, "node change", "SELECT seq, node_id, changed_at_ms FROM node_changes WHERE changed_at_ms > "+a.add(sinceMs)+" ORDER BY seq", a,
		func(r Row) (telemetry.NodeChange, error) {
			var c telemetry.NodeChange
			err := r.Scan(&c.Seq, &c.Node, &c.AtUnixMs)
			return c, err
		})
}

// PruneNodeChanges deletes change log entries older than before.
func (s *Store) PruneNodeChanges(ctx context.Context, before time.Time) (int64, error) {
	var a args
	n, err := s.db.Exec(ctx, s.q("DELETE FROM node_changes WHERE changed_at_ms < "+a.add(before.UnixMilli())), a...)
	if err != nil {
		return 0, s.translate(err, "node change")
	}
	return n, nil
}
