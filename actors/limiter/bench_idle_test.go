package limiter_test

// Benchmarks of the device runtime against the SPEC targets (issue "device
// runtime"). Each reports its figures and their ratio to a target or to a
// ceiling measured in the same run (b.ReportMetric) and asserts no timing:
// timings are noisy on a 2-core machine, ratios much less so. One
// measurement each is the intended invocation:
//
//	EVARA_BENCH_DEVICES=100000 go test -run '^$' -bench IdleDevices -benchtime=1x -benchmem ./actors/limiter/
//	EVARA_BENCH_SCHEDULE_DURATION=3m go test -run '^$' -bench ScheduleFlatness -benchtime=1x -timeout 20m ./actors/limiter/
//	go test -run '^$' -bench Permit ./actors/limiter/

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// ---- BenchmarkIdleDevices ----

// BenchmarkIdleDevices measures what an idle device costs on one limiter:
// heap bytes per device once all are started and have warmed their cache
// from the store (each store holds a reading per node, as a running fleet's
// does), and the time from Start until every one has. The ceiling is as
// many bare protoactor actors (a Receive that counts Started), spawned the
// same way: named after the same node ids, as children of one actor, from
// one message.
//
// Every iteration is a whole measurement: bare actors, then devices, each
// in its own throwaway actor system, shut down (and its goroutines gone)
// before the next one starts, since the heap figures need a quiet process.
// -benchtime=1x is the intended invocation; with more iterations the
// figures are averaged. EVARA_BENCH_DEVICES sets the count (default
// 100,000); the start target scales linearly with it.
func BenchmarkIdleDevices(b *testing.B) {
	n := envInt(b, "EVARA_BENCH_DEVICES", targetStartDevices)
	keys := benchKeys(b)
	nodes := idleNodes(b, keys, n)
	var bare, dev population
	for b.Loop() {
		bare.add(spawnBare(b, nodes))
		dev.add(startIdleDevices(b, keys, nodes))
	}
	runtime.KeepAlive(nodes) // counted before the measurements: keep it out of them
	bare, dev = bare.mean(), dev.mean()
	target := targetStart.Seconds() * float64(n) / targetStartDevices
	b.ReportMetric(dev.bytes, "B/device")
	b.ReportMetric(bare.bytes, "B/bare-actor")
	b.ReportMetric(dev.bytes/bare.bytes, "device/bare-mem-ratio")
	b.ReportMetric(dev.bytes/targetBytesPerDevice, "mem/target-ratio")
	b.ReportMetric(dev.start.Seconds(), "start-s")
	b.ReportMetric(bare.start.Seconds(), "bare-start-s")
	b.ReportMetric(dev.start.Seconds()/bare.start.Seconds(), "device/bare-start-ratio")
	b.ReportMetric(dev.start.Seconds()/target, "start/target-ratio")
	b.ReportMetric(dev.stop.Seconds(), "stop-s")
}

// population is what one start of n actors cost: heap bytes per actor,
// the time to start them all and the time to stop them all.
type population struct {
	bytes       float64
	start, stop time.Duration
	runs        int
}

func (p *population) add(q population) {
	p.bytes += q.bytes
	p.start += q.start
	p.stop += q.stop
	p.runs++
}

func (p population) mean() population {
	if p.runs == 0 {
		return p
	}
	k := float64(p.runs)
	return population{bytes: p.bytes / k, start: time.Duration(float64(p.start) / k), stop: time.Duration(float64(p.stop) / k), runs: 1}
}

// startIdleDevices starts a device per node on one limiter and measures
// them. A device has started and warmed up once its LatestReading call
// returned (the store counts them) and the goroutines that call and its
// answer ran on are gone: protoactor's dispatcher runs a mailbox on a
// goroutine of its own, so the process is back to its goroutines of before
// Start only when every warm-up answer has been handled. Nothing asks the
// devices one by one.
func startIdleDevices(b *testing.B, keys *keyring.Keyring, nodes []telemetry.Node) population {
	store := newWarmStore(nodes)
	system := newSystem()
	defer system.Shutdown()
	w := system.Root.Spawn(writer.Props(store, writer.Options{}))
	defer stopActor(b, system, w) // after the limiter: deferred calls run last in, first out
	fetcher := &idleFetcher{}
	lim, err := system.Root.SpawnNamed(limiter.Props(limiter.Config{
		Rate: 100, Burst: 10,
		Devices: func(telemetry.Node) device.Config {
			return device.Config{Fetcher: fetcher, Keys: keys, Store: store, Writer: w, Alerts: store}
		},
	}), limiter.Name)
	if err != nil {
		b.Fatal(err)
	}
	limiterStats(b, system, lim) // the limiter is up before the baseline is taken
	heap, goroutines := liveHeap(), runtime.NumGoroutine()

	begin := time.Now()
	system.Root.Send(lim, &limiter.Start{Nodes: nodes})
	await(b, "every device to start and warm up", func() bool {
		return store.warmed.Load() >= int64(len(nodes)) && runtime.NumGoroutine() <= goroutines
	})
	p := population{start: time.Since(begin)}
	p.bytes = float64(int64(liveHeap())-int64(heap)) / float64(len(nodes))

	if s := limiterStats(b, system, lim); s.Devices != len(nodes) || s.Rejected != 0 {
		b.Fatalf("%d devices running, %d rejected; want %d and 0", s.Devices, s.Rejected, len(nodes))
	}
	if polls := fetcher.calls.Load(); polls > 0 {
		b.Logf("%d idle devices polled during the measurement", polls)
	}
	begin = time.Now()
	stopActor(b, system, lim)
	p.stop = time.Since(begin)
	return p
}

