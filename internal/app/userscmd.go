package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

// usersPromote runs `evara users promote <email> [--role superadmin]`: the
// way to the first superadmin, and to any other without the dashboard. The
// user must have signed in once, which creates their profile.
func usersPromote(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) (err error) {
	if len(cfg.Args) != 1 || !strings.Contains(cfg.Args[0], "@") {
		return fmt.Errorf("users promote: give one email: `evara users promote <email> [--role superadmin]`; got %q", strings.Join(cfg.Args, " "))
	}
	email, role := cfg.Args[0], cfg.Promote.Role
	if !cfg.DatabaseURL.IsSet() {
		// Opening would create an empty store, and then the user would
		// seem never to have signed in.
		file := filepath.Join(cfg.DataDir, sqlitestore.FileName)
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("users promote: no embedded store at %s (set EVARA_DATA_DIR, or DATABASE_URL for PostgreSQL): %w", file, err)
		}
	}
	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	ps, ok := st.(promoter)
	if !ok {
		return errors.New("users promote: this store cannot change roles")
	}
	before, _, err := promote(ctx, ps, email, role, "cli", "evara users promote")
	if errors.Is(err, telemetry.ErrNotFound) {
		return fmt.Errorf("users promote: no user with email %s: they must sign in once first", email)
	}
	if err != nil {
		return fmt.Errorf("users promote %s: %w", email, err)
	}
	if before.Role == role {
		_, err = fmt.Fprintf(stdout, "%s is already %s\n", email, role)
		return err
	}
	_, err = fmt.Fprintf(stdout, "promoted %s to %s\n", email, role)
	return err
}
