package sqlcore

import (
	"context"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

const readingColumns = `node_id, entry_id, created_at, field1, field2, field3, field4, field5, field6, field7, field8`

func scanReading(r Row) (telemetry.Reading, error) {
	var (
		rd telemetry.Reading
		f  [telemetry.FieldCount]*float64
	)
	err := r.Scan(S((*string)(&rd.Node)), &rd.EntryID, T(&rd.CreatedAt), &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7])
	for i, p := range f {
		if p != nil {
			rd.Fields[i] = telemetry.Field{Value: *p, Valid: true}
		}
	}
	return rd, err
}

// FieldArg is a field as a nullable argument.
func FieldArg(f telemetry.Field) any {
	if !f.Valid {
		return nil
	}
	return f.Value
}

// WriteReadingsBatched stores readings with multi-row INSERTs that skip
// entries already stored, and advances each node's last_entry_id and
// last_seen, all in one transaction. SQLite uses it as is; PostgreSQL has
// its own COPY path. Each node's retention class (its plan's) is read once
// per batch; rows of unknown nodes are skipped (the node was deleted while
// its readings were queued).
func (s *Store) WriteReadingsBatched(ctx context.Context, rows []telemetry.Reading) error {
	if len(rows) == 0 {
		return nil
	}
	const perInsert = 200 // 12 arguments a row: 2,400, far below SQLite's limit of 32,766
	return s.db.InTx(ctx, func(tx DB) error {
		classes, err := s.retentionClasses(ctx, tx, rows)
		if err != nil {
			return err
		}
		known := make([]telemetry.Reading, 0, len(rows))
		for _, r := range rows {
			if _, ok := classes[r.Node]; ok {
				known = append(known, r)
			}
		}
		for start := 0; start < len(known); start += perInsert {
			if err := s.insertReadings(ctx, tx, known[start:min(start+perInsert, len(known))], classes); err != nil {
				return err
			}
		}
		return s.advanceNodes(ctx, tx, known)
	})
}

// retentionClasses reads the retention class of every node in rows.
func (s *Store) retentionClasses(ctx context.Context, tx DB, rows []telemetry.Reading) (map[telemetry.NodeID]int, error) {
	var a args
	var ph []string
	seen := map[telemetry.NodeID]bool{}
	for _, r := range rows {
		if !seen[r.Node] {
			seen[r.Node] = true
			ph = append(ph, a.add(string(r.Node)))
		}
	}
	res, err := tx.Query(ctx, s.q(`SELECT n.id, p.retention_days FROM nodes n JOIN plans p ON p.id = n.plan_id
		WHERE n.id IN (`+strings.Join(ph, ", ")+`)`), a...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	classes := make(map[telemetry.NodeID]int, len(seen))
	for res.Next() {
		var id string
		var days int
		if err := res.Scan(S(&id), &days); err != nil {
			return nil, err
		}
		classes[telemetry.NodeID(id)] = days
	}
	return classes, res.Err()
}

func (s *Store) insertReadings(ctx context.Context, tx DB, rows []telemetry.Reading, classes map[telemetry.NodeID]int) error {
	var (
		a      args
		values []string
	)
	for _, r := range rows {
		ph := make([]string, 0, 12)
		ph = append(ph, a.add(string(r.Node)), a.add(r.EntryID), a.add(s.d.Time(r.CreatedAt)))
		for _, f := range r.Fields {
			ph = append(ph, a.add(FieldArg(f)))
		}
		ph = append(ph, a.add(classes[r.Node]))
		values = append(values, "("+strings.Join(ph, ", ")+")")
	}
	_, err := tx.Exec(ctx, s.q(`INSERT INTO readings (`+readingColumns+`, retention_days) VALUES `+
		strings.Join(values, ", ")+` ON CONFLICT DO NOTHING`), a...)
	return err
}

// Newest is a node's newest entry in a batch of readings.
type Newest struct {
	EntryID int64
	At      time.Time
}

// NewestPerNode finds each node's newest entry in rows: what its resume
// point (last_entry_id) and last_seen move forward to.
func NewestPerNode(rows []telemetry.Reading) map[telemetry.NodeID]Newest {
	last := map[telemetry.NodeID]Newest{}
	for _, r := range rows {
		if cur, ok := last[r.Node]; !ok || r.EntryID > cur.EntryID {
			last[r.Node] = Newest{r.EntryID, r.CreatedAt}
		}
	}
	return last
}

// advanceNodes moves each node's resume point and last_seen forward (never back).
func (s *Store) advanceNodes(ctx context.Context, tx DB, rows []telemetry.Reading) error {
	for node, n := range NewestPerNode(rows) {
		_, err := tx.Exec(ctx, s.q(`UPDATE nodes SET last_entry_id = $1,
			last_seen = CASE WHEN last_seen IS NULL OR last_seen < $2 THEN $2 ELSE last_seen END
			WHERE id = $3 AND last_entry_id < $1`), n.EntryID, s.d.Time(n.At), string(node))
		if err != nil {
			return err
		}
	}
	return nil
}

// LatestReading returns the node's newest stored reading.
func (s *Store) LatestReading(ctx context.Context, node telemetry.NodeID) (telemetry.Reading, error) {
	r, err := scanReading(s.db.QueryRow(ctx, s.q(`SELECT `+readingColumns+` FROM readings WHERE node_id = $1
		ORDER BY created_at DESC, entry_id DESC LIMIT 1`), string(node)))
	return r, s.translate(err, "reading")
}

// Readings returns a node's readings selected by q in ascending entry order.
func (s *Store) Readings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery) ([]telemetry.Reading, error) {
	var out []telemetry.Reading
	err := s.StreamReadings(ctx, node, q, func(r telemetry.Reading) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// StreamReadings calls fn for each selected reading in ascending entry
// order without holding them all: exports run in constant memory.
func (s *Store) StreamReadings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery, fn func(telemetry.Reading) error) error {
	var a args
	cond := where{"node_id = " + a.add(string(node))}
	if q.AfterEntryID > 0 {
		cond = append(cond, "entry_id > "+a.add(q.AfterEntryID))
	}
	if !q.Since.IsZero() {
		cond = append(cond, "created_at >= "+a.add(s.d.Time(q.Since)))
	}
	if !q.Until.IsZero() {
		cond = append(cond, "created_at <= "+a.add(s.d.Time(q.Until)))
	}
	query := "SELECT " + readingColumns + " FROM readings" + cond.String() + " ORDER BY entry_id"
	if q.Limit > 0 {
		// The newest Limit, returned oldest first.
		query = "SELECT * FROM (SELECT " + readingColumns + " FROM readings" + cond.String() +
			" ORDER BY entry_id DESC LIMIT " + a.add(q.Limit) + ") AS newest ORDER BY entry_id"
	}
	rows, err := s.db.Query(ctx, s.q(query), a...)
	if err != nil {
		return s.translate(err, "reading")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
