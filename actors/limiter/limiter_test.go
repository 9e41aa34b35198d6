package limiter_test

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

var fastWriter = writer.Options{FlushInterval: 10 * time.Millisecond}

// member is a limiter with its devices on a harness.
type member struct {
	*devicetest.Harness
	pid   *actor.PID
	nodes []telemetry.Node
}

// startMember spawns a limiter for cfg (Devices defaults to the harness's
// parts) and starts a device polling every second for each channel.
func startMember(t *testing.T, h *devicetest.Harness, cfg limiter.Config) *member {
	t.Helper()
	if cfg.Devices == nil {
		cfg.Devices = h.Config
	}
	pid, err := h.System.Root.SpawnNamed(limiter.Props(cfg), limiter.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.System.Root.StopFuture(pid).Wait() })
	m := &member{Harness: h, pid: pid}
	for _, ch := range h.Sim.Channels() {
		m.nodes = append(m.nodes, h.Node(ch, time.Second, nil))
	}
	if _, ok := h.Request(pid, &limiter.Start{Nodes: m.nodes}).(*limiter.Ack); !ok {
		t.Fatal("Start: no Ack")
	}
	return m
}

func (m *member) stats() limiter.Stats {
	m.T.Helper()
	s, ok := m.Request(m.pid, &limiter.GetStats{}).(*limiter.Stats)
	if !ok {
		m.T.Fatal("GetStats: not a *limiter.Stats")
	}
	return *s
}

// deviceless spawns a limiter without devices in a throwaway actor system,
// for tests that drive its budget with messages; both stop at the end.
func deviceless(t *testing.T, cfg limiter.Config) (*actor.ActorSystem, *actor.PID) {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	cfg.Devices = func(telemetry.Node) device.Config { return device.Config{} }
	pid := system.Root.Spawn(limiter.Props(cfg))
	t.Cleanup(func() {
		_ = system.Root.StopFuture(pid).Wait()
		system.Shutdown()
	})
	return system, pid
}

func (m *member) device(id telemetry.NodeID) *actor.PID {
	return actor.NewPID(m.System.Address(), limiter.DeviceID(id))
}

func TestPermitsStayWithinTheBudgetAndEveryDeviceGetsItsTurn(t *testing.T) {
	const rate, burst, devices = 5.0, 3, 30
	// The simulator's clock stands still: no new entries, so every fetch
	// costs exactly one request and requests can be compared to permits.
	h := devicetest.NewHarness(t, sim.Options{Channels: devices, Period: time.Second, History: 5}, fastWriter)
	begin := time.Now()
	m := startMember(t, h, limiter.Config{Rate: rate, Burst: burst})

	devicetest.Eventually(t, "every device to fetch at least once", func() bool {
		for _, n := range m.nodes {
			if m.DeviceStats(m.device(n.ID)).Fetches == 0 {
				return false
			}
		}
		return true
	})
	requests := h.Sim.Stats().RequestsTotal // before the permits: each request had one
	s := m.stats()
	elapsed := time.Since(begin)
	if budget := rate*elapsed.Seconds() + burst; float64(s.PermitsGranted) > budget {
		t.Errorf("%d permits granted in %v: more than Rate·t+Burst = %.1f", s.PermitsGranted, elapsed, budget)
	}
	if requests > s.PermitsGranted || s.ExtraRequests != 0 {
		t.Errorf("%d upstream requests for %d permits (%d charged extra)", requests, s.PermitsGranted, s.ExtraRequests)
	}
	if s.PermitsDenied == 0 || s.Waiting == 0 {
		t.Errorf("30 devices at 1/s on a budget of 5/s were never told to wait: %+v", s)
	}
	if s.Demand != devices || s.Stretch != devices/rate {
		t.Errorf("demand %.2f/s, stretch %.2f; want %d/s and %.0f", s.Demand, s.Stretch, devices, devices/rate)
	}
}

