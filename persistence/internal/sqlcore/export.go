package sqlcore

import (
	"context"

	"github.com/evaratech/evara/internal/telemetry"
)

// Exports iterate their rows one at a time, straight from the driver's
// cursor, so that an export of any size runs in constant memory. fn's error
// stops the iteration (and closes the query) and is returned as is.

// streamRows runs query and calls fn with each row scanned by scan.
func streamRows[T any](ctx context.Context, s *Store, what, query string, a args, scan func(Row) (T, error), fn func(T) error) error {
	rows, err := s.db.Query(ctx, s.q(query), a...)
	if err != nil {
		return s.translate(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// StreamNodes calls fn with every node in scope, ordered by label and id.
func (s *Store) StreamNodes(ctx context.Context, scope telemetry.Scope, fn func(telemetry.Node) error) error {
	var a args
	cond := where{nodeScope(scope, &a)}
	return streamRows(ctx, s, "node", "SELECT "+nodeColumns+nodeFrom+cond.String()+" ORDER BY n.label, n.id", a, scanNode, fn)
}

// StreamAlerts calls fn with every alert in scope that matches f, newest
// first (f.Page is ignored: there is no page).
func (s *Store) StreamAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter, fn func(telemetry.Alert) error) error {
	var a args
	cond := alertFilter(scope, f, &a)
	return streamRows(ctx, s, "alert", "SELECT "+alertColumns+alertFrom+cond.String()+" ORDER BY a.triggered_at DESC, a.id DESC", a, scanAlert, fn)
}
