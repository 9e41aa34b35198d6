package limiter_test

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
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// A member's limiter runs a device per node within its share of the
// upstream budget, and stops them all when it is stopped.
func Example() {
	s, _ := sim.New(sim.Options{Channels: 3, Period: time.Second, History: 10})
	srv, _ := sim.Start("127.0.0.1:0", s)
	transport := &http.Transport{}
	defer func() {
		transport.CloseIdleConnections()
		_ = srv.Close(context.Background())
	}()
	client, _ := thingspeak.New(thingspeak.Options{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: transport}})
	keys, _ := keyring.New(map[string][]byte{"k1": bytes.Repeat([]byte{1}, keyring.KeySize)}, "k1")
	var nodes []telemetry.Node
	for _, ch := range s.Channels() {
		n := telemetry.Node{ID: telemetry.NodeID(fmt.Sprintf("node-%d", ch.ID)), ChannelID: ch.ID}
		n.ChannelKey.KeyID, n.ChannelKey.Ciphertext, _ = keys.Seal([]byte(ch.ReadKey), []byte(n.ID))
		nodes = append(nodes, n)
	}

	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	store := devicetest.NewStore()
	w := system.Root.Spawn(writer.Props(store, writer.Options{}))
	lim, _ := system.Root.SpawnNamed(limiter.Props(limiter.Config{
		Rate: 10, Burst: 2, // requests/s of this member's share
		Devices: func(telemetry.Node) device.Config {
			return device.Config{DefaultInterval: time.Second, Fetcher: client, Keys: keys, Store: store, Writer: w}
		},
	}), limiter.Name)
	_, _ = system.Root.RequestFuture(lim, &limiter.Start{Nodes: nodes}, time.Second).Result()

	res, _ := system.Root.RequestFuture(lim, &limiter.GetStats{}, time.Second).Result()
	stats := res.(*limiter.Stats)
	fmt.Printf("%d devices, %.0f requests/s wanted, %.0f allowed, stretch %.0f\n", stats.Devices, stats.Demand, stats.Rate, stats.Stretch)
	fmt.Println("device address:", limiter.DeviceID(nodes[0].ID))

	_ = system.Root.StopFuture(lim).Wait() // every device stops first
	_ = system.Root.StopFuture(w).Wait()
	system.Shutdown()
	// Output:
	// 3 devices, 3 requests/s wanted, 10 allowed, stretch 1
	// device address: limiter/node-2000001
}
