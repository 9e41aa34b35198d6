package session_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/session"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// Sessions against the real device actors: a limiter running one device
// per simulated channel (polled every second over loopback HTTP, the
// entries stored by the real writer), a sink that records what it gets,
// and a locator over the local PIDs — limiter.DeviceID, as on a single
// member, unless a test says otherwise.

// sink records the events it gets; it panics on its first Deliver when
// told to.
type sink struct {
	mu        sync.Mutex
	events    []telemetry.LiveEvent
	panicOnce atomic.Bool
}

func (s *sink) Deliver(e telemetry.LiveEvent) {
	if s.panicOnce.CompareAndSwap(true, false) {
		panic("the sink failed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *sink) all() []telemetry.LiveEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// entries lists the entry ids of the node's TELEMETRY_UPDATEs, in order.
func (s *sink) entries(node telemetry.NodeID) []int64 {
	var ids []int64
	for _, e := range s.all() {
		if e.Kind == telemetry.LiveTelemetry && e.NodeID == node {
			ids = append(ids, e.EntryID)
		}
	}
	return ids
}

// waitEntries waits until the node's readings passed on are exactly want.
func (s *sink) waitEntries(t *testing.T, node telemetry.NodeID, want ...int64) {
	t.Helper()
	devicetest.Eventually(t, "the readings passed on", func() bool { return len(s.entries(node)) >= len(want) })
	if diff := cmp.Diff(want, s.entries(node)); diff != "" {
		t.Fatalf("entries of %s passed on (-want +got):\n%s", node, diff)
	}
}

// locator finds devices under the limiter, unless told otherwise for a
// node. Like cluster.Member.DevicePID, it hands every session the same PID
// for a node.
type locator struct {
	address  string
	mu       sync.Mutex
	override map[telemetry.NodeID]*actor.PID
	pids     map[telemetry.NodeID]*actor.PID
}

func (l *locator) DevicePID(node telemetry.NodeID) *actor.PID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pid, ok := l.override[node]; ok {
		return pid
	}
	pid, ok := l.pids[node]
	if !ok {
		pid = actor.NewPID(l.address, limiter.DeviceID(node))
		l.pids[node] = pid
	}
	return pid
}

func (l *locator) set(node telemetry.NodeID, pid *actor.PID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.override[node] = pid
}

type env struct {
	*devicetest.Harness
	limiter *actor.PID
	nodes   []telemetry.Node
	loc     *locator
	sink    *sink
}

// newEnv starts a limiter with a device for each of channels simulated
// channels (5 entries each) and waits until every device has stored them
// and is Online.
func newEnv(t testing.TB, channels int) *env {
	t.Helper()
	h := devicetest.NewHarness(t, sim.Options{Channels: channels, Period: time.Second, History: 5, Seed: 4},
		writer.Options{FlushInterval: 10 * time.Millisecond})
	e := &env{Harness: h, sink: &sink{}, loc: &locator{address: h.System.Address(), override: map[telemetry.NodeID]*actor.PID{}, pids: map[telemetry.NodeID]*actor.PID{}}}
	var err error
	e.limiter, err = h.System.Root.SpawnNamed(limiter.Props(limiter.Config{Rate: 100, Burst: 10, Devices: h.Config}), limiter.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.System.Root.StopFuture(e.limiter).Wait() })
	for _, ch := range h.Sim.Channels() {
		e.nodes = append(e.nodes, h.Node(ch, time.Second, map[string]string{"field1": "water_level"}))
	}
	e.limiterDo(&limiter.Start{Nodes: e.nodes})
	for _, n := range e.nodes {
		devicetest.Eventually(t, "the history stored and the device Online", func() bool {
			return h.DeviceStats(e.device(n.ID)).LastEntryStored == 5 && h.Store.LastStatus(n.ID) == telemetry.StatusOnline
		})
	}
	return e
}

func (e *env) limiterDo(m any) {
	e.T.Helper()
	if _, ok := e.Request(e.limiter, m).(*limiter.Ack); !ok {
		e.T.Fatalf("%T: no Ack", m)
	}
}

func (e *env) device(node telemetry.NodeID) *actor.PID {
	return actor.NewPID(e.System.Address(), limiter.DeviceID(node))
}

func (e *env) subscribers(pid *actor.PID) int { return e.DeviceStats(pid).Subscribers }

// spawn starts a session on the env's sink and locator; it stops when the
// test ends, before the devices.
func (e *env) spawn(opts session.Options) *actor.PID {
	e.T.Helper()
	opts.Sink, opts.Locator = e.sink, e.loc
	pid := e.System.Root.Spawn(session.Props(opts))
	e.T.Cleanup(func() { _ = e.System.Root.StopFuture(pid).Wait() })
	return pid
}

func (e *env) stats(pid *actor.PID) session.Stats {
	e.T.Helper()
	s, ok := e.Request(pid, &session.GetStats{}).(*session.Stats)
	if !ok {
		e.T.Fatal("GetStats: not a *session.Stats")
	}
	return *s
}

func (e *env) waitSubscribed(pid *actor.PID, n int) {
	e.T.Helper()
	devicetest.Eventually(e.T, "the subscriptions confirmed", func() bool { return e.stats(pid).Subscribed == n })
}

func nodeTopic(id telemetry.NodeID) string { return "node:" + string(id) }

func TestANewSubscriberGetsTheCurrentReadingThenNewOnes(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	e.sink.waitEntries(t, node.ID, 5)

	entry := e.Sim.Entries(node.ChannelID, 5, 5)[0]
	got := e.sink.all()[0]
	want := telemetry.LiveEvent{
		Kind: telemetry.LiveTelemetry, NodeID: node.ID, EntryID: 5, At: entry.CreatedAt,
		Metrics: map[string]float64{"water_level": entry.Fields[0].Value, "field2": entry.Fields[1].Value},
		Status:  telemetry.StatusOnline, ProducedUnixMs: got.ProducedUnixMs,
	}
	if v, ok := entry.Field(3); ok {
		want.Metrics["field3"] = v
	}
	if diff := cmp.Diff(want, got); diff != "" || got.ProducedUnixMs == 0 {
		t.Errorf("the current reading handed over (-want +got), ts %d:\n%s", got.ProducedUnixMs, diff)
	}

	e.Clock.Advance(time.Second) // entry 6 arrives; the next poll fetches it
	e.sink.waitEntries(t, node.ID, 5, 6)
	if last := e.sink.all()[1]; last.ProducedUnixMs == 0 || !last.At.Equal(e.Sim.Entries(node.ChannelID, 6, 6)[0].CreatedAt) {
		t.Errorf("new reading %+v: want its created_at and the device's ts", last)
	}
	if got := e.subscribers(e.device(node.ID)); got != 1 {
		t.Errorf("device has %d subscribers, want 1", got)
	}
	if diff := cmp.Diff(session.Stats{Topics: 1, Devices: 1, Subscribed: 1}, e.stats(s)); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestTopicsShareOneSubscriptionPerNode: a node named by several topics is
// subscribed once and kept while any names it; its current reading is
// passed on once.
func TestTopicsShareOneSubscriptionPerNode(t *testing.T) {
	e := newEnv(t, 3)
	n0, n1, n2 := e.nodes[0].ID, e.nodes[1].ID, e.nodes[2].ID
	s := e.spawn(session.Options{})
	steps := []struct {
		name        string
		send        any
		subscribers [3]int // of n0, n1, n2's devices
		topics      int
	}{
		{"topic a names n0 and n1", &session.Watch{Topic: "a", Nodes: []telemetry.NodeID{n0, n1}}, [3]int{1, 1, 0}, 1},
		{"topic b names n1 and n2 (twice)", &session.Watch{Topic: "b", Nodes: []telemetry.NodeID{n1, n2, n2}}, [3]int{1, 1, 1}, 2},
		{"topic a now names n1 only", &session.Watch{Topic: "a", Nodes: []telemetry.NodeID{n1}}, [3]int{0, 1, 1}, 2},
		{"topic b goes; a keeps n1", &session.Unwatch{Topic: "b"}, [3]int{0, 1, 0}, 1},
		{"an unknown topic goes", &session.Unwatch{Topic: "c"}, [3]int{0, 1, 0}, 1},
		{"topic a goes", &session.Unwatch{Topic: "a"}, [3]int{0, 0, 0}, 0},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			e.System.Root.Send(s, step.send)
			devicetest.Eventually(t, "the devices' subscribers", func() bool {
				return e.subscribers(e.device(n0)) == step.subscribers[0] &&
					e.subscribers(e.device(n1)) == step.subscribers[1] &&
					e.subscribers(e.device(n2)) == step.subscribers[2]
			})
			devices := step.subscribers[0] + step.subscribers[1] + step.subscribers[2]
			e.waitSubscribed(s, devices)
			if diff := cmp.Diff(session.Stats{Topics: step.topics, Devices: devices, Subscribed: devices}, e.stats(s)); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
	for _, n := range []telemetry.NodeID{n0, n1, n2} {
		if got := e.sink.entries(n); !slices.Equal(got, []int64{5}) {
			t.Errorf("entries of %s passed on: %v, want the current reading once", n, got)
		}
	}
}

// TestADeviceStoppedAndStartedAgainIsFollowed: the device ends the
// subscription and terminates; the session retries while it is gone and
// subscribes to it again once it is back, and its next readings arrive —
// without the reading already passed on.
func TestADeviceStoppedAndStartedAgainIsFollowed(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	s := e.spawn(session.Options{ResubscribeMax: 100 * time.Millisecond})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	e.sink.waitEntries(t, node.ID, 5)
	e.waitSubscribed(s, 1)

	e.limiterDo(&limiter.StopDevice{Node: node.ID})
	devicetest.Eventually(t, "retries while the device is gone", func() bool {
		st := e.stats(s)
		return st.Subscribed == 0 && st.Pending == 1 && st.Resubscribes >= 2
	})

	e.limiterDo(&limiter.Start{Nodes: e.nodes})
	e.waitSubscribed(s, 1)
	if got := e.subscribers(e.device(node.ID)); got != 1 {
		t.Errorf("the device started again has %d subscribers, want 1", got)
	}
	e.Clock.Advance(time.Second)
	e.sink.waitEntries(t, node.ID, 5, 6)
}

// TestAMovedDeviceIsFoundWhereTheLocatorSays: the session asks the locator
// again when it resubscribes.
func TestAMovedDeviceIsFoundWhereTheLocatorSays(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	e.sink.waitEntries(t, node.ID, 5)

	_, moved := e.SpawnParent(e.Config(node)) // the node's device elsewhere
	devicetest.Eventually(t, "the new device warmed", func() bool { return e.DeviceStats(moved).LastEntryStored == 5 })
	e.loc.set(node.ID, moved)
	e.limiterDo(&limiter.StopDevice{Node: node.ID})
	devicetest.Eventually(t, "the subscription moved", func() bool { return e.subscribers(moved) == 1 })
	e.waitSubscribed(s, 1)

	e.Clock.Advance(time.Second)
	e.sink.waitEntries(t, node.ID, 5, 6)
}

// TestAnUnreachableDeviceIsRetriedUntilItAnswers covers each way an
// attempt fails; once the locator names the device, it is subscribed.
func TestAnUnreachableDeviceIsRetriedUntilItAnswers(t *testing.T) {
	cases := []struct {
		name string
		pid  func(e *env, heard chan any) *actor.PID
		// undone: the device was told to forget an attempt given up.
		undone bool
	}{
		{"no member owns the node", func(*env, chan any) *actor.PID { return nil }, false},
		{"no such actor", func(e *env, _ chan any) *actor.PID { return actor.NewPID(e.System.Address(), "limiter/nobody") }, false},
		{"the device does not answer", func(e *env, heard chan any) *actor.PID {
			return e.System.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *msg.Subscribe, *msg.Unsubscribe:
					select {
					case heard <- c.Message():
					default:
					}
				}
			}))
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			node := e.nodes[0]
			heard := make(chan any, 100)
			e.loc.set(node.ID, tc.pid(e, heard))
			s := e.spawn(session.Options{SubscribeTimeout: 50 * time.Millisecond, ResubscribeMin: 5 * time.Millisecond, ResubscribeMax: 20 * time.Millisecond})
			e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
			devicetest.Eventually(t, "attempts made again", func() bool {
				st := e.stats(s)
				return st.Pending == 1 && st.Resubscribes >= 3
			})
			if tc.undone {
				if _, ok := (<-heard).(*msg.Subscribe); !ok {
					t.Error("the first message was not Subscribe")
				}
				if _, ok := (<-heard).(*msg.Unsubscribe); !ok {
					t.Error("an attempt that timed out was not undone")
				}
			}

			e.loc.set(node.ID, e.device(node.ID))
			e.waitSubscribed(s, 1)
			e.sink.waitEntries(t, node.ID, 5)
			if got := e.subscribers(e.device(node.ID)); got != 1 {
				t.Errorf("device has %d subscribers, want 1", got)
			}
		})
	}
}

