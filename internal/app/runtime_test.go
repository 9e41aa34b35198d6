package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp (under fiber) keeps one process-wide goroutine that refreshes
		// the Date header, started once and never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner notices Stop only after its current
		// sleep (MaxIdleWorkerDuration, 10s); it then exits.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// protoactor's dead-letter log throttle sleeps out its period after
		// an actor system stops, then exits (ignored in actors/device and
		// cluster the same way).
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	)
}

// TestRuntimeStoresEveryEntry runs the device runtime as serve wires it —
// limiter, devices, writer, the embedded store — against the simulator
// over loopback, and checks that every entry of every channel ends up
// stored once, with the nodes Online, and that the ordered stop leaves
// nothing running.
func TestRuntimeStoresEveryEntry(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	s, err := sim.New(sim.Options{Channels: 3, Period: time.Second, History: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close(context.Background()) }()

	cfg := config.Default()
	cfg.DataDir, cfg.Demo, cfg.Sim.Period = t.TempDir(), true, time.Second // demo: polled at the simulator's period
	kr, err := keyring.Parse(keySpec("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := seedDemoNodes(ctx, st, kr, s.Channels(), log); err != nil {
		t.Fatal(err)
	}
	var stack shutdownStack
	rt, err := startRuntime(runtimeDeps{cfg: cfg, store: st, keys: kr, upstream: srv.URL, log: log})
	if err != nil {
		t.Fatal(err)
	}
	stack.push("actors", rt.stop)

	target := map[telemetry.ChannelID]int64{}
	for _, ch := range s.Channels() {
		target[ch.ID] = s.LastEntryID(ch.ID) + 2 // a couple of polls after the history
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, ch := range s.Channels() {
		for {
			n, err := st.GetNode(ctx, telemetry.Scope{All: true}, "demo-"+ch.ID.String())
			if err != nil {
				t.Fatal(err)
			}
			if n.LastEntryID >= target[ch.ID] && n.Status == telemetry.StatusOnline {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: stored up to %d (want %d), status %s", n.NodeKey, n.LastEntryID, target[ch.ID], n.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := stack.close(10*time.Second, log); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, filepath.Join(cfg.DataDir, sqlitestore.FileName), s)
}

// checkStoredOnce reads the readings table directly: each channel's entries
// 1…n, none missing, with the simulator's values.
func checkStoredOnce(t *testing.T, path string, s *sim.Simulator) {
	t.Helper()
	db, err := sqlitestore.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ch := range s.Channels() {
		rows, err := db.QueryContext(context.Background(), `SELECT r.entry_id, r.field1 FROM readings r JOIN nodes n ON n.id = r.node_id
			WHERE n.node_key = ? ORDER BY r.entry_id`, "demo-"+ch.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		var values []float64
		for rows.Next() {
			var id int64
			var v float64
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			ids, values = append(ids, id), append(values, v)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		want := s.Entries(ch.ID, 1, int64(len(ids)))
		for i, e := range want {
			if ids[i] != e.EntryID || values[i] != e.Fields[0].Value {
				t.Fatalf("channel %d row %d: entry %d field1 %v, want entry %d field1 %v", ch.ID, i, ids[i], values[i], e.EntryID, e.Fields[0].Value)
			}
		}
		if len(ids) < 22 {
			t.Errorf("channel %d: %d entries stored", ch.ID, len(ids))
		}
	}
}
