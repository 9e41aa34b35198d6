package sqlcore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Analytics aggregates readings in SQL, grouped by UTC calendar day: the
// rows never travel to Go, only one row per day does.

// dayOf is the SQL expression of the UTC day (text YYYY-MM-DD) of a
// timestamp column. The engines store time differently: PostgreSQL as
// timestamptz, SQLite as fixed-width UTC text (SQLiteTime), whose first ten
// characters are the day.
func (s *Store) dayOf(col string) string {
	if s.d.Name == "postgres" {
		return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return "substr(" + col + ", 1, 10)"
}

// DailyStats returns the per-day count, minimum, average and maximum of
// each field of a node's readings created at or after since, ordered by
// field, then day. A field and day without a number have no entry; each
// field is aggregated on its own. A malformed node id has no readings.
func (s *Store) DailyStats(ctx context.Context, node telemetry.NodeID, since time.Time) ([]telemetry.DailyStat, error) {
	id, ok := asNodeID(node)
	if !ok {
		return nil, nil
	}
	cols := make([]string, 0, 4*telemetry.FieldCount)
	for n := 1; n <= telemetry.FieldCount; n++ {
		f := "field" + strconv.Itoa(n)
		cols = append(cols, "count("+f+")", "min("+f+")", "avg("+f+")", "max("+f+")")
	}
	rows, err := s.db.Query(ctx, s.q(`SELECT `+s.dayOf("created_at")+` AS day, `+strings.Join(cols, ", ")+`
		FROM readings WHERE node_id = $1 AND created_at >= $2 GROUP BY day ORDER BY day`), string(id), s.d.Time(since))
	if err != nil {
		return nil, s.translate(err, "reading")
	}
	defer rows.Close()
	var out []telemetry.DailyStat
	for rows.Next() {
		if err := scanDailyRow(rows, &out); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field }) // days stay in order
	return out, nil
}

// scanDailyRow scans one day of DailyStats and appends its fields that
// hold numbers.
func scanDailyRow(r Row, out *[]telemetry.DailyStat) error {
	var (
		day    time.Time
		counts [telemetry.FieldCount]int
		aggs   [telemetry.FieldCount][3]*float64
	)
	dest := []any{T(&day)}
	for i := range telemetry.FieldCount {
		dest = append(dest, &counts[i], &aggs[i][0], &aggs[i][1], &aggs[i][2])
	}
	if err := r.Scan(dest...); err != nil {
		return err
	}
	for i, c := range counts {
		if c == 0 || aggs[i][0] == nil || aggs[i][1] == nil || aggs[i][2] == nil {
			continue
		}
		*out = append(*out, telemetry.DailyStat{Field: i + 1, Day: day, Count: c,
			Min: *aggs[i][0], Avg: *aggs[i][1], Max: *aggs[i][2]})
	}
	return nil
}

// FleetCounts counts the nodes in scope by category, analytics type and
// status (only combinations that occur), ordered by the three.
func (s *Store) FleetCounts(ctx context.Context, scope telemetry.Scope) ([]telemetry.FleetCount, error) {
	var a args
	cond := where{nodeScope(scope, &a)}
	return queryAll(ctx, s, "node", `SELECT n.category, n.analytics_type, n.status, count(*) FROM nodes n`+cond.String()+`
		GROUP BY n.category, n.analytics_type, n.status ORDER BY n.category, n.analytics_type, n.status`, a,
		func(r Row) (telemetry.FleetCount, error) {
			var c telemetry.FleetCount
			err := r.Scan(&c.Category, &c.AnalyticsType, (*string)(&c.Status), &c.Count)
			return c, err
		})
}

// levelLookback is how far before the window LevelDrops looks for the
// reading that precedes a node's first one inside it, so that the first
// drop of the window counts too.
const levelLookback = 24 * time.Hour

// levelChunk bounds the node ids of one LevelDrops query (far below both
// engines' parameter limits).
const levelChunk = 500

// LevelDrops returns, for each node and UTC day from since on, the sum of
// the decreases of field (1..8) between consecutive readings (in entry
// order) that hold a number in it; increases (refills) count nothing. A
// decrease belongs to the day of its later reading; the reading before the
// first one of the window is looked for up to levelLookback earlier. Days
// without a decrease have no entry. Ordered by node, then day; malformed
// node ids are skipped. The caller decides which nodes it may see.
func (s *Store) LevelDrops(ctx context.Context, nodes []telemetry.NodeID, field int, since time.Time) ([]telemetry.DayTotal, error) {
	if field < 1 || field > telemetry.FieldCount {
		return nil, errors.Join(telemetry.ErrInvalid, errors.New("level field must be 1 to 8"))
	}
	ids := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if id, ok := asNodeID(n); ok {
			ids = append(ids, string(id))
		}
	}
	sort.Strings(ids)
	var out []telemetry.DayTotal
	for start := 0; start < len(ids); start += levelChunk {
		part, err := s.levelDrops(ctx, ids[start:min(start+levelChunk, len(ids))], "field"+strconv.Itoa(field), since)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

func (s *Store) levelDrops(ctx context.Context, ids []string, col string, since time.Time) ([]telemetry.DayTotal, error) {
	a := args{s.d.Time(since), s.d.Time(since.Add(-levelLookback))}
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = a.add(id)
	}
	query := `SELECT node_id, ` + s.dayOf("created_at") + ` AS day, sum(fall) FROM (
			SELECT node_id, created_at, lag(` + col + `) OVER (PARTITION BY node_id ORDER BY entry_id) - ` + col + ` AS fall
			FROM readings WHERE node_id IN (` + strings.Join(ph, ", ") + `) AND ` + col + ` IS NOT NULL AND created_at >= $2
		) AS steps WHERE created_at >= $1 AND fall > 0
		GROUP BY node_id, day ORDER BY node_id, day`
	return queryAll(ctx, s, "reading", query, a, func(r Row) (telemetry.DayTotal, error) {
		var d telemetry.DayTotal
		err := r.Scan(S((*string)(&d.Node)), T(&d.Day), &d.Total)
		return d, err
	})
}
