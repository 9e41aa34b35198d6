package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// sqlRunner is what *sql.DB and *sql.Tx have in common.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbAdapter fits database/sql to sqlcore.DB; inside a transaction db is nil.
type dbAdapter struct {
	run sqlRunner
	db  *sql.DB
}

func newAdapter(db *sql.DB) dbAdapter { return dbAdapter{run: db, db: db} }

func (a dbAdapter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := a.run.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a dbAdapter) Query(ctx context.Context, query string, args ...any) (sqlcore.Rows, error) {
	rows, err := a.run.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rowsAdapter{rows}, nil
}

func (a dbAdapter) QueryRow(ctx context.Context, query string, args ...any) sqlcore.Row {
	return a.run.QueryRowContext(ctx, query, args...)
}

// InTx runs fn in a transaction; inside one it joins it.
func (a dbAdapter) InTx(ctx context.Context, fn func(sqlcore.DB) error) error {
	if a.db == nil {
		return fn(a)
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(dbAdapter{run: tx}); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

type rowsAdapter struct{ *sql.Rows }

func (r rowsAdapter) Close() { _ = r.Rows.Close() }