// spawnBare spawns one bare actor per node, named after it, as children of
// one parent actor that spawns them all on one message, and measures them
// as startIdleDevices measures devices.
func spawnBare(b *testing.B, nodes []telemetry.Node) population {
	system := newSystem()
	defer system.Shutdown()
	var started atomic.Int64
	child := actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actor.Started); ok {
			started.Add(1)
		}
	})
	parent := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*spawnAll); ok {
			for _, n := range nodes {
				if _, err := c.SpawnNamed(child, string(n.ID)); err != nil {
					b.Error(err)
					return
				}
			}
		}
	}))
	heap, goroutines := liveHeap(), runtime.NumGoroutine()

	begin := time.Now()
	system.Root.Send(parent, &spawnAll{})
	await(b, "every bare actor to start", func() bool {
		return started.Load() >= int64(len(nodes)) && runtime.NumGoroutine() <= goroutines
	})
	p := population{start: time.Since(begin)}
	p.bytes = float64(int64(liveHeap())-int64(heap)) / float64(len(nodes))
	begin = time.Now()
	stopActor(b, system, parent)
	p.stop = time.Since(begin)
	return p
}

// spawnAll tells spawnBare's parent to spawn its children.
type spawnAll struct{}

// idleNodes provisions n nodes as the store hands them to the limiter: a
// UUID-long id, a read key sealed with the id as associated data, a field
// mapping and a poll interval that keeps them idle.
func idleNodes(b *testing.B, keys *keyring.Keyring, n int) []telemetry.Node {
	interval := idleInterval
	mapping := map[string]string{"field1": "water_level", "field2": "temperature", "field3": "tds"}
	nodes := make([]telemetry.Node, n)
	for i := range nodes {
		id := telemetry.NodeID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
		keyID, sealed, err := keys.Seal([]byte("BENCHREADKEY0000"), []byte(id))
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = telemetry.Node{
			ID: id, ChannelID: telemetry.ChannelID(2_000_000 + i), Status: telemetry.StatusOnline,
			ChannelKey:   telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed},
			FieldMapping: mapping, PollInterval: &interval,
		}
	}
	return nodes
}

// warmStore is the devicetest Store counting the LatestReading calls that
// have returned: one per device that warmed its cache.
type warmStore struct {
	*devicetest.Store
	warmed atomic.Int64
}

// newWarmStore returns a store holding one reading per node, with three
// fields, as a store of a running fleet does.
func newWarmStore(nodes []telemetry.Node) *warmStore {
	s := &warmStore{Store: devicetest.NewStore()}
	at := time.Now().Add(-time.Minute).UTC()
	for i, n := range nodes {
		e := telemetry.Entry{EntryID: int64(i%500 + 1), CreatedAt: at}
		e.Fields[0] = telemetry.Field{Value: 120.5, Valid: true}
		e.Fields[1] = telemetry.Field{Value: 27.25, Valid: true}
		e.Fields[2] = telemetry.Field{Value: 310, Valid: true}
		s.Seed(telemetry.Reading{Node: n.ID, Entry: e})
	}
	return s
}

// LatestReading implements device.Store.
func (s *warmStore) LatestReading(ctx context.Context, node telemetry.NodeID) (telemetry.Reading, error) {
	defer s.warmed.Add(1)
	return s.Store.LatestReading(ctx, node)
}

// The alert state of a node without rules, alerts or maintenance windows:
// each device builds its (empty) alert engine at warm-up, as it does in
// production.

// EnabledRules implements device.AlertStore.
func (s *warmStore) EnabledRules(context.Context, telemetry.NodeID) ([]telemetry.AlertRule, error) {
	return nil, nil
}

// OpenAlerts implements device.AlertStore.
func (s *warmStore) OpenAlerts(context.Context, telemetry.NodeID) ([]telemetry.Alert, error) {
	return nil, nil
}

// LastAlertActivity implements device.AlertStore.
func (s *warmStore) LastAlertActivity(context.Context, telemetry.NodeID) (time.Time, error) {
	return time.Time{}, nil
}

// NodeWindows implements device.AlertStore.
func (s *warmStore) NodeWindows(context.Context, telemetry.NodeID, time.Time) ([]telemetry.MaintenanceWindow, error) {
	return nil, nil
}

// OpenAlert implements device.AlertStore; idle devices open none.
func (s *warmStore) OpenAlert(context.Context, *telemetry.Alert) (bool, error) {
	return false, errors.New("idle benchmark: no alerts")
}

// ResolveAlertsFor implements device.AlertStore; idle devices resolve none.
func (s *warmStore) ResolveAlertsFor(context.Context, telemetry.NodeID, telemetry.AlertKind, string, string, string, string) (telemetry.Alert, error) {
	return telemetry.Alert{}, errors.New("idle benchmark: no alerts")
}

// idleFetcher stands in for the upstream of devices that must not poll.
type idleFetcher struct{ calls atomic.Int64 }

// After implements device.Fetcher.
func (f *idleFetcher) After(context.Context, telemetry.ChannelID, string, int64, int) (thingspeak.Page, error) {
	f.calls.Add(1)
	return thingspeak.Page{}, errors.New("idle benchmark: no upstream")
}