// TestAStoppedLocalDeviceIsAskedAgainWithoutWaitingForTheTimeout: a
// local device is not watched; one that has stopped is found missing in
// the process registry before it is asked (no dead letter), and the
// session retries on its backoff — SubscribeTimeout is an hour here, so no
// attempt is given up for want of an answer.
func TestAStoppedLocalDeviceIsAskedAgainWithoutWaitingForTheTimeout(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	var deadSubscribes atomic.Int64
	sub := e.System.EventStream.Subscribe(func(ev any) {
		if d, ok := ev.(*actor.DeadLetterEvent); ok {
			if _, ok := d.Message.(*msg.Subscribe); ok {
				deadSubscribes.Add(1)
			}
		}
	})
	t.Cleanup(func() { e.System.EventStream.Unsubscribe(sub) })
	e.limiterDo(&limiter.StopDevice{Node: node.ID})

	s := e.spawn(session.Options{SubscribeTimeout: time.Hour, ResubscribeMin: 5 * time.Millisecond, ResubscribeMax: 20 * time.Millisecond})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	devicetest.Eventually(t, "attempts made again", func() bool {
		st := e.stats(s)
		return st.Pending == 1 && st.Resubscribes >= 3
	})
	if n := deadSubscribes.Load(); n != 0 {
		t.Errorf("%d Subscribes sent to the stopped device (dead letters), want none", n)
	}

	e.limiterDo(&limiter.Start{Nodes: e.nodes})
	e.waitSubscribed(s, 1)
	e.sink.waitEntries(t, node.ID, 5)
}

