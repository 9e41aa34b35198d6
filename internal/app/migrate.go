package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/migrations"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

// migrate runs `evara migrate up` and `evara migrate status` against
// PostgreSQL when a database URL is set, else against the embedded store's
// file in the data directory.
func migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (err error) {
	if len(cfg.Args) > 1 && strings.HasPrefix(cfg.Args[1], "-") {
		// Go's flag parsing stops at the first argument that is not a flag.
		return fmt.Errorf("migrate: flags go before the subcommand: `evara migrate %s %s`", strings.Join(cfg.Args[1:], " "), cfg.Args[0])
	}
	if len(cfg.Args) != 1 || (cfg.Args[0] != "up" && cfg.Args[0] != "status") {
		return fmt.Errorf("migrate: say what to do: `evara migrate up` (apply pending migrations) or `evara migrate status` (show them); got %q",
			strings.Join(cfg.Args, " "))
	}
	engine, db, where, err := openMigrationDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	if cfg.Args[0] == "up" {
		return migrateUp(ctx, engine, db, where, log, stdout)
	}
	return migrateStatus(ctx, engine, db, where, stdout)
}

// openMigrationDB opens and pings the database the migrations apply to and
// describes it for people (never with credentials).
func openMigrationDB(ctx context.Context, cfg config.Config) (migrations.Engine, *sql.DB, string, error) {
	engine, where := migrations.EnginePostgres, "PostgreSQL"
	var (
		db  *sql.DB
		err error
	)
	if cfg.DatabaseURL.IsSet() {
		db, err = sql.Open("pgx", cfg.DatabaseURL.Reveal())
	} else {
		file := filepath.Join(cfg.DataDir, sqlitestore.FileName)
		engine, where = migrations.EngineSQLite, "SQLite "+file
		db, err = sqlitestore.OpenDB(file)
	}
	if err != nil {
		return "", nil, "", fmt.Errorf("migrate: open %s: %w", where, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return "", nil, "", errors.Join(fmt.Errorf("migrate: connect to %s: %w", where, err), db.Close())
	}
	return engine, db, where, nil
}

func migrateUp(ctx context.Context, engine migrations.Engine, db *sql.DB, where string, log *slog.Logger, stdout io.Writer) error {
	applied, err := migrations.Up(ctx, engine, db, log)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	latest := migrations.Latest(engine)
	if len(applied) == 0 {
		_, err = fmt.Fprintf(stdout, "%s: schema is current at version %d, nothing to apply\n", where, latest)
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: applied %s, schema at version %d\n", where, migrations.FormatVersions(applied), latest)
	return err
}

// migrateStatus prints the applied migrations and how the schema compares
// with this binary. A schema newer than the binary is an error (exit 1);
// pending migrations are the normal state before `migrate up`.
func migrateStatus(ctx context.Context, engine migrations.Engine, db *sql.DB, where string, stdout io.Writer) error {
	st, err := migrations.GetStatus(ctx, engine, db)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	fmt.Fprintf(stdout, "database: %s\n", where)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tFILE\tAPPLIED AT")
	for _, a := range st.Applied {
		file := a.File
		if file == "" {
			file = "(unknown to this evara)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", a.Version, file, a.AppliedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "current %d, latest %d, pending %s\n", st.Current, st.Latest, migrations.FormatVersions(st.Pending)); err != nil {
		return err
	}
	if err := st.Err(); errors.Is(err, migrations.ErrSchemaTooNew) {
		return err
	}
	return nil
}