func TestPushbackLowersTheRateAndItRecovers(t *testing.T) {
	const rate = 40.0
	h := devicetest.NewHarness(t, sim.Options{Channels: 20, Period: time.Second, History: 5, Now: time.Now,
		Faults: sim.FaultConfig{Global: sim.Faults{RateLimit: 2}}}, fastWriter)
	m := startMember(t, h, limiter.Config{Rate: rate, Burst: 5, AdaptWindow: 200 * time.Millisecond})

	devicetest.Eventually(t, "429s to lower the rate", func() bool {
		s := m.stats()
		return s.Decreases >= 2 && s.Rate < rate/2
	})
	if s := m.stats(); s.Rate < rate*0.05 {
		t.Errorf("rate %.2f below the floor of 5%%", s.Rate)
	}
	if err := h.Sim.SetFaults(sim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	devicetest.Eventually(t, "the rate to recover", func() bool { return m.stats().Rate == rate })
}

func TestAIMD(t *testing.T) {
	clock := devicetest.NewClock(devicetest.T0)
	system, pid := deviceless(t, limiter.Config{Rate: 20, Burst: 1, Now: clock.Now})
	var rate func() float64
	pushback := func(n int) {
		for range n {
			system.Root.Send(pid, &device.FetchOutcome{RateLimited: true, Requests: 1})
		}
		rate() // handled before the clock moves on
	}
	rate = func() float64 {
		res, err := system.Root.RequestFuture(pid, &limiter.GetStats{}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*limiter.Stats).Rate
	}
	steps := []struct {
		name      string
		advance   time.Duration
		pushbacks int
		want      float64
	}{
		{"two pushbacks are no storm", 0, 2, 20},
		{"the third halves the rate", 0, 1, 10},
		{"at most one decrease per window", 0, 3, 10},
		{"a quiet window adds 5%, then a storm halves", 10 * time.Second, 3, 5.5},
		{"pushbacks spread wider than the window are no storm", 6 * time.Second, 1, 5.5},
		{"… (two within the window)", 6 * time.Second, 1, 5.5},
		{"… (the first has left it)", 6 * time.Second, 1, 5.5},
		{"no increase before a whole quiet window", 9 * time.Second, 0, 5.5},
		{"one step of 5% per quiet window", time.Second, 0, 6.5},
		{"two more windows", 20 * time.Second, 0, 8.5},
		{"never above the configured rate", time.Hour, 0, 20},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		pushback(s.pushbacks)
		if got := rate(); math.Abs(got-s.want) > 1e-9 {
			t.Fatalf("%s: rate %v, want %v", s.name, got, s.want)
		}
	}
	for range 10 { // storms a window apart, never a quiet window: down to the floor
		clock.Advance(5 * time.Second)
		pushback(1)
		clock.Advance(5 * time.Second)
		pushback(3)
	}
	if got := rate(); math.Abs(got-1) > 1e-9 {
		t.Errorf("rate %v after many storms, want the floor of 1 (5%%)", got)
	}
}

func TestChargesTheSecondRequestOfAFetch(t *testing.T) {
	clock := devicetest.NewClock(devicetest.T0)
	system, pid := deviceless(t, limiter.Config{Rate: 1, Burst: 3, Now: clock.Now})
	system.Root.Send(pid, &device.FetchOutcome{OK: true, Requests: 1})
	system.Root.Send(pid, &device.FetchOutcome{OK: true, Requests: 2})
	res, err := system.Root.RequestFuture(pid, &limiter.GetStats{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if s := res.(*limiter.Stats); s.Tokens != 2 || s.ExtraRequests != 1 || s.Outcomes != 2 {
		t.Errorf("tokens %v, extra %d, outcomes %d; want 2, 1, 2", s.Tokens, s.ExtraRequests, s.Outcomes)
	}
}

// panicky is a fetcher with a bug.
type panicky struct{}

func (panicky) After(context.Context, telemetry.ChannelID, string, int64, int) (thingspeak.Page, error) {
	panic("index out of range")
}

func TestACrashingDeviceIsRestartedThenStoppedWhileItsSiblingKeepsPolling(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 2, Period: time.Second, History: 5}, fastWriter)
	bad := h.Node(h.Sim.Channels()[0], time.Second, nil)
	m := startMember(t, h, limiter.Config{Rate: 100, Burst: 10, Devices: func(n telemetry.Node) device.Config {
		cfg := h.Config(n)
		if n.ID == bad.ID {
			cfg.Fetcher = panicky{}
		}
		return cfg
	}})
	good := m.nodes[1]

	devicetest.Eventually(t, "the crashing device to be stopped", func() bool {
		s := m.stats()
		return slices.Equal(s.Crashed, []telemetry.NodeID{bad.ID}) && s.Devices == 1
	})
	if s := m.stats(); s.Crashes != 3 {
		t.Errorf("%d crashes seen, want 3 (restarted twice, then stopped)", s.Crashes)
	}
	sibling := m.device(good.ID)
	fetches := m.DeviceStats(sibling).Fetches
	devicetest.Eventually(t, "the sibling to keep polling", func() bool { return m.DeviceStats(sibling).Fetches >= fetches+2 })
	if got := h.Store.Newest(good.ID); got < 5 {
		t.Errorf("the sibling stored up to entry %d, want its history", got)
	}
}

func TestStopReconfigureAndStartAgain(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 2, Period: time.Second, History: 5}, fastWriter)
	m := startMember(t, h, limiter.Config{Rate: 100, Burst: 10})
	a, b := m.nodes[0], m.nodes[1]
	devicetest.Eventually(t, "two devices", func() bool { return m.stats().Devices == 2 })

	m.Request(m.pid, &limiter.StopDevice{Node: a.ID})
	devicetest.Eventually(t, "one device", func() bool { return m.stats().Devices == 1 })

	slower := 2 * time.Second
	b.PollInterval = &slower
	m.Request(m.pid, &limiter.Reconfigure{Node: b})
	devicetest.Eventually(t, "b running with its new interval", func() bool {
		res, _ := h.System.Root.RequestFuture(m.device(b.ID), &device.GetStats{}, time.Second).Result()
		s, ok := res.(*device.Stats)
		return ok && s.Interval == slower
	})

	m.Request(m.pid, &limiter.Start{Nodes: m.nodes}) // b (as first configured) is left alone
	devicetest.Eventually(t, "a back", func() bool { return m.stats().Devices == 2 })
	if s := m.DeviceStats(m.device(b.ID)); s.Interval != slower {
		t.Errorf("Start replaced a running device: interval %v", s.Interval)
	}
	if s := m.stats(); s.Demand != 1.5 {
		t.Errorf("demand %.2f/s, want 1.5 (1/s + 1/2s)", s.Demand)
	}
}