// TestALocalDeviceThatStopsWithTheSubscribeInItsMailboxIsAskedAgain: an
// actor that stops drops what waits in its mailbox without a word, and an
// unwatched device sends no Terminated either. The session's check of the
// registry while it waits finds the device gone and asks again, well
// before SubscribeTimeout (an hour here).
func TestALocalDeviceThatStopsWithTheSubscribeInItsMailboxIsAskedAgain(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	stopping, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var heard atomic.Bool
	dying := e.System.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *msg.Subscribe:
			heard.Store(true)
		case *actor.Stopping:
			close(stopping)
			<-release // still in the registry meanwhile
		}
	}))
	e.System.Root.Stop(dying)
	<-stopping

	e.loc.set(node.ID, dying)
	s := e.spawn(session.Options{SubscribeTimeout: time.Hour, ResubscribeMin: 5 * time.Millisecond, ResubscribeMax: 20 * time.Millisecond})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	if st := e.stats(s); st.Pending != 1 || st.Resubscribes != 0 {
		t.Fatalf("stats %+v: want the one attempt sent to the stopping device", st)
	}
	releaseOnce.Do(func() { close(release) })
	devicetest.Eventually(t, "the attempt made again", func() bool { return e.stats(s).Resubscribes >= 1 })
	if heard.Load() {
		t.Error("the stopping device took the Subscribe: the test did not test the lost one")
	}

	e.loc.set(node.ID, e.device(node.ID))
	e.waitSubscribed(s, 1)
	e.sink.waitEntries(t, node.ID, 5)
}

