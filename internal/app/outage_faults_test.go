//go:build faults

package app

// Fault test: it stops the machine's real PostgreSQL server, so it runs in
// its own step of .ci/run (go test -tags faults), never beside other
// packages' tests, and always starts the server again.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/storetest"
)

func pgctl(t *testing.T, action string) {
	t.Helper()
	if err := storetest.PostgresCluster(action); err != nil {
		t.Fatal(err)
	}
}

// TestWriterRidesOutPostgresOutage: with PostgreSQL stopped for 30 s while
// readings keep arriving, no reading is lost, nothing crashes, and the
// writer's queue never holds more than its bound.
func TestWriterRidesOutPostgresOutage(t *testing.T) {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, storetest.FreshSchema(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nodes := make([]telemetry.NodeID, 20)
	for i := range nodes {
		n := &telemetry.Node{NodeKey: fmt.Sprintf("outage-%d", i), Label: "n", Category: "OHT", AnalyticsType: "EvaraTank"}
		if err := st.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n.ID
	}
	const maxQueued = 2000
	system, pid := newBenchWriterWith(st, writer.Options{MaxQueued: maxQueued, RetryMax: 2 * time.Second})
	defer system.Shutdown()

	t.Cleanup(func() { pgctl(t, "start") }) // whatever happens, the server comes back
	// The outage runs on its own clock: 5 s after the start the server
	// stops, 30 s later it starts again, while readings keep arriving.
	outage := make(chan error, 1)
	go func() {
		time.Sleep(5 * time.Second)
		if err := storetest.PostgresCluster("stop"); err != nil {
			outage <- err
			return
		}
		time.Sleep(30 * time.Second)
		outage <- storetest.PostgresCluster("start")
	}()
	var next int64
	sent, maxHeld := 0, 0
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		rows := make([]telemetry.Reading, 0, len(nodes))
		next++
		for _, n := range nodes {
			rows = append(rows, telemetry.Reading{Node: n, Entry: telemetry.Entry{EntryID: next, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}})
		}
		for { // a device keeps its readings until the writer takes them
			res, err := system.Root.RequestFuture(pid, &writer.Write{Readings: rows}, 10*time.Second).Result()
			if err != nil {
				t.Fatalf("writer unresponsive: %v", err)
			}
			if busy, ok := res.(*writer.Busy); ok {
				time.Sleep(busy.RetryAfter)
				continue
			}
			break
		}
		sent += len(rows)
		stats, _ := system.Root.RequestFuture(pid, &writer.GetStats{}, 10*time.Second).Result()
		maxHeld = max(maxHeld, stats.(*writer.Stats).Queued)
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-outage; err != nil {
		t.Fatalf("outage: %v", err)
	}
	if _, err := system.Root.RequestFuture(pid, &writer.Flush{}, 2*time.Minute).Result(); err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := st.DB().QueryRow(ctx, `SELECT count(*) FROM readings`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	stats, _ := system.Root.RequestFuture(pid, &writer.GetStats{}, 10*time.Second).Result()
	t.Logf("sent %d, stored %d, max queued %d, failed writes %d, busy replies %d", sent, stored,
		maxHeld, stats.(*writer.Stats).FailedWrites, stats.(*writer.Stats).BusyReplies)
	if stored != sent {
		t.Fatalf("stored %d readings of %d sent", stored, sent)
	}
	if maxHeld > maxQueued+len(nodes) {
		t.Fatalf("the writer held %d rows, above its bound %d", maxHeld, maxQueued)
	}
	if stats.(*writer.Stats).FailedWrites == 0 {
		t.Fatal("no write failed: the outage did not happen")
	}
}
