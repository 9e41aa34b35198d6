package device_test

import (
	"github.com/asynkron/protoactor-go/actor"

	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// The device against the real parts: the simulator over loopback HTTP, the
// real ThingSpeak client and keyring, and the real writer actor (on an
// in-memory store). A fake clock drives the simulator's data and the
// device's notion of time; polls run on real 1 s timers.

var fastWriter = writer.Options{FlushInterval: 10 * time.Millisecond}

// wantStored checks that the store got every simulated entry from 1 to
// last exactly once, in order, as the simulator serves them.
func wantStored(t *testing.T, h *devicetest.Harness, node telemetry.Node, last int64) {
	t.Helper()
	var got []telemetry.Entry
	for _, r := range h.Store.Written(node.ID) {
		got = append(got, r.Entry)
	}
	if diff := cmp.Diff(h.Sim.Entries(node.ChannelID, 1, last), got); diff != "" {
		t.Errorf("stored entries differ from the simulator's (-want +got):\n%s", diff)
	}
}

func TestStoresEveryEntryOnceInOrderAndCachesTheLatest(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 30, Seed: 3}, fastWriter)
	ch := h.Sim.Channels()[0] // a tank: level, temperature, TDS
	node := h.Node(ch, time.Second, map[string]string{"field1": "water_level"})
	_, pid := h.SpawnParent(h.Config(node))

	for step := range 5 {
		last := h.Sim.LastEntryID(ch.ID)
		devicetest.Eventually(t, "the device to report what it stored", func() bool { return h.DeviceStats(pid).LastEntryStored == last })
		h.Clock.Advance(time.Duration(step+1) * time.Second) // 1, 2, 3… new entries per step
	}
	last := h.Sim.LastEntryID(ch.ID)
	devicetest.Eventually(t, "the last entries", func() bool { return h.DeviceStats(pid).LastEntryStored == last })
	wantStored(t, h, node, last)

	latest, ok := h.Request(pid, &msg.GetLatest{}).(*msg.Latest)
	if !ok {
		t.Fatal("GetLatest: not a *Latest")
	}
	newest := h.Sim.Entries(ch.ID, last, last)[0]
	want := map[string]float64{"water_level": newest.Fields[0].Value, "field2": newest.Fields[1].Value}
	if v, ok := newest.Field(3); ok {
		want["field3"] = v
	}
	if latest.EntryId != last || latest.TimestampUnixMs != newest.CreatedAt.UnixMilli() || latest.Status != string(telemetry.StatusOnline) {
		t.Errorf("latest = %+v, want entry %d at %v, Online", latest, last, newest.CreatedAt)
	}
	if diff := cmp.Diff(want, latest.Metrics); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if got := h.Store.LastStatus(node.ID); got != telemetry.StatusOnline {
		t.Errorf("stored status %q, want Online", got)
	}
}