// TestStoppingTheSessionUnsubscribes: on stop the session unsubscribes
// from every device. Local devices do not watch it, so they drop it only
// because it does; the one "device" elsewhere is a stand-in that records
// what it is told.
func TestStoppingTheSessionUnsubscribes(t *testing.T) {
	e := newEnv(t, 2)
	heard := make(chan any, 10)
	const elsewhere telemetry.NodeID = "n-elsewhere"
	e.loc.set(elsewhere, e.System.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *msg.Subscribe:
			c.Respond(&msg.Subscribed{Latest: &msg.Latest{NodeId: string(elsewhere)}})
		case *msg.Unsubscribe:
			heard <- m
		}
	})))
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: "community:c", Nodes: []telemetry.NodeID{e.nodes[0].ID, e.nodes[1].ID, elsewhere}})
	e.waitSubscribed(s, 3)
	if err := e.System.Root.StopFuture(s).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.nodes {
		devicetest.Eventually(t, "the device to drop the session", func() bool { return e.subscribers(e.device(n.ID)) == 0 })
	}
	select {
	case m := <-heard:
		if u := m.(*msg.Unsubscribe); u.GetAddress() != s.Address || u.GetId() != s.Id {
			t.Errorf("Unsubscribe %+v, want the session %v", u, s)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stopped session did not unsubscribe")
	}
}

