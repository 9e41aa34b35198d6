package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/persistence/storetest"
)

func keySpec(id string, b byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, keyring.KeySize))
}

// TestKeysRotate provisions the demo nodes under key k1, rotates to k2 and
// checks every channel key opens under k2 with its own node id — on both
// stores.
func TestKeysRotate(t *testing.T) {
	engines := map[string]func(t *testing.T) config.Config{
		"embedded": func(t *testing.T) config.Config {
			c := config.Default()
			c.DataDir = t.TempDir()
			return c
		},
		"postgres": func(t *testing.T) config.Config {
			c := config.Default()
			c.DatabaseURL = config.Secret(storetest.FreshSchema(t))
			return c
		},
	}
	for name, newConfig := range engines {
		t.Run(name, func(t *testing.T) {
			ctx, log := context.Background(), slog.New(slog.DiscardHandler)
			cfg := newConfig(t)
			cfg.Command, cfg.EncryptionKey = config.CmdKeysRotate, config.Secret(keySpec("k1", 1))
			old, _ := keyring.Parse(cfg.EncryptionKey.Reveal())
			st, _, err := openStore(ctx, cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			specs := sim.DemoSpecs(1)
			if err := seedDemoNodes(ctx, st, old, specs, log); err != nil {
				t.Fatal(err)
			}
			st.Close()

			cfg.EncryptionKey = config.Secret(keySpec("k2", 2) + "," + keySpec("k1", 1))
			var out strings.Builder
			if err := keysRotate(ctx, cfg, log, &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "re-sealed 12 credentials") {
				t.Errorf("output %q", out.String())
			}
			newOnly, _ := keyring.Parse(keySpec("k2", 2)) // k1 may now be retired
			st, _, err = openStore(ctx, cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, spec := range specs {
				n, err := st.GetNode(ctx, telemetry.Scope{All: true}, "demo-"+spec.ID.String())
				if err != nil {
					t.Fatal(err)
				}
				key, err := newOnly.Open(n.ChannelKey.KeyID, n.ChannelKey.Ciphertext, []byte(n.ID))
				if err != nil || string(key) != spec.ReadKey {
					t.Fatalf("node %s after rotation: key %q, %v", n.NodeKey, key, err)
				}
			}
			out.Reset()
			if err := keysRotate(ctx, cfg, log, &out); err != nil || !strings.Contains(out.String(), "re-sealed 0") {
				t.Errorf("second rotation: %q %v", out.String(), err)
			}
		})
	}
}
