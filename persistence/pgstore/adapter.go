package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evaratech/evara/persistence/internal/sqlcore"
)

// pgxRunner is what a pool and a transaction have in common.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// poolAdapter fits pgx to sqlcore.DB.
type poolAdapter struct{ run pgxRunner }

func newPoolAdapter(p *pgxpool.Pool) poolAdapter { return poolAdapter{run: p} }

func (a poolAdapter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := a.run.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (a poolAdapter) Query(ctx context.Context, query string, args ...any) (sqlcore.Rows, error) {
	return a.run.Query(ctx, query, args...)
}

func (a poolAdapter) QueryRow(ctx context.Context, query string, args ...any) sqlcore.Row {
	return a.run.QueryRow(ctx, query, args...)
}

// InTx runs fn in a transaction (a savepoint when already inside one).
func (a poolAdapter) InTx(ctx context.Context, fn func(sqlcore.DB) error) error {
	return pgx.BeginFunc(ctx, beginner{a.run}, func(tx pgx.Tx) error { return fn(poolAdapter{run: tx}) })
}

type beginner struct{ r pgxRunner }

func (b beginner) Begin(ctx context.Context) (pgx.Tx, error) { return b.r.Begin(ctx) }