func TestOutageOpensTheBreakerAndTheProbeBackfills(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 10}, fastWriter)
	ch := h.Sim.Channels()[0]
	node := h.Node(ch, time.Second, nil)
	parent, pid := h.SpawnParent(h.Config(node))
	devicetest.Eventually(t, "the history stored and the device Online", func() bool {
		return h.DeviceStats(pid).LastEntryStored == 10 && h.Store.LastStatus(node.ID) == telemetry.StatusOnline
	})

	if err := h.Sim.SetFaults(sim.FaultConfig{Channels: map[telemetry.ChannelID]sim.Faults{ch.ID: {ErrorRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	devicetest.Eventually(t, "the breaker to open", func() bool {
		s := h.DeviceStats(pid)
		if s.ConsecutiveFailures < device.OfflineAfterFailures && s.Status != telemetry.StatusOnline ||
			s.ConsecutiveFailures >= device.OfflineAfterFailures && s.Status != telemetry.StatusOffline {
			t.Errorf("%d consecutive failures, status %s", s.ConsecutiveFailures, s.Status)
		}
		return s.Breaker == device.BreakerOpen
	})
	if s := h.DeviceStats(pid); s.ConsecutiveFailures != device.BreakerThreshold {
		t.Errorf("breaker opened after %d failures, want %d", s.ConsecutiveFailures, device.BreakerThreshold)
	}
	devicetest.Eventually(t, "Offline stored", func() bool { return h.Store.LastStatus(node.ID) == telemetry.StatusOffline })

	requests := h.Requests(ch.ID)
	devicetest.Eventually(t, "polls skipped while open", func() bool { return h.DeviceStats(pid).SkippedOpen >= 3 })
	if got := h.Requests(ch.ID); got != requests {
		t.Errorf("%d upstream requests while the breaker was open", got-requests)
	}

	if err := h.Sim.SetFaults(sim.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(device.BreakerCooldown) // the cooldown ends; 60 entries arrived meanwhile
	last := h.Sim.LastEntryID(ch.ID)
	devicetest.Eventually(t, "the probe to close the breaker and backfill", func() bool {
		s := h.DeviceStats(pid)
		return s.Breaker == device.BreakerClosed && s.LastEntryStored == last
	})
	devicetest.Eventually(t, "Online stored", func() bool { return h.Store.LastStatus(node.ID) == telemetry.StatusOnline })
	wantStored(t, h, node, last)

	serverErrors := 0
	for _, o := range parent.Outcomes() {
		if o.ServerError {
			serverErrors++
		}
	}
	if serverErrors != device.BreakerThreshold {
		t.Errorf("%d server errors reported to the parent, want %d", serverErrors, device.BreakerThreshold)
	}
}

func TestAnswersTheLatestFromTheStoreWithoutUpstreamCalls(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 10}, fastWriter)
	ch := h.Sim.Channels()[0]
	node := h.Node(ch, 24*time.Hour, map[string]string{"field1": "water_level", "field2": "temperature"}) // no poll during the test
	stored := telemetry.Reading{Node: node.ID, Entry: telemetry.Entry{EntryID: 7, CreatedAt: devicetest.T0.Add(-time.Minute)}}
	stored.Fields[0] = telemetry.Field{Value: 150, Valid: true}
	stored.Fields[1] = telemetry.Field{Value: 26.5, Valid: true}
	h.Store.Seed(stored)
	node.LastEntryID = 7
	_, pid := h.SpawnParent(h.Config(node))

	var latest *msg.Latest
	devicetest.Eventually(t, "the cache warmed from the store", func() bool {
		latest, _ = h.Request(pid, &msg.GetLatest{}).(*msg.Latest)
		return latest != nil && latest.EntryId == 7
	})
	for range 100 {
		h.Request(pid, &msg.GetLatest{})
	}
	if diff := cmp.Diff(map[string]float64{"water_level": 150, "temperature": 26.5}, latest.Metrics); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if latest.TimestampUnixMs != stored.CreatedAt.UnixMilli() {
		t.Errorf("timestamp %v, want %v", latest.TimestampUnixMs, stored.CreatedAt.UnixMilli())
	}
	if n := h.Requests(ch.ID); n != 0 {
		t.Errorf("%d upstream requests for live data", n)
	}
}

func TestKeepsRowsTheWriterCannotTakeAndFetchesNothingMeanwhile(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 30},
		writer.Options{FlushInterval: 10 * time.Millisecond, MaxQueued: 10})
	ch := h.Sim.Channels()[0]
	node := h.Node(ch, time.Second, nil)
	h.Store.Block() // the first batch stays in flight, so the writer's queue is full
	_, pid := h.SpawnParent(h.Config(node))
	devicetest.Eventually(t, "the history handed to the writer", func() bool { return h.DeviceStats(pid).LastEntryHanded == 30 })

	h.Clock.Advance(5 * time.Second)
	devicetest.Eventually(t, "the writer to push back", func() bool {
		s := h.DeviceStats(pid)
		return s.WriterBusy >= 1 && s.PendingRows == 5
	})
	requests := h.Requests(ch.ID)
	devicetest.Eventually(t, "polls skipped while rows are pending", func() bool { return h.DeviceStats(pid).SkippedBusy >= 2 })
	if got := h.Requests(ch.ID); got != requests {
		t.Errorf("%d upstream requests while rows were pending", got-requests)
	}

	h.Store.Release()
	devicetest.Eventually(t, "everything stored", func() bool { return h.DeviceStats(pid).LastEntryStored == 35 })
	wantStored(t, h, node, 35)
}

