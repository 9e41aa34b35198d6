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
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
)

// SPEC targets the figures are divided by (the *-ratio metrics: ≤ 1 meets them).
const (
	targetBytesPerDevice = 4096            // heap per idle device
	targetStart          = 2 * time.Second // to start and warm targetStartDevices devices
	targetStartDevices   = 100_000
	targetDeviationPct   = 10.0 // most a second's upstream requests may differ from the mean
)

// idleInterval is the poll interval of the idle devices. Their first poll
// falls at their phase anywhere within the interval, so with an hour some
// 30 of 100,000 devices would poll in every second of the run; with a
// year, none does.
const idleInterval = 365 * 24 * time.Hour

// ---- BenchmarkPermit ----

// BenchmarkPermit measures one PermitRequest→Permit round trip through the
// limiter, actor to actor as a device makes it, against the same round trip
// to a bare actor that answers every PermitRequest with a Permit, both in
// every iteration. The budget never binds, so every request is granted:
// it takes a token and joins the trailing-second window, which then holds
// every grant of the last second (tens of thousands at this pace, where a
// member's real share holds tens to hundreds).
func BenchmarkPermit(b *testing.B) {
	system := newSystem()
	defer system.Shutdown()
	lim := system.Root.Spawn(limiter.Props(limiter.Config{
		Rate: 1e9, Burst: 1 << 20,
		Devices: func(telemetry.Node) device.Config { return device.Config{} },
	}))
	defer stopActor(b, system, lim)
	bare := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*device.PermitRequest); ok {
			c.Respond(&device.Permit{})
		}
	}))
	defer stopActor(b, system, bare)
	answers := make(chan any, 1)
	asker := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *ask:
			c.Request(m.to, &device.PermitRequest{})
		case *device.Permit, *device.PermitDenied:
			answers <- m
		}
	}))
	defer stopActor(b, system, asker)
	roundTrip := func(to *actor.PID) {
		system.Root.Send(asker, &ask{to: to})
		if _, ok := (<-answers).(*device.Permit); !ok {
			b.Fatal("PermitRequest not granted")
		}
	}

	var viaLimiter, viaBare time.Duration
	for b.Loop() {
		t0 := time.Now()
		roundTrip(lim)
		t1 := time.Now()
		roundTrip(bare)
		viaLimiter += t1.Sub(t0)
		viaBare += time.Since(t1)
	}
	b.ReportMetric(float64(viaLimiter.Nanoseconds())/float64(b.N), "ns/permit")
	b.ReportMetric(float64(viaBare.Nanoseconds())/float64(b.N), "ns/bare-round-trip")
	b.ReportMetric(float64(viaLimiter)/float64(viaBare), "permit/bare-ratio")
}

// ask tells BenchmarkPermit's asker to send a PermitRequest to an actor.
type ask struct{ to *actor.PID }

// ---- shared ----

func newSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
}

func benchKeys(b *testing.B) *keyring.Keyring {
	keys, err := keyring.New(map[string][]byte{"bench": bytes.Repeat([]byte{7}, keyring.KeySize)}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return keys
}

// stopActor stops pid and waits until it (and all its children) stopped.
// protoactor's StopFuture gives up after 10 s, so the wait goes on as long
// as the actor is still registered: 100,000 children take a while.
func stopActor(b *testing.B, system *actor.ActorSystem, pid *actor.PID) {
	if err := system.Root.StopFuture(pid).Wait(); err == nil {
		return
	}
	await(b, "the actor "+pid.Id+" to stop", func() bool {
		_, found := system.ProcessRegistry.GetLocal(pid.Id)
		return !found
	})
}

func limiterStats(b *testing.B, system *actor.ActorSystem, pid *actor.PID) *limiter.Stats {
	res, err := system.Root.RequestFuture(pid, &limiter.GetStats{}, time.Minute).Result()
	if err != nil {
		b.Fatal(err)
	}
	return res.(*limiter.Stats)
}

// await polls cond every millisecond until it holds. It is the clock of
// the start-up measurements, hence finer than devicetest.Eventually, and
// its deadline is generous enough for a million actors.
func await(b *testing.B, what string, cond func() bool) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 30s", name, s)
	}
	return d
}