func TestANodeWhoseConfigurationFailsIsRejectedAlone(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 3, Period: time.Second, History: 5}, fastWriter)
	broken := h.Node(h.Sim.Channels()[0], time.Second, nil)
	noKey := h.Node(h.Sim.Channels()[1], time.Second, nil)
	m := startMember(t, h, limiter.Config{Rate: 100, Burst: 10, Devices: func(n telemetry.Node) device.Config {
		if n.ID == broken.ID {
			panic("a bug in the composition root")
		}
		if n.ID == noKey.ID {
			return device.Config{} // nothing to fetch with
		}
		return h.Config(n)
	}})
	if s := m.stats(); s.Rejected != 2 || s.Devices != 1 {
		t.Errorf("rejected %d, running %d; want 2 and 1", s.Rejected, s.Devices)
	}
	ok := m.nodes[2]
	devicetest.Eventually(t, "the valid node polled", func() bool { return h.Store.Newest(ok.ID) >= 5 })
}

func TestARestartedLimiterRunsItsDevicesAgain(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 2, Period: time.Second, History: 5}, fastWriter)
	m := startMember(t, h, limiter.Config{Rate: 100, Burst: 10})
	a := m.device(m.nodes[0].ID)
	fetches := func() int64 {
		res, _ := h.System.Root.RequestFuture(a, &device.GetStats{}, time.Second).Result()
		if s, ok := res.(*device.Stats); ok {
			return s.Fetches
		}
		return -1 // between incarnations
	}
	devicetest.Eventually(t, "three fetches", func() bool { return fetches() >= 3 })

	h.System.Root.Send(m.pid, (*device.FetchOutcome)(nil)) // makes the limiter panic: its supervisor restarts it
	devicetest.Eventually(t, "a new incarnation of the device", func() bool { return fetches() < 3 })
	devicetest.Eventually(t, "it polls", func() bool { return fetches() >= 1 && m.stats().Devices == 2 })
}

