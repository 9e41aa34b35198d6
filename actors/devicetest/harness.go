package devicetest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// T0 is where fake clocks start: a whole second, like a simulator's Start.
var T0 = time.Date(2026, 2, 26, 21, 27, 0, 0, time.UTC)

// Clock is a fake clock that moves only when told to.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Harness is a throwaway actor system with the real writer on a Store, and
// a simulator served over loopback HTTP behind the real ThingSpeak client.
type Harness struct {
	T      testing.TB
	System *actor.ActorSystem
	Store  *Store
	Writer *actor.PID
	Sim    *sim.Simulator
	Client *thingspeak.Client
	Keys   *keyring.Keyring
	// Clock drives the simulator and the devices unless the simulator
	// options named their own Now (then it is nil).
	Clock *Clock
}

// NewHarness starts everything; it is all stopped when the test ends,
// after whatever the test registers with t.Cleanup later (devices stop
// before the writer).
func NewHarness(t testing.TB, opts sim.Options, wopts writer.Options) *Harness {
	t.Helper()
	h := &Harness{T: t, Store: NewStore()}
	if opts.Now == nil {
		h.Clock = NewClock(T0)
		opts.Now, opts.Start = h.Clock.Now, T0
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	h.Client, err = thingspeak.New(thingspeak.Options{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: transport}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.Keys, err = keyring.New(map[string][]byte{"test": bytes.Repeat([]byte{7}, keyring.KeySize)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	h.Sim = s
	h.System = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	h.Writer = h.System.Root.Spawn(writer.Props(h.Store, wopts))
	t.Cleanup(func() {
		_ = h.System.Root.StopFuture(h.Writer).Wait()
		h.System.Shutdown()
	})
	return h
}

// Node provisions a node for a simulated channel: its read key sealed with
// the node id as associated data, polled every interval.
func (h *Harness) Node(ch sim.ChannelSpec, interval time.Duration, mapping map[string]string) telemetry.Node {
	h.T.Helper()
	id := telemetry.NodeID("node-" + ch.ID.String())
	keyID, sealed, err := h.Keys.Seal([]byte(ch.ReadKey), []byte(id))
	if err != nil {
		h.T.Fatal(err)
	}
	return telemetry.Node{
		ID: id, Label: ch.Name, ChannelID: ch.ID, Status: telemetry.StatusProvisioning,
		ChannelKey:   telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed},
		FieldMapping: mapping, PollInterval: &interval,
	}
}

// Config is a device configuration for node on the harness's parts.
func (h *Harness) Config(node telemetry.Node) device.Config {
	cfg := device.Config{Node: node, Fetcher: h.Client, Keys: h.Keys, Store: h.Store, Writer: h.Writer}
	if h.Clock != nil {
		cfg.Now = h.Clock.Now
	}
	return cfg
}

// Request sends msg to pid and returns the answer, failing the test
// when none comes within 10 s.
func (h *Harness) Request(pid *actor.PID, msg any) any {
	h.T.Helper()
	res, err := h.System.Root.RequestFuture(pid, msg, 10*time.Second).Result()
	if err != nil {
		h.T.Fatalf("request %T: %v", msg, err)
	}
	return res
}

// DeviceStats asks a device for its figures.
func (h *Harness) DeviceStats(pid *actor.PID) device.Stats {
	h.T.Helper()
	s, ok := h.Request(pid, &device.GetStats{}).(*device.Stats)
	if !ok {
		h.T.Fatal("GetStats: not a *device.Stats")
	}
	return *s
}

// Requests is how many requests the simulator got for a channel.
func (h *Harness) Requests(ch telemetry.ChannelID) int64 { return h.Sim.Stats().Channels[ch].Requests }

// Eventually polls cond every few milliseconds until it holds, failing the
// test after a generous deadline: it waits for an outcome, never times it.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Parent stands in for the limiter: it spawns one device as its child,
// grants every PermitRequest and records the FetchOutcomes.
type Parent struct {
	Self *actor.PID // the parent itself; stopping it stops the device

	props    *actor.Props
	mu       sync.Mutex
	child    *actor.PID
	outcomes []device.FetchOutcome
}

// SpawnParent spawns a Parent of a device built from cfg and returns the
// parent and the device's PID. Both stop when the test ends.
func (h *Harness) SpawnParent(cfg device.Config) (*Parent, *actor.PID) {
	h.T.Helper()
	p := &Parent{props: device.Props(cfg)}
	p.Self = h.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	h.T.Cleanup(func() { _ = h.System.Root.StopFuture(p.Self).Wait() })
	var child *actor.PID
	Eventually(h.T, "the device to be spawned", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		child = p.child
		return child != nil
	})
	return p, child
}

// Receive implements actor.Actor.
func (p *Parent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		child := c.Spawn(p.props)
		p.mu.Lock()
		p.child = child
		p.mu.Unlock()
	case *device.PermitRequest:
		c.Respond(&device.Permit{})
	case *device.FetchOutcome:
		p.mu.Lock()
		p.outcomes = append(p.outcomes, *m)
		p.mu.Unlock()
	}
}

// Outcomes returns the outcomes reported so far.
func (p *Parent) Outcomes() []device.FetchOutcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]device.FetchOutcome(nil), p.outcomes...)
}
