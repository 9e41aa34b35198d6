package device_test

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
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// A device polls a (simulated) ThingSpeak channel under a limiter, hands
// the entries to the writer and answers live-data requests from its cache.
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

	// A node: its channel, its read key sealed for it, its field mapping.
	ch, interval := s.Channels()[0], time.Second
	node := telemetry.Node{ID: "0195a000-0000-7000-8000-000000000001", ChannelID: ch.ID, PollInterval: &interval,
		FieldMapping: map[string]string{"field1": "water_level"}}
	node.ChannelKey.KeyID, node.ChannelKey.Ciphertext, _ = keys.Seal([]byte(ch.ReadKey), []byte(node.ID))

	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	store := devicetest.NewStore() // a real store in production
	w := system.Root.Spawn(writer.Props(store, writer.Options{}))
	lim, _ := system.Root.SpawnNamed(limiter.Props(limiter.Config{
		Rate: 10, Burst: 2,
		Devices: func(telemetry.Node) device.Config {
			return device.Config{Fetcher: client, Keys: keys, Store: store, Writer: w}
		},
	}), limiter.Name)
	_, _ = system.Root.RequestFuture(lim, &limiter.Start{Nodes: []telemetry.Node{node}}, time.Second).Result() // *limiter.Ack

	dev := actor.NewPID(system.Address(), limiter.DeviceID(node.ID))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		res, _ := system.Root.RequestFuture(dev, &msg.GetLatest{}, time.Second).Result()
		if latest, ok := res.(*msg.Latest); ok && latest.EntryId > 0 {
			_, level := latest.Metrics["water_level"]
			fmt.Println("water level:", level, "status:", latest.Status)
			break
		}
	}

	_ = system.Root.StopFuture(lim).Wait() // devices first: in-flight fetches are cancelled
	_ = system.Root.StopFuture(w).Wait()   // then the writer, which flushes
	system.Shutdown()
	// Output: water level: true status: Online
}
