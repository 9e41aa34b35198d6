package migrations

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Engine names a database engine and selects its set of migrations.
type Engine string

// The engines Evara stores its data in.
const (
	EnginePostgres Engine = "postgres"
	EngineSQLite   Engine = "sqlite"
)

// versionTable is goose's default, kept so the goose CLI can read an Evara
// database as well.
const versionTable = goose.DefaultTablename

var (
	// ErrSchemaTooNew means the database holds migrations this binary does
	// not know: a newer evara has run against it. Upgrade evara; never
	// downgrade a database.
	ErrSchemaTooNew = errors.New("database schema is newer than this evara")
	// ErrSchemaPending means the database lacks migrations this binary has;
	// `evara migrate up` applies them.
	ErrSchemaPending = errors.New("database schema has pending migrations")
)

// Applied is one migration recorded in the database.
type Applied struct {
	Version   int64
	File      string    // empty when this binary does not know the version
	AppliedAt time.Time // as recorded by the database, UTC
}

// Status compares a database with the migrations this binary embeds.
type Status struct {
	Current int64     // highest version applied; 0 for an empty database
	Latest  int64     // highest version this binary knows
	Pending []int64   // versions this binary knows and the database lacks, ascending
	Applied []Applied // versions recorded in the database, ascending
}

// Err reports how the schema differs from this binary: nil when it is
// exactly current, an error wrapping ErrSchemaTooNew when it is newer, one
// wrapping ErrSchemaPending and naming the versions when it is older.
func (s Status) Err() error {
	if s.Current > s.Latest {
		return &tooNewError{current: s.Current, latest: s.Latest}
	}
	if len(s.Pending) > 0 {
		return &pendingError{current: s.Current, pending: s.Pending}
	}
	return nil
}

type tooNewError struct{ current, latest int64 }

func (e *tooNewError) Error() string {
	return fmt.Sprintf("database schema is at version %d but this evara knows only up to %d: upgrade evara (never downgrade a database)",
		e.current, e.latest)
}

func (e *tooNewError) Unwrap() error { return ErrSchemaTooNew }

type pendingError struct {
	current int64
	pending []int64
}

func (e *pendingError) Error() string {
	return fmt.Sprintf("database schema is at version %d, pending migrations %s: run `evara migrate up`",
		e.current, FormatVersions(e.pending))
}

func (e *pendingError) Unwrap() error { return ErrSchemaPending }

// FormatVersions renders versions for people: "1, 2", or "none".
func FormatVersions(versions []int64) string {
	if len(versions) == 0 {
		return "none"
	}
	s := make([]string, len(versions))
	for i, v := range versions {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, ", ")
}

// Latest returns the highest migration version this binary embeds for
// engine, or 0 for an unknown engine.
func Latest(engine Engine) int64 {
	_, known, err := embedded(engine)
	if err != nil || len(known) == 0 {
		return 0
	}
	return known[len(known)-1].version
}

// GetStatus reads which migrations the database has. It only reads: on an
// empty database Current is 0 and every migration is pending.
func GetStatus(ctx context.Context, engine Engine, db *sql.DB) (Status, error) {
	_, known, err := embedded(engine)
	if err != nil {
		return Status{}, err
	}
	return readStatus(ctx, engine, db, known)
}

// Check returns nil when the schema is exactly current, and otherwise
// Status.Err: ErrSchemaTooNew or ErrSchemaPending.
func Check(ctx context.Context, engine Engine, db *sql.DB) error {
	st, err := GetStatus(ctx, engine, db)
	if err != nil {
		return err
	}
	return st.Err()
}

// Up applies every pending migration, each in its own transaction, and
// returns the versions it applied (none when the schema was current). It
// refuses, before changing anything, a database newer than this binary
// (ErrSchemaTooNew). In PostgreSQL the whole run holds the schema's
// migration lock, so concurrent calls from any number of processes apply
// each migration exactly once. Each applied migration is logged.
func Up(ctx context.Context, engine Engine, db *sql.DB, log *slog.Logger) (applied []int64, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fsys, known, err := embedded(engine)
	if err != nil {
		return nil, err
	}
	var q querier = db
	var opts []goose.ProviderOption
	if engine == EnginePostgres {
		lk, lockErr := lockSchema(ctx, db)
		if lockErr != nil {
			return nil, lockErr
		}
		// Joined into Up's named result (hence lockErr above, not a
		// shadowing err).
		defer func() { err = errors.Join(err, lk.release()) }()
		// Read the status through the locked session: what it sees cannot
		// change until this run ends.
		q = lk.conn
		opts = append(opts, goose.WithSessionLocker(lk.gooseLocker))
	}
	st, err := readStatus(ctx, engine, q, known)
	if err != nil {
		return nil, err
	}
	if err := st.Err(); errors.Is(err, ErrSchemaTooNew) {
		return nil, err
	}
	if len(st.Pending) == 0 {
		log.Info("database schema is current", "engine", string(engine), "version", st.Current)
		return nil, nil
	}
	return apply(ctx, engine, db, fsys, st, opts, log)
}

// apply runs goose over the pending migrations.
func apply(ctx context.Context, engine Engine, db *sql.DB, fsys fs.FS, st Status, opts []goose.ProviderOption, log *slog.Logger) ([]int64, error) {
	opts = append(opts,
		goose.WithDisableGlobalRegistry(true), // only the embedded SQL, never Go migrations registered elsewhere
		goose.WithSlog(log),                   // goose stays quiet unless verbose; never the global log package
	)
	p, err := goose.NewProvider(gooseDialect(engine), db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// No p.Close: it would close the caller's db.
	results, err := p.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		results = partial.Applied
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		log.Info("migration applied", "engine", string(engine), "version", r.Source.Version,
			"file", path.Base(r.Source.Path), "duration_ms", r.Duration.Milliseconds())
		applied = append(applied, r.Source.Version)
	}
	if partial != nil {
		return applied, fmt.Errorf("migration %s failed and was rolled back: %w", path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return applied, fmt.Errorf("apply migrations: %w", err)
	}
	log.Info("database schema migrated", "engine", string(engine), "from_version", st.Current, "to_version", st.Latest)
	return applied, nil
}

// migration is one embedded migration file.
type migration struct {
	version int64
	file    string
}

// embedded returns the engine's migrations, ascending, and the file system
// holding them.
func embedded(engine Engine) (fs.FS, []migration, error) {
	dir := folder(engine)
	if dir == "" {
		return nil, nil, fmt.Errorf("migrations: unknown engine %q", engine)
	}
	sub, err := fs.Sub(files, dir)
	if err != nil {
		return nil, nil, err
	}
	names, err := fs.Glob(sub, "*.sql")
	if err != nil {
		return nil, nil, err
	}
	known := make([]migration, 0, len(names))
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return nil, nil, fmt.Errorf("migrations: %s/%s: %w", dir, name, err)
		}
		known = append(known, migration{version: v, file: name})
	}
	slices.SortFunc(known, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return sub, known, nil
}

// folder is where the engine's files are embedded.
func folder(engine Engine) string {
	switch engine {
	case EnginePostgres:
		return "postgres"
	case EngineSQLite:
		return "sqlite"
	}
	return ""
}

func gooseDialect(engine Engine) goose.Dialect {
	if engine == EnginePostgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}
