package migrations

import (
	"context"
	"database/sql"
)

// LockSchema exposes the migration lock to the external tests: it returns
// the lock's key and the two ways of letting go of it.
func LockSchema(ctx context.Context, db *sql.DB) (key int64, release, drop func() error, err error) {
	l, err := lockSchema(ctx, db)
	if err != nil {
		return 0, nil, nil, err
	}
	return l.key, l.release, func() error { return discard(l.conn) }, nil
}
