package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/session"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// outbox stands in for a connection's outbox: it never blocks (a full
// outbox drops; the real one coalesces).
type outbox chan telemetry.LiveEvent

func (o outbox) Deliver(e telemetry.LiveEvent) {
	select {
	case o <- e:
	default:
	}
}

// A session subscribes to the devices its connection's topics name and
// passes their events on: first the current reading, then every new one.
func Example() {
	s, _ := sim.New(sim.Options{Channels: 1, Period: time.Second, History: 10})
	srv, _ := sim.Start("127.0.0.1:0", s)
	transport := &http.Transport{}
	defer func() {
		transport.CloseIdleConnections()
		_ = srv.Close(context.Background())
	}()
	client, _ := thingspeak.New(thingspeak.Options{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: transport}})
	keys, _ := keyring.New(map[string][]byte{"k1": bytes.Repeat([]byte{1}, keyring.KeySize)}, "k1")
	ch, interval := s.Channels()[0], time.Second
	node := telemetry.Node{ID: "0195a000-0000-7000-8000-000000000001", ChannelID: ch.ID, PollInterval: &interval,
		FieldMapping: map[string]string{"field1": "water_level"}}
	node.ChannelKey.KeyID, node.ChannelKey.Ciphertext, _ = keys.Seal([]byte(ch.ReadKey), []byte(node.ID))

	// A member: the writer, the limiter and the node's device.
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	store := devicetest.NewStore()
	w := system.Root.Spawn(writer.Props(store, writer.Options{}))
	lim, _ := system.Root.SpawnNamed(limiter.Props(limiter.Config{Rate: 10, Burst: 2,
		Devices: func(telemetry.Node) device.Config {
			return device.Config{Fetcher: client, Keys: keys, Store: store, Writer: w}
		},
	}), limiter.Name)
	_, _ = system.Root.RequestFuture(lim, &limiter.Start{Nodes: []telemetry.Node{node}}, time.Second).Result()
	dev := actor.NewPID(system.Address(), limiter.DeviceID(node.ID))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l, _ := system.Root.RequestFuture(dev, &msg.GetLatest{}, time.Second).Result(); l != nil && l.(*msg.Latest).EntryId > 0 {
			break // the device has a reading
		}
	}

	// One connection: its session, with the connection's outbox as the sink.
	events := make(outbox, 16)
	sess := system.Root.Spawn(session.Props(session.Options{
		Sink: events,
		Locator: session.LocatorFunc(func(n telemetry.NodeID) *actor.PID {
			return actor.NewPID(system.Address(), limiter.DeviceID(n)) // a cluster asks the owner member
		}),
	}))
	system.Root.Send(sess, &session.Watch{Topic: "node:" + string(node.ID), Nodes: []telemetry.NodeID{node.ID}})
	for range 2 {
		e := <-events
		_, level := e.Metrics["water_level"]
		fmt.Println(e.Kind, e.NodeID == node.ID, "water level:", level)
	}

	_ = system.Root.StopFuture(sess).Wait() // unsubscribes
	_ = system.Root.StopFuture(lim).Wait()
	_ = system.Root.StopFuture(w).Wait()
	system.Shutdown()
	// Output:
	// TELEMETRY_UPDATE true water level: true
	// TELEMETRY_UPDATE true water level: true
}