// TestAGoneMemberIsLeftForTheNewOwner: when a member dies, protoactor's
// remote endpoint watcher sends the watchers of its actors
// Terminated{AddressTerminated}. One process cannot lose a member, so the
// test hands the session that Terminated itself, the locator already
// naming the node's new place; the old device (still running here) goes on
// sending, and nothing is passed on twice.
func TestAGoneMemberIsLeftForTheNewOwner(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	e.sink.waitEntries(t, node.ID, 5)
	e.waitSubscribed(s, 1)

	_, moved := e.SpawnParent(e.Config(node))
	devicetest.Eventually(t, "the new device warmed", func() bool { return e.DeviceStats(moved).LastEntryStored == 5 })
	e.loc.set(node.ID, moved)
	e.System.Root.Send(s, &actor.Terminated{Who: e.device(node.ID), Why: actor.TerminatedReason_AddressTerminated})
	devicetest.Eventually(t, "the subscription at the new owner", func() bool { return e.subscribers(moved) == 1 })
	e.waitSubscribed(s, 1)
	if st := e.stats(s); st.Resubscribes != 1 {
		t.Errorf("%d resubscribes, want 1", st.Resubscribes)
	}
	e.Clock.Advance(time.Second)
	for _, dev := range []*actor.PID{e.device(node.ID), moved} {
		// A device hands an entry to the writer after publishing it.
		devicetest.Eventually(t, "both devices to publish entry 6", func() bool { return e.DeviceStats(dev).LastEntryHanded == 6 })
	}
	e.stats(s) // answered after the events sent before it
	if got := e.sink.entries(node.ID); !slices.Equal(got, []int64{5, 6}) {
		t.Errorf("entries passed on: %v, want 5, 6", got)
	}
}

// TestPassesOnAnnouncementsAndIgnoresNodesNotWatched: an announcement for
// a watched topic goes to the sink as it is and, with Follow, its node
// joins the topic; one for another topic, and a device event of a node no
// topic names, do not.
func TestPassesOnAnnouncementsAndIgnoresNodesNotWatched(t *testing.T) {
	e := newEnv(t, 1)
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: "community:c1"})
	provisioned := telemetry.LiveEvent{Kind: telemetry.LiveNodeProvisioned, NodeID: "n-new", ProducedUnixMs: 42, Data: []byte(`{"label":"Tank 9"}`)}
	e.System.Root.Send(s, &session.Announce{Topic: "community:c1", Event: provisioned, Follow: true})
	e.System.Root.Send(s, &session.Announce{Topic: "community:c2", Event: telemetry.LiveEvent{Kind: telemetry.LiveNodeProvisioned, NodeID: "n-else"}, Follow: true})
	e.System.Root.Send(s, &msg.TelemetryUpdate{Latest: &msg.Latest{NodeId: "n-other", EntryId: 9}, ProducedUnixMs: 1})
	e.System.Root.Send(s, &msg.StatusUpdate{NodeId: "n-other", Status: "Offline", ProducedUnixMs: 1})
	st := e.stats(s) // answered after the messages before it
	if diff := cmp.Diff([]telemetry.LiveEvent{provisioned}, e.sink.all()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st.Topics != 1 || st.Devices != 1 {
		t.Errorf("stats %+v: want the followed node in the one topic", st)
	}
}

// TestACrashKeepsTheSubscriptions: a session restarted by its supervisor
// watches its topics again.
func TestACrashKeepsTheSubscriptions(t *testing.T) {
	e := newEnv(t, 1)
	node := e.nodes[0]
	e.sink.panicOnce.Store(true) // the first event handed to the sink makes the session crash
	s := e.spawn(session.Options{})
	e.System.Root.Send(s, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	e.sink.waitEntries(t, node.ID, 5)
	e.waitSubscribed(s, 1)
	if got := e.subscribers(e.device(node.ID)); got != 1 {
		t.Errorf("device has %d subscribers, want 1", got)
	}
	e.Clock.Advance(time.Second)
	e.sink.waitEntries(t, node.ID, 5, 6)
}
