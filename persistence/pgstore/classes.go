package pgstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evaratech/evara/internal/telemetry"
)

// classTTL bounds how long a node's retention class is trusted after a
// plan change: rows written in that window land in the old class, where
// they expire under the old plan's retention.
const classTTL = time.Minute

// classCache remembers each node's retention class (its plan's retention
// days) for the COPY fast path. It holds at most maxCachedClasses nodes.
type classCache struct {
	mu      sync.Mutex
	classes map[telemetry.NodeID]cachedClass
}

type cachedClass struct {
	days int16
	at   time.Time
}

const maxCachedClasses = 200_000

// retentionClasses returns the class of every node in rows that exists,
// reading the unknown or stale ones in one query.
func (s *Store) retentionClasses(ctx context.Context, rows []telemetry.Reading) (map[telemetry.NodeID]int16, error) {
	now := time.Now()
	out := map[telemetry.NodeID]int16{}
	var missing []string
	s.classes.mu.Lock()
	for _, r := range rows {
		if _, done := out[r.Node]; done {
			continue
		}
		if c, ok := s.classes.classes[r.Node]; ok && now.Sub(c.at) < classTTL {
			out[r.Node] = c.days
			continue
		}
		out[r.Node] = -1
		missing = append(missing, string(r.Node))
	}
	s.classes.mu.Unlock()
	for id, days := range out {
		if days < 0 {
			delete(out, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	res, err := s.pool.Query(ctx, `SELECT n.id::text, p.retention_days FROM nodes n JOIN plans p ON p.id = n.plan_id
		WHERE n.id = ANY($1::uuid[])`, missing)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	s.classes.mu.Lock()
	defer s.classes.mu.Unlock()
	if s.classes.classes == nil || len(s.classes.classes) > maxCachedClasses {
		s.classes.classes = map[telemetry.NodeID]cachedClass{}
	}
	for res.Next() {
		var id string
		var days int16
		if err := res.Scan(&id, &days); err != nil {
			return nil, err
		}
		out[telemetry.NodeID(id)] = days
		s.classes.classes[telemetry.NodeID(id)] = cachedClass{days: days, at: now}
	}
	return out, res.Err()
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
