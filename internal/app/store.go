package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

// store is what the composition root needs from either engine.
type store interface {
	api.Store // the dashboard's routes
	GetProfileByEmail(ctx context.Context, email string) (telemetry.UserProfile, error)
	writer.Store
	device.Store      // LatestReading, SetNodeStatus
	device.AlertStore // rules, open alerts, maintenance windows of a device's node
	webhook.Queue     // subscriptions taking an event, and the delivery queue
	RuntimeNodes(ctx context.Context) ([]telemetry.Node, error)
	NodeChangesSince(ctx context.Context, sinceMs int64) ([]telemetry.NodeChange, error)
	PruneNodeChanges(ctx context.Context, before time.Time) (int64, error)
	Close() error
}

// openStore opens PostgreSQL when a database URL is configured, else the
// embedded SQLite file; either way the schema is migrated first.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store, string, error) {
	if cfg.DatabaseURL.IsSet() {
		s, err := pgstore.Open(ctx, cfg.DatabaseURL.Reveal(), pgstore.Options{Logger: log.With("component", "pgstore")})
		return s, "postgres", err
	}
	s, err := sqlitestore.Open(ctx, cfg.DataDir, log.With("component", "sqlitestore"))
	return s, "embedded", err
}

const devKeyFile = "encryption.key"

// openKeyring returns the keyring of EVARA_ENCRYPTION_KEY. Outside
// production, when none is set, a development key is generated once into
// the data directory (0600) so that `evara serve --demo` works with nothing
// configured; production refuses to start without a key (config.Validate).
func openKeyring(cfg config.Config, log *slog.Logger) (*keyring.Keyring, error) {
	if cfg.EncryptionKey.IsSet() {
		return keyring.Parse(cfg.EncryptionKey.Reveal())
	}
	if cfg.Production() {
		return nil, errors.New("EVARA_ENCRYPTION_KEY is required in production")
	}
	path := filepath.Join(cfg.DataDir, devKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var key [keyring.KeySize]byte
		if _, err := rand.Read(key[:]); err != nil {
			return nil, err
		}
		raw = []byte("dev:" + base64.StdEncoding.EncodeToString(key[:]) + "\n")
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return nil, fmt.Errorf("write development key: %w", err)
		}
		log.Warn("generated a development encryption key; set EVARA_ENCRYPTION_KEY for real deployments", "file", path)
	} else if err != nil {
		return nil, fmt.Errorf("read development key: %w", err)
	}
	return keyring.Parse(strings.TrimSpace(string(raw)))
}

// retention is what the scheduled retention job needs from either engine.
type retention interface {
	ExpireReadings(ctx context.Context, now time.Time) ([]string, error)
	PruneNodeChanges(ctx context.Context, before time.Time) (int64, error)
}
