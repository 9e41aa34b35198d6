package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// WriteReadings stores readings, skipping entries already stored, and
// moves each node's resume point and last_seen forward in the same
// transaction.
//
// The fast path COPYs straight into readings, with each node's retention
// class from a short-lived cache: in the steady state devices fetch only
// entries after their last stored one, so nothing collides and the write
// costs what a raw COPY costs. When a batch does collide (a re-fetch after a
// crash) or names a node deleted meanwhile, the transaction is rolled back
// and the batch goes through a staging table and INSERT … ON CONFLICT DO
// NOTHING instead.
func (s *Store) WriteReadings(ctx context.Context, rows []telemetry.Reading) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.ensureMonths(ctx, rows); err != nil {
		return err
	}
	classes, err := s.retentionClasses(ctx, rows)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"readings"}, append(copyColumns, "retention_days"), copyRows(rows, classes)); err != nil {
			return err
		}
		return advanceNodes(ctx, tx, rows)
	})
	if err != nil && (isCode(err, "23505") || isCode(err, "23503")) {
		return s.writeViaStaging(ctx, rows)
	}
	return err
}

var copyColumns = []string{"node_id", "entry_id", "created_at", "field1", "field2", "field3", "field4", "field5", "field6", "field7", "field8"}

// writeViaStaging is the collision-safe path: COPY into a per-session
// staging table, then one INSERT … SELECT that skips stored entries, takes
// the retention class from the node's plan and drops rows of deleted nodes.
func (s *Store) writeViaStaging(ctx context.Context, rows []telemetry.Reading) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// ON COMMIT DELETE ROWS: the table lives as long as the pooled
		// connection and is empty at the start of every transaction.
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS readings_staging
			(node_id uuid, entry_id bigint, created_at timestamptz, field1 float8, field2 float8, field3 float8,
			 field4 float8, field5 float8, field6 float8, field7 float8, field8 float8) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"readings_staging"}, copyColumns, copyRows(rows, nil)); err != nil {
			return fmt.Errorf("copy readings: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO readings (node_id, entry_id, created_at, field1, field2, field3, field4,
				field5, field6, field7, field8, retention_days)
			SELECT r.node_id, r.entry_id, r.created_at, r.field1, r.field2, r.field3, r.field4, r.field5, r.field6,
				r.field7, r.field8, p.retention_days
			FROM readings_staging r JOIN nodes n ON n.id = r.node_id JOIN plans p ON p.id = n.plan_id
			ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		return advanceNodes(ctx, tx, rows)
	})
}

// advanceNodes moves each node's resume point and last_seen forward (never
// back) with one statement for the whole batch.
func advanceNodes(ctx context.Context, tx pgx.Tx, rows []telemetry.Reading) error {
	last := sqlcore.NewestPerNode(rows)
	ids, entries, seen := make([]string, 0, len(last)), make([]int64, 0, len(last)), make([]time.Time, 0, len(last))
	for node, n := range last {
		ids, entries, seen = append(ids, string(node)), append(entries, n.EntryID), append(seen, n.At)
	}
	_, err := tx.Exec(ctx, `UPDATE nodes n SET last_entry_id = v.entry_id, last_seen = GREATEST(n.last_seen, v.seen)
		FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS v(id, entry_id, seen)
		WHERE n.id = v.id AND n.last_entry_id < v.entry_id`, ids, entries, seen)
	return err
}

// copyRows feeds readings to COPY without building an intermediate table;
// with classes it appends each row's retention class, skipping rows of
// nodes that have none (deleted nodes).
func copyRows(rows []telemetry.Reading, classes map[telemetry.NodeID]int16) pgx.CopyFromSource {
	i := -1
	return pgx.CopyFromFunc(func() ([]any, error) {
		for {
			i++
			if i >= len(rows) {
				return nil, nil
			}
			r := rows[i]
			class, known := classes[r.Node]
			if classes != nil && !known {
				continue
			}
			vals := make([]any, 0, 12)
			vals = append(vals, string(r.Node), r.EntryID, r.CreatedAt)
			for _, f := range r.Fields {
				vals = append(vals, sqlcore.FieldArg(f))
			}
			if classes != nil {
				vals = append(vals, class)
			}
			return vals, nil
		}
	})
}

// ensureMonths makes sure the monthly partitions of the batch's months
// exist. Months seen once are remembered: the call costs a map lookup in
// the steady state.
func (s *Store) ensureMonths(ctx context.Context, rows []telemetry.Reading) error {
	lo, hi := rows[0].CreatedAt, rows[0].CreatedAt
	for _, r := range rows[1:] {
		if r.CreatedAt.Before(lo) {
			lo = r.CreatedAt
		}
		if r.CreatedAt.After(hi) {
			hi = r.CreatedAt
		}
	}
	s.monthsMu.Lock()
	defer s.monthsMu.Unlock()
	missing := false
	for m := monthOf(lo); !m.After(hi); m = m.AddDate(0, 1, 0) {
		if !s.months[m] {
			missing = true
			break
		}
	}
	if !missing {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `SELECT evara_ensure_reading_partitions($1, $2)`, lo, hi); err != nil {
		return fmt.Errorf("reading partitions: %w", err)
	}
	for m := monthOf(lo); !m.After(hi); m = m.AddDate(0, 1, 0) {
		s.months[m] = true
	}
	return nil
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// DropExpiredReadings detaches and drops every monthly partition past its
// class's retention at now, and returns the dropped partitions' names.
func (s *Store) DropExpiredReadings(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT evara_drop_expired_reading_partitions($1)`, now)
	if err != nil {
		return nil, err
	}
	dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	// Forget months: a dropped month that receives data again is recreated.
	s.monthsMu.Lock()
	s.months = map[time.Time]bool{}
	s.monthsMu.Unlock()
	return dropped, nil
}

// EnsureReadingPartitions creates the partitions from the previous month
// through months ahead (the scheduled maintenance job).
func (s *Store) EnsureReadingPartitions(ctx context.Context, now time.Time, monthsAhead int) error {
	from := monthOf(now).AddDate(0, -1, 0)
	_, err := s.pool.Exec(ctx, `SELECT evara_ensure_reading_partitions($1, $2)`, from, monthOf(now).AddDate(0, monthsAhead, 0))
	return err
}

// ExpireReadings is the scheduled retention job: it keeps partitions created
// three months ahead and drops those past their plan's retention.
func (s *Store) ExpireReadings(ctx context.Context, now time.Time) ([]string, error) {
	if err := s.EnsureReadingPartitions(ctx, now, 3); err != nil {
		return nil, err
	}
	return s.DropExpiredReadings(ctx, now)
}
