package sqlcore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// DB is the part of a driver the shared queries need. Queries use
// PostgreSQL's $1 placeholders; the Dialect rewrites them where needed.
type DB interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	// InTx runs fn in one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(tx DB) error) error
}

// Rows is a result set; both pgx.Rows and an adapted *sql.Rows fit.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// Dialect is what differs between the engines in shared query text and values.
type Dialect struct {
	Name string
	// ILike is the case-insensitive LIKE operator.
	ILike string
	// Rebind rewrites $N placeholders into the engine's form.
	Rebind func(query string) string
	// Time converts a time argument into what the engine stores.
	Time func(t time.Time) any
	// Strings converts a string list argument (e.g. webhook events).
	Strings func(s []string) any
	// IsUniqueViolation and IsForeignKeyViolation classify driver errors.
	IsUniqueViolation     func(err error) bool
	IsForeignKeyViolation func(err error) bool
	IsCheckViolation      func(err error) bool
	// IsNoRows reports the driver's "no rows" error.
	IsNoRows func(err error) bool
}

// RebindQuestion rewrites $N placeholders for SQLite. When they appear in
// order, each once ($1, $2, …), they become plain ?s: SQLite binds those by
// position at no cost, whereas numbered ?NNN parameters make the driver
// look each one up by name, which grows with the square of the count and
// dominated large INSERTs. Otherwise they become ?NNN, which SQLite binds
// by number whatever the order. (SQLite's own $N would be a *named*
// parameter numbered by first appearance.) Queries must not hold a literal
// '$' followed by a digit.
func RebindQuestion(query string) string {
	var (
		b          strings.Builder
		sequential = true
		next       = 1
	)
	b.Grow(len(query))
	forEachPlaceholder(query, func(n int) {
		if n != next {
			sequential = false
		}
		next++
	})
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '$' || i+1 >= len(query) || !isDigit(query[i+1]) {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && isDigit(query[j]) {
			j++
		}
		b.WriteByte('?')
		if !sequential {
			b.WriteString(query[i+1 : j])
		}
		i = j - 1
	}
	return b.String()
}

// forEachPlaceholder calls fn with the number of each $N in query, in order.
func forEachPlaceholder(query string, fn func(n int)) {
	for i := 0; i < len(query); i++ {
		if query[i] != '$' || i+1 >= len(query) || !isDigit(query[i+1]) {
			continue
		}
		n, j := 0, i+1
		for j < len(query) && isDigit(query[j]) {
			n = n*10 + int(query[j]-'0')
			j++
		}
		fn(n)
		i = j - 1
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Store runs the shared queries. Engines embed it.
type Store struct {
	db DB
	d  Dialect
}

// New returns a Store over db.
func New(db DB, d Dialect) *Store { return &Store{db: db, d: d} }

// DB returns the underlying DB (engines use it for their own queries).
func (s *Store) DB() DB { return s.db }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }

// q adapts shared query text to the dialect.
func (s *Store) q(query string) string {
	query = strings.ReplaceAll(query, "{ILIKE}", s.d.ILike)
	if s.d.Rebind != nil {
		return s.d.Rebind(query)
	}
	return query
}

// translate maps driver errors to domain sentinels.
func (s *Store) translate(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case s.d.IsNoRows(err):
		return telemetry.ErrNotFound
	case s.d.IsUniqueViolation(err):
		return errors.Join(telemetry.ErrConflict, errors.New(what+" already exists"))
	case s.d.IsForeignKeyViolation(err):
		return errors.Join(telemetry.ErrInvalid, errors.New(what+" refers to something that does not exist, or is still referred to"))
	case s.d.IsCheckViolation(err):
		return errors.Join(telemetry.ErrInvalid, errors.New(what+" has a value out of range"))
	}
	return err
}

// queryAll runs a query and scans every row with scan; what names the
// rows in errors.
func queryAll[T any](ctx context.Context, s *Store, what, query string, a args, scan func(Row) (T, error)) ([]T, error) {
	rows, err := s.db.Query(ctx, s.q(query), a...)
	if err != nil {
		return nil, s.translate(err, what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
