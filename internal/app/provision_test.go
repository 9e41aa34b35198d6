package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

// TestProvisioningReachesTheDevices changes nodes through the store while
// the runtime runs, as the API (or anyone) will: a created node gets a
// device that polls it, an updated one is reconfigured (its new field
// mapping shows in live data), a deleted one's device stops.
func TestProvisioningReachesTheDevices(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	s, err := sim.New(sim.Options{Channels: 2, Period: time.Second, History: 5, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close(context.Background()) }()
	cfg := config.Default()
	cfg.DataDir, cfg.PollInterval = t.TempDir(), time.Second
	kr, err := keyring.Parse(keySpec("k1", 2))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := seedDemoNodes(ctx, st, kr, s.Channels()[:1], log); err != nil {
		t.Fatal(err)
	}
	rt, err := startRuntime(runtimeDeps{cfg: cfg, store: st, keys: kr, upstream: srv.URL, log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rt.stop(); err != nil {
			t.Error(err)
		}
	}()
	waitDevices(t, rt, 1)

	// Create: the second channel's node gets a device, which polls it.
	created := time.Now()
	if err := seedDemoNodes(ctx, st, kr, s.Channels(), log); err != nil {
		t.Fatal(err)
	}
	key := "demo-" + s.Channels()[1].ID.String()
	waitDevices(t, rt, 2)
	t.Logf("device started %v after the node was created", time.Since(created).Round(time.Millisecond))
	live := waitLive(t, rt, key, func(l liveData) bool { return l.EntryID > 0 })

	// Update: a new field mapping reconfigures the device.
	lite := st.(*sqlitestore.Store)
	n, err := lite.GetNode(ctx, telemetry.Scope{All: true}, key)
	if err != nil {
		t.Fatal(err)
	}
	n.FieldMapping = map[string]string{"field1": "renamed_level"}
	if _, err := lite.UpdateNode(ctx, telemetry.Scope{All: true}, n); err != nil {
		t.Fatal(err)
	}
	waitLive(t, rt, key, func(l liveData) bool { _, ok := l.Metrics["renamed_level"]; return ok && l.EntryID >= live.EntryID })

	// Delete: the device stops; live data is a 404.
	if err := lite.DeleteNode(ctx, telemetry.Scope{All: true}, n.ID); err != nil {
		t.Fatal(err)
	}
	waitDevices(t, rt, 1)
	if _, err := rt.store.GetNode(ctx, telemetry.Scope{All: true}, key); !errors.Is(err, telemetry.ErrNotFound) {
		t.Errorf("a deleted node: %v, want not found", err)
	}
}

type liveData = struct {
	EntryID int64
	Metrics map[string]float64
}

func waitDevices(t *testing.T, rt *deviceRuntime, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := rt.system.Root.RequestFuture(rt.limiter, &limiter.GetStats{}, time.Second).Result()
		if s, ok := res.(*limiter.Stats); ok && err == nil && s.Devices == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the limiter does not run %d devices: %+v %v", want, res, err)
		}
	}
}

func waitLive(t *testing.T, rt *deviceRuntime, key string, ok func(liveData) bool) liveData {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var l api.LiveData
		n, err := rt.store.GetNode(context.Background(), telemetry.Scope{All: true}, key)
		if err == nil {
			l, err = rt.LiveData(context.Background(), n)
		}
		got := liveData{EntryID: l.EntryID, Metrics: l.Metrics}
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("live data of %s: %+v, %v", key, l, err)
		}
	}
}