// TestJoinHoldAndShare: a limiter that has just joined grants nothing for
// Hold; SetShare changes its share of the cluster's budget (with AIMD's
// factor kept), and no second ever holds more permits than the share.
func TestJoinHoldAndShare(t *testing.T) {
	clock := devicetest.NewClock(devicetest.T0)
	system, pid := deviceless(t, limiter.Config{Rate: 30, Burst: 30, Hold: time.Second, Now: clock.Now})
	ask := func() any {
		res, err := system.Root.RequestFuture(pid, &device.PermitRequest{}, time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if d, ok := ask().(*device.PermitDenied); !ok || d.RetryAfter != time.Second {
		t.Fatalf("during the hold: %+v, want a denial for 1s", d)
	}
	clock.Advance(time.Second)
	if _, ok := ask().(*device.Permit); !ok {
		t.Fatal("after the hold: no permit")
	}
	system.Root.RequestFuture(pid, &limiter.SetShare{Rate: 10, Burst: 30}, time.Second).Wait() //nolint:errcheck // checked through the stats
	res, _ := system.Root.RequestFuture(pid, &limiter.GetStats{}, time.Second).Result()
	if s, _ := res.(*limiter.Stats); s == nil || s.ConfiguredRate != 10 || s.Rate != 10 || s.Burst != 30 {
		t.Fatalf("after SetShare: %+v", res)
	}
	granted := 1
	for range 40 { // the bucket holds 29 more tokens, but a second may hold only 10 permits
		if _, ok := ask().(*device.Permit); ok {
			granted++
		}
	}
	if granted != 10 {
		t.Errorf("%d permits within one second on a share of 10/s", granted)
	}
}

// TestMemberStatsCountBreakersByState: the limiter's figures (behind
// cluster stats and /metrics) follow one device's breaker from closed to
// open and, after the cooldown and a successful probe, closed again.
func TestMemberStatsCountBreakersByState(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 2, Period: time.Second, History: 5}, fastWriter)
	m := startMember(t, h, limiter.Config{Rate: 50, Burst: 5})
	devicetest.Eventually(t, "both devices to fetch", func() bool {
		s := m.stats()
		return s.OK >= 2 && s.BreakersClosed == 2
	})
	failing := h.Sim.Channels()[0].ID
	if err := h.Sim.SetFaults(sim.FaultConfig{Channels: map[telemetry.ChannelID]sim.Faults{failing: {ErrorRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	devicetest.Eventually(t, "one breaker open", func() bool {
		s := m.stats()
		return s.BreakersOpen == 1 && s.BreakersClosed == 1 && s.Failed >= device.BreakerThreshold
	})
	if err := h.Sim.SetFaults(sim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(device.BreakerCooldown)
	devicetest.Eventually(t, "the probe to close it", func() bool { return m.stats().BreakersClosed == 2 })
	if s := m.stats(); s.FailedLastMinute < device.BreakerThreshold || s.OKLastMinute == 0 {
		t.Errorf("last minute: %d ok, %d failed", s.OKLastMinute, s.FailedLastMinute)
	}
}

// TestDevicesWithSubscribersGoFirst: when the budget is short, a device
// with live subscribers takes the earliest turn of those without; the one
// it displaced waits for the later turn instead. The tokens are the same.
func TestDevicesWithSubscribersGoFirst(t *testing.T) {
	clock := devicetest.NewClock(devicetest.T0)
	system, lim := deviceless(t, limiter.Config{Rate: 1, Burst: 1, Now: clock.Now})
	answers := make(chan any, 1)
	asker := func() *actor.PID { // stands in for a device: asks as itself
		return system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *device.PermitRequest:
				c.Request(lim, m)
			case *device.Permit, *device.PermitDenied:
				answers <- m
			}
		}))
	}
	ask := func(who *actor.PID, priority bool) any {
		system.Root.Send(who, &device.PermitRequest{Priority: priority})
		select {
		case a := <-answers:
			return a
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
			return nil
		}
	}
	a, b, c, viewed := asker(), asker(), asker(), asker()
	if _, ok := ask(a, false).(*device.Permit); !ok {
		t.Fatal("the first request: no permit from a full bucket")
	}
	waits := map[string]time.Duration{}
	for name, who := range map[string]*actor.PID{"b": b, "c": c} {
		d, _ := ask(who, false).(*device.PermitDenied)
		waits[name] = d.RetryAfter
	}
	d, _ := ask(viewed, true).(*device.PermitDenied)
	if d == nil || d.RetryAfter != min(waits["b"], waits["c"]) {
		t.Fatalf("the device with subscribers waits %+v, want the earliest turn %v", d, min(waits["b"], waits["c"]))
	}
	first := b
	if waits["c"] < waits["b"] {
		first = c
	}
	if again, _ := ask(first, false).(*device.PermitDenied); again == nil || again.RetryAfter != 3*time.Second {
		t.Errorf("the displaced device now waits %+v, want the last turn (3s)", again)
	}
}