func TestStopCancelsTheFetchInFlight(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 10}, fastWriter)
	ch := h.Sim.Channels()[0]
	if err := h.Sim.SetFaults(sim.FaultConfig{Global: sim.Faults{Latency: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	parent, pid := h.SpawnParent(h.Config(h.Node(ch, time.Second, nil)))
	devicetest.Eventually(t, "a fetch under way", func() bool { return h.DeviceStats(pid).Fetches == 1 })
	// The stop waits for the fetch goroutine: it returns only because the
	// fetch is cancelled (the answer would take an hour).
	if err := h.System.Root.StopFuture(parent.Self).Wait(); err != nil {
		t.Fatalf("stopping the device: %v", err)
	}
}

func TestAReadKeyThatDoesNotOpenIsAFailure(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 10}, fastWriter)
	ch := h.Sim.Channels()[0]
	node := h.Node(ch, time.Second, nil)
	node.ID = "another-node" // the key was sealed for node-…: it must not open for this one
	_, pid := h.SpawnParent(h.Config(node))
	devicetest.Eventually(t, "Offline after failures", func() bool {
		s := h.DeviceStats(pid)
		return s.ConsecutiveFailures >= device.OfflineAfterFailures && s.Status == telemetry.StatusOffline
	})
	if n := h.Requests(ch.ID); n != 0 {
		t.Errorf("%d upstream requests without a usable key", n)
	}
}

// TestSubscribersGetEventsAndAreDroppedWhenTheyStop: a subscriber gets the
// current reading at once, then an event for every new reading; a local
// one that stops without unsubscribing (it is not watched) is dropped by
// the next subscriber check, and the others keep getting events; they are
// told when the device stops.
func TestSubscribersGetEventsAndAreDroppedWhenTheyStop(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 5, Seed: 9}, fastWriter)
	ch := h.Sim.Channels()[0]
	node := h.Node(ch, time.Second, nil)
	cfg := h.Config(node)
	cfg.SubscriberCheck = time.Nanosecond // on every tick
	parent, pid := h.SpawnParent(cfg)
	devicetest.Eventually(t, "the first fetch", func() bool { return h.DeviceStats(pid).LastEntryStored == 5 })

	subscriber := func() (*actor.PID, chan any) {
		events := make(chan any, 100)
		sub := h.System.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *msg.TelemetryUpdate, *msg.StatusUpdate, *msg.SubscriptionEnded:
				events <- c.Message()
			}
		}))
		if s, ok := h.Request(pid, &msg.Subscribe{Address: sub.Address, Id: sub.Id}).(*msg.Subscribed); !ok || s.GetLatest().GetEntryId() != 5 {
			t.Fatalf("Subscribe answered %+v, want the current reading (entry 5)", s)
		}
		return sub, events
	}
	wantEntry := func(events chan any, id int64) {
		t.Helper()
		for {
			select {
			case e := <-events:
				if _, ok := e.(*msg.StatusUpdate); ok {
					continue
				}
				u, ok := e.(*msg.TelemetryUpdate)
				if !ok || u.GetLatest().GetEntryId() != id || u.GetProducedUnixMs() == 0 {
					t.Fatalf("event %+v, want a TelemetryUpdate of entry %d with its time", e, id)
				}
				return
			case <-time.After(10 * time.Second):
				t.Fatalf("no TelemetryUpdate of entry %d", id)
			}
		}
	}
	first, firstEvents := subscriber()
	second, secondEvents := subscriber()
	h.Clock.Advance(time.Second) // entry 6 arrives; the next poll fetches it
	wantEntry(firstEvents, 6)
	wantEntry(secondEvents, 6)

	// The first stops without a word: only the check finds out.
	if err := h.System.Root.StopFuture(first).Wait(); err != nil {
		t.Fatal(err)
	}
	devicetest.Eventually(t, "the stopped subscriber to be dropped", func() bool { return h.DeviceStats(pid).Subscribers == 1 })
	if s := h.DeviceStats(pid); s.SubscribersGone != 1 {
		t.Errorf("%d subscribers counted gone, want 1", s.SubscribersGone)
	}
	h.Clock.Advance(time.Second)
	wantEntry(secondEvents, 7)

	if err := h.System.Root.StopFuture(parent.Self).Wait(); err != nil { // stops the device
		t.Fatal(err)
	}
	for {
		select {
		case e := <-secondEvents:
			if _, ok := e.(*msg.SubscriptionEnded); ok {
				_ = h.System.Root.StopFuture(second).Wait()
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the remaining subscriber was not told the device stopped")
		}
	}
}
