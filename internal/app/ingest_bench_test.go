package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/sqlitestore"
	"github.com/evaratech/evara/persistence/storetest"
)

// Ingest benchmarks: readings through the writer actor into each store.
// On PostgreSQL every iteration also COPYs the same number of (distinct)
// rows straight into the readings table, so the writer's throughput is
// reported as a ratio to that ceiling measured in the same run.
//
//	go test -run='^$' -bench=Ingest -benchtime=5x ./internal/app/
const (
	benchNodes   = 100
	rowsPerOp    = 50_000
	rowsPerWrite = 100 // what one device fetch hands the writer
)

func benchNodesIn(b *testing.B, st interface {
	CreateNode(context.Context, *telemetry.Node) error
}) []telemetry.NodeID {
	b.Helper()
	ids := make([]telemetry.NodeID, benchNodes)
	for i := range ids {
		n := &telemetry.Node{NodeKey: fmt.Sprintf("bench-%d", i), Label: "bench", Category: "OHT", AnalyticsType: "EvaraTank"}
		if err := st.CreateNode(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		ids[i] = n.ID
	}
	return ids
}

// batch builds rowsPerOp readings, entry ids continuing from *next.
func batch(nodes []telemetry.NodeID, next *int64) []telemetry.Reading {
	rows := make([]telemetry.Reading, 0, rowsPerOp)
	t0 := time.Now().UTC().Truncate(time.Second)
	for len(rows) < rowsPerOp {
		*next++
		for _, n := range nodes {
			rows = append(rows, telemetry.Reading{Node: n, Entry: telemetry.Entry{
				EntryID: *next, CreatedAt: t0.Add(time.Duration(*next) * time.Millisecond),
				Fields: [telemetry.FieldCount]telemetry.Field{{Value: 150, Valid: true}, {Value: 24.5, Valid: true}, {Value: 310, Valid: true}},
			}})
		}
	}
	return rows
}

// throughWriter hands rows to a writer in device-sized writes and waits
// until they are stored.
func throughWriter(b *testing.B, system *actor.ActorSystem, pid *actor.PID, rows []telemetry.Reading) {
	b.Helper()
	for i := 0; i < len(rows); i += rowsPerWrite {
		res, err := system.Root.RequestFuture(pid, &writer.Write{Readings: rows[i:min(i+rowsPerWrite, len(rows))]}, time.Minute).Result()
		if err != nil {
			b.Fatal(err)
		}
		if busy, ok := res.(*writer.Busy); ok {
			time.Sleep(busy.RetryAfter)
			i -= rowsPerWrite
		}
	}
	if _, err := system.Root.RequestFuture(pid, &writer.Flush{}, time.Minute).Result(); err != nil {
		b.Fatal(err)
	}
}

func newBenchWriter(st writer.Store) (*actor.ActorSystem, *actor.PID) {
	return newBenchWriterWith(st, writer.Options{})
}

func newBenchWriterWith(st writer.Store, opts writer.Options) (*actor.ActorSystem, *actor.PID) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	return system, system.Root.Spawn(writer.Props(st, opts))
}

func BenchmarkIngestPostgres(b *testing.B) {
	url := storetest.FreshSchema(b)
	ctx := context.Background()
	st, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	nodes := benchNodesIn(b, st)
	system, pid := newBenchWriter(st)
	defer system.Shutdown()

	var next int64
	var viaWriter, viaCopy time.Duration
	for b.Loop() {
		rows := batch(nodes, &next)
		start := time.Now()
		throughWriter(b, system, pid, rows)
		viaWriter += time.Since(start)

		rows = batch(nodes, &next)
		start = time.Now()
		if _, err := raw.CopyFrom(ctx, pgx.Identifier{"readings"},
			[]string{"node_id", "entry_id", "created_at", "field1", "field2", "field3", "retention_days"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{string(r.Node), r.EntryID, r.CreatedAt, r.Fields[0].Value, r.Fields[1].Value, r.Fields[2].Value, 30}, nil
			})); err != nil {
			b.Fatal(err)
		}
		viaCopy += time.Since(start)
	}
	writerRate := float64(b.N*rowsPerOp) / viaWriter.Seconds()
	copyRate := float64(b.N*rowsPerOp) / viaCopy.Seconds()
	b.ReportMetric(writerRate, "writer_rows/s")
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(writerRate/copyRate, "writer/copy")
}

func BenchmarkIngestSQLite(b *testing.B) {
	st, err := sqlitestore.Open(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	nodes := benchNodesIn(b, st)
	system, pid := newBenchWriter(st)
	defer system.Shutdown()
	var next int64
	var elapsed time.Duration
	for b.Loop() {
		rows := batch(nodes, &next)
		start := time.Now()
		throughWriter(b, system, pid, rows)
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(b.N*rowsPerOp)/elapsed.Seconds(), "writer_rows/s")
}
